//! API keys at four levels, each including the ones below it:
//!
//! - **read** — what a storefront's JavaScript may hold (anyone can read it from the page):
//!   recommendations, similar items, popular lists, the catalog, model versions;
//! - **private** — reading shoppers' data: user records and listings, and explanations that name
//!   a shopper's history (`explain=true` on a user's recommendations);
//! - **write** — catalog, user and event writes (the shop's backend);
//! - **admin** — training, activation, dead letters.
//!
//! Keys are compared as SHA-256 digests in constant time, so neither which key matched nor a
//! key's length shows in the time taken; they are never logged. With no key configured every
//! route is open — allowed on a loopback address only, unless `auth.open = true` (checked when
//! the config loads).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::AuthConfig;
use crate::error::ApiError;

/// What a key may do; each level includes the ones below it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Recommendations and catalog reads (a storefront's key).
    Read,
    /// Shoppers' data: user records, listings, explanations of a shopper's history.
    Private,
    /// Catalog, user and event writes.
    Write,
    /// Training, model activation, dead letters.
    Admin,
}

impl Level {
    fn action(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Private => "read shoppers' data (a private or higher key)",
            Level::Write => "write data",
            Level::Admin => "use admin routes",
        }
    }
}

/// The level a request was granted, for handlers whose needs depend on the request (an
/// explanation asks for more than the list it explains).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Granted(pub Level);

type KeyDigest = [u8; 32];

/// The configured keys, as digests.
#[derive(Clone)]
pub struct Keys {
    keys: Arc<Vec<(KeyDigest, Level)>>,
}

fn digest(key: &[u8]) -> KeyDigest {
    Sha256::digest(key).into()
}

impl Keys {
    /// Keys from config.
    pub fn new(c: &AuthConfig) -> Self {
        let tag = |list: &[String], level| {
            list.iter().map(move |k| (digest(k.as_bytes()), level)).collect::<Vec<_>>()
        };
        let mut keys = tag(&c.read_keys, Level::Read);
        keys.extend(tag(&c.private_keys, Level::Private));
        keys.extend(tag(&c.write_keys, Level::Write));
        keys.extend(tag(&c.admin_keys, Level::Admin));
        Self { keys: Arc::new(keys) }
    }

    /// Whether any key is configured.
    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The level of `presented`: every configured key's digest is compared, in constant time,
    /// so the time taken does not depend on which key matched nor on any key's length.
    fn level(&self, presented: &[u8]) -> Option<Level> {
        let presented = digest(presented);
        let mut best = None;
        for (key, level) in self.keys.iter() {
            if bool::from(key.ct_eq(&presented)) {
                best = best.max(Some(*level));
            }
        }
        best
    }

    /// The level the request's key grants (everything when no key is configured).
    pub fn grant(&self, headers: &HeaderMap) -> Result<Level, ApiError> {
        if !self.enabled() {
            return Ok(Level::Admin);
        }
        let presented = headers
            .get("x-api-key")
            .map(|v| v.as_bytes())
            .or_else(|| {
                headers
                    .get(axum::http::header::AUTHORIZATION)
                    .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
            })
            .ok_or(ApiError::Unauthorized)?;
        self.level(presented).ok_or(ApiError::InvalidKey)
    }

    /// Checks the request's key against `needed`.
    pub fn check(&self, headers: &HeaderMap, needed: Level) -> Result<Level, ApiError> {
        let granted = self.grant(headers)?;
        if granted < needed { Err(ApiError::Forbidden(needed.action())) } else { Ok(granted) }
    }
}

/// Refuses a request whose granted level is below `needed` (a handler's check of what it was
/// asked for, e.g. `explain=true`).
pub fn require_level(granted: Granted, needed: Level) -> Result<(), ApiError> {
    if granted.0 < needed { Err(ApiError::Forbidden(needed.action())) } else { Ok(()) }
}

/// Middleware state: the keys and the level a route group needs.
#[derive(Clone)]
pub struct Guard {
    /// The keys.
    pub keys: Keys,
    /// The level needed.
    pub level: Level,
}

/// Rejects requests whose key does not reach the group's level; passes the granted level on.
pub async fn require(State(g): State<Guard>, mut req: Request, next: Next) -> Response {
    match g.keys.check(req.headers(), g.level) {
        Ok(level) => {
            req.extensions_mut().insert(Granted(level));
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_nest_and_wrong_keys_are_invalid_not_missing() {
        let c = AuthConfig {
            read_keys: vec!["r".into()],
            private_keys: vec!["p".into()],
            write_keys: vec!["w".into()],
            admin_keys: vec!["a-much-longer-admin-key".into()],
            open: false,
        };
        let keys = Keys::new(&c);
        let with = |k: &str| {
            let mut h = HeaderMap::new();
            h.insert("x-api-key", k.parse().expect("header"));
            h
        };
        assert_eq!(keys.check(&with("p"), Level::Read).ok(), Some(Level::Private));
        assert!(matches!(keys.check(&with("r"), Level::Private), Err(ApiError::Forbidden(_))));
        assert!(matches!(keys.check(&with("a-much-longer-admin-key"), Level::Admin), Ok(Level::Admin)));
        assert!(matches!(keys.check(&with("nope"), Level::Read), Err(ApiError::InvalidKey)));
        assert!(matches!(keys.check(&HeaderMap::new(), Level::Read), Err(ApiError::Unauthorized)));
        assert_eq!(
            Keys::new(&AuthConfig::default()).check(&HeaderMap::new(), Level::Admin).ok(),
            Some(Level::Admin)
        );
    }
}
