//! API keys: read keys for recommendations and reads, write keys for data, admin keys for admin
//! routes (each level includes the ones below). Keys are compared in constant time and never
//! logged. With no keys configured every route is open.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::config::AuthConfig;
use crate::error::ApiError;

/// What a key may do; each level includes the ones below it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Recommendations and reads.
    Read,
    /// Catalog, user and event writes.
    Write,
    /// Training and model activation.
    Admin,
}

impl Level {
    fn action(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Write => "write data",
            Level::Admin => "use admin routes",
        }
    }
}

/// The configured keys.
#[derive(Clone)]
pub struct Keys {
    keys: Arc<Vec<(Vec<u8>, Level)>>,
}

impl Keys {
    /// Keys from config.
    pub fn new(c: &AuthConfig) -> Self {
        let tag = |list: &[String], level| {
            list.iter().map(move |k| (k.as_bytes().to_vec(), level)).collect::<Vec<_>>()
        };
        let mut keys = tag(&c.read_keys, Level::Read);
        keys.extend(tag(&c.write_keys, Level::Write));
        keys.extend(tag(&c.admin_keys, Level::Admin));
        Self { keys: Arc::new(keys) }
    }

    /// Whether any key is configured.
    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The level of `presented`: every configured key is compared (in constant time per key of
    /// equal length), so the time taken does not depend on which key matched.
    fn level(&self, presented: &[u8]) -> Option<Level> {
        let mut best = None;
        for (key, level) in self.keys.iter() {
            if bool::from(key.as_slice().ct_eq(presented)) {
                best = best.max(Some(*level));
            }
        }
        best
    }

    /// Checks the request's key against `needed`.
    pub fn check(&self, headers: &HeaderMap, needed: Level) -> Result<(), ApiError> {
        if !self.enabled() {
            return Ok(());
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
        match self.level(presented) {
            None => Err(ApiError::Unauthorized),
            Some(l) if l < needed => Err(ApiError::Forbidden(needed.action())),
            Some(_) => Ok(()),
        }
    }
}

/// Middleware state: the keys and the level a route group needs.
#[derive(Clone)]
pub struct Guard {
    /// The keys.
    pub keys: Keys,
    /// The level needed.
    pub level: Level,
}

/// Rejects requests whose key does not reach the group's level.
pub async fn require(State(g): State<Guard>, req: Request, next: Next) -> Response {
    match g.keys.check(req.headers(), g.level) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}
