//! The PostgreSQL backend: for several aisle replicas on one database.
//!
//! A `sqlx` connection pool; the schema from `migrations/postgres` (sqlx's migrator, which takes
//! its own advisory lock so that replicas starting together migrate once). Every multi-row write
//! is one statement over `UNNEST`ed arrays inside one transaction. Event appends run side by side
//! (each holds a transaction-level advisory lock in shared mode), and the sequential read of the
//! log stops below any sequence number an append in flight may still commit, so that another
//! replica tailing the log by `seq > cursor` misses no late commit (see `events`). Writes that
//! other replicas must follow send a `NOTIFY` in the same transaction ([`ChangeFeed`]), and a
//! session-level advisory lock elects the one replica that trains ([`Lease`]).
//!
//! Every object lives in one PostgreSQL schema (`public` unless the URL says `?schema=NAME`), and
//! the channel and lock keys are derived from it, so several shops (or tests) share a database
//! without seeing each other.

mod catalog;
mod dead;
mod events;
mod feed;
mod impact;
mod models;
mod state;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection};

use crate::codec::{backend as db, corrupt, sql_limit, sql_seq, stored_u64};
use crate::{
    Appended, Counts, Credit, DeadLetter, EventRecord, ExperimentRecord, Impression, InterleaveOutcome,
    ItemRecord, ModelRecord, NewModel, Page, PageRequest, PlacementRecord, Rollup, RollupQuery, StateRecord,
    Store, StoreResult, StoredDeadLetter, StoredEvent, Tombstone, UnitCounters, UserRecord, UserRemoval,
};

pub use feed::{Change, ChangeFeed, Lease};

/// Connections in the pool unless the URL says `?pool_max=N`.
const DEFAULT_POOL_MAX: u32 = 16;

/// How long a request waits for a pooled connection before failing (503 with Retry-After): when
/// the database is down, every request waits this long for a connection that never comes.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The store on a PostgreSQL database. Clones are cheap and share the pool.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    options: PgConnectOptions,
    schema: String,
    /// `NOTIFY` channel of this schema.
    channel: String,
    /// Transaction advisory lock of event appends: shared by appends, exclusive for writes that
    /// must see none in flight.
    append_lock: i64,
    /// How far the event log may be read.
    horizon: events::Horizon,
    /// Session advisory lock held by the leader.
    leader_lock: i64,
    /// The URL without its password, for messages.
    shown: String,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &self.inner.shown)
            .field("schema", &self.inner.schema)
            .finish_non_exhaustive()
    }
}

/// Why a PostgreSQL URL was refused.
#[derive(Debug, thiserror::Error)]
enum UrlError {
    #[error("schema name {0:?} must be 1..=40 characters of a-z, 0-9 and _, starting with a letter")]
    Schema(String),
    #[error("pool_max {0:?} must be a whole number from 1 to 1000")]
    PoolMax(String),
    #[error("invalid PostgreSQL URL {url}: {source}")]
    Url {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot connect to PostgreSQL at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot migrate the PostgreSQL schema {schema:?}: {source}")]
    Migrate {
        schema: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
}

/// The parts of a store URL aisle reads itself (`schema`, `pool_max`), and the rest for sqlx.
struct ParsedUrl {
    sqlx_url: String,
    schema: String,
    pool_max: u32,
}

fn parse_url(url: &str) -> StoreResult<ParsedUrl> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut rest = Vec::new();
    let mut schema = "public".to_owned();
    let mut pool_max = DEFAULT_POOL_MAX;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("schema", v)) => {
                let ok = (1..=40).contains(&v.len())
                    && v.starts_with(|c: char| c.is_ascii_lowercase())
                    && v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if !ok {
                    return Err(db(UrlError::Schema(v.to_owned())));
                }
                v.clone_into(&mut schema);
            }
            Some(("pool_max", v)) => {
                pool_max = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| db(UrlError::PoolMax(v.to_owned())))?;
            }
            _ => rest.push(pair),
        }
    }
    let sqlx_url = if rest.is_empty() { base.to_owned() } else { format!("{base}?{}", rest.join("&")) };
    Ok(ParsedUrl { sqlx_url, schema, pool_max })
}

/// A stable 64-bit key for an advisory lock (FNV-1a of the schema and a purpose).
fn lock_key(schema: &str, purpose: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in schema.bytes().chain([0]).chain(purpose.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}

impl PgStore {
    /// Connects to the database `url` names (`postgres://user:pass@host:port/db`, with libpq's
    /// parameters such as `sslmode`, plus aisle's own `schema=NAME` and `pool_max=N`), creates the
    /// schema if needed and runs the migrations.
    pub async fn open(url: &str) -> StoreResult<PgStore> {
        let parsed = parse_url(url.trim())?;
        let shown = crate::codec::redact_url(&parsed.sqlx_url);
        let base = PgConnectOptions::from_str(&parsed.sqlx_url)
            .map_err(|source| db(UrlError::Url { url: shown.clone(), source }))?;
        let connect_err = |source| db(UrlError::Connect { url: shown.clone(), source });
        // One plain connection first: an unreachable server fails at once with its own error
        // (the pool would retry until its acquire timeout).
        let mut conn = sqlx::PgConnection::connect_with(&base).await.map_err(connect_err)?;
        if parsed.schema != "public" {
            // The name was checked to be a plain identifier, so quoting it is safe.
            sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", parsed.schema)))
                .execute(&mut conn)
                .await
                .map_err(db)?;
        }
        conn.close().await.map_err(db)?;
        let options = base.options([("search_path", parsed.schema.as_str())]).application_name("aisle");
        let pool = PgPoolOptions::new()
            .max_connections(parsed.pool_max)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(connect_err)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|source| db(UrlError::Migrate { schema: parsed.schema.clone(), source }))?;
        let schema = parsed.schema;
        Ok(PgStore {
            inner: Arc::new(Inner {
                channel: format!("aisle_{schema}"),
                append_lock: lock_key(&schema, "append"),
                horizon: events::Horizon::default(),
                leader_lock: lock_key(&schema, "leader"),
                pool,
                options,
                schema,
                shown,
            }),
        })
    }

    /// The PostgreSQL schema it lives in.
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    /// The connection pool.
    fn pool(&self) -> &PgPool {
        &self.inner.pool
    }
}

impl Store for PgStore {
    async fn put_items(&self, items: Vec<ItemRecord>) -> StoreResult<()> {
        catalog::put_items(self, items).await
    }

    async fn item(&self, id: String) -> StoreResult<Option<ItemRecord>> {
        catalog::item(self.pool(), &id).await
    }

    async fn delete_item(&self, id: String) -> StoreResult<bool> {
        catalog::delete_item(self, &id).await
    }

    async fn items(&self, page: PageRequest) -> StoreResult<Page<ItemRecord>> {
        catalog::items(self.pool(), &page).await
    }

    async fn put_users(&self, users: Vec<UserRecord>) -> StoreResult<()> {
        catalog::put_users(self.pool(), users).await
    }

    async fn user(&self, id: String) -> StoreResult<Option<UserRecord>> {
        catalog::user(self.pool(), &id).await
    }

    async fn delete_user(&self, id: String) -> StoreResult<UserRemoval> {
        catalog::delete_user(self, &id).await
    }

    async fn deleted_users(&self) -> StoreResult<Vec<Tombstone>> {
        catalog::deleted_users(self.pool()).await
    }

    async fn prune_deleted_users(&self, below_seq: u64) -> StoreResult<usize> {
        catalog::prune_deleted_users(self.pool(), below_seq).await
    }

    async fn users(&self, page: PageRequest) -> StoreResult<Page<UserRecord>> {
        catalog::users(self.pool(), &page).await
    }

    async fn append_events(&self, events: Vec<EventRecord>) -> StoreResult<Vec<Appended>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        events::append(self, &events).await
    }

    async fn defer_event_index(&self, _defer: bool) -> StoreResult<()> {
        // The log is shared: replicas read users' events through this index while one of them
        // loads, so it stays.
        Ok(())
    }

    async fn events_after(&self, after_seq: u64, limit: usize) -> StoreResult<Vec<StoredEvent>> {
        events::after(self, after_seq, limit).await
    }

    async fn user_events_after(
        &self,
        user_id: String,
        after_seq: u64,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        events::user_after(self.pool(), &user_id, after_seq, limit).await
    }

    async fn counts(&self) -> StoreResult<Counts> {
        events::counts(self.pool()).await
    }

    async fn put_model(&self, model: NewModel, artifact: Vec<u8>) -> StoreResult<ModelRecord> {
        models::put(self.pool(), model, artifact).await
    }

    async fn models(&self) -> StoreResult<Vec<ModelRecord>> {
        models::all(self.pool()).await
    }

    async fn model_artifact(&self, version: u64) -> StoreResult<Option<Vec<u8>>> {
        models::artifact(self.pool(), version).await
    }

    async fn activate_model(&self, version: u64, fence: Option<u64>) -> StoreResult<ModelRecord> {
        models::activate(self, version, fence).await
    }

    async fn active_model(&self) -> StoreResult<Option<ModelRecord>> {
        models::active(self.pool()).await
    }

    async fn prune_models(&self, keep: usize) -> StoreResult<usize> {
        models::prune(self.pool(), keep).await
    }

    async fn put_dead_letters(&self, letters: Vec<DeadLetter>) -> StoreResult<usize> {
        if letters.is_empty() {
            return Ok(0);
        }
        dead::put(self.pool(), letters).await
    }

    async fn dead_letters_after(&self, after_id: u64, limit: usize) -> StoreResult<Vec<StoredDeadLetter>> {
        dead::after(self.pool(), after_id, limit).await
    }

    async fn put_state(&self, state: StateRecord) -> StoreResult<bool> {
        state::put(self.pool(), state).await
    }

    async fn state(&self, name: String) -> StoreResult<Option<StateRecord>> {
        state::get(self.pool(), name).await
    }

    async fn flush(&self) -> StoreResult<()> {
        // Every write is committed (and so durable) when its future resolves: nothing is
        // buffered here. The round trip only reports a server that went away.
        sqlx::query("SELECT 1").execute(self.pool()).await.map_err(db)?;
        Ok(())
    }
}

impl crate::ImpactStore for PgStore {
    async fn put_placement(
        &self,
        id: String,
        config: Option<String>,
        at_ms: i64,
    ) -> StoreResult<PlacementRecord> {
        impact::put_placement(self, id, config, at_ms).await
    }

    async fn placement(&self, id: String, version: Option<u64>) -> StoreResult<Option<PlacementRecord>> {
        impact::placement(self.pool(), id, version).await
    }

    async fn placements(&self) -> StoreResult<Vec<PlacementRecord>> {
        impact::placements(self.pool()).await
    }

    async fn create_experiment(&self, record: ExperimentRecord) -> StoreResult<bool> {
        impact::create_experiment(self.pool(), record).await
    }

    async fn update_experiment(&self, record: ExperimentRecord) -> StoreResult<bool> {
        impact::update_experiment(self.pool(), record).await
    }

    async fn experiments(&self) -> StoreResult<Vec<ExperimentRecord>> {
        impact::experiments(self.pool()).await
    }

    async fn log_impressions(&self, batch: Vec<Impression>) -> StoreResult<usize> {
        if batch.is_empty() {
            return Ok(0);
        }
        impact::log_impressions(self.pool(), batch).await
    }

    async fn impression(&self, recommendation_id: String) -> StoreResult<Option<Impression>> {
        impact::impression(self.pool(), recommendation_id).await
    }

    async fn user_impressions(
        &self,
        user_id: String,
        since_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<Impression>> {
        impact::user_impressions(self.pool(), user_id, since_ms, limit).await
    }

    async fn impressions_between(
        &self,
        from_ms: i64,
        to_ms: i64,
        after: Option<(i64, String)>,
        limit: usize,
    ) -> StoreResult<Vec<Impression>> {
        impact::impressions_between(self.pool(), from_ms, to_ms, after, limit).await
    }

    async fn prune_impressions(&self, before_ms: i64) -> StoreResult<usize> {
        impact::prune_impressions(self.pool(), before_ms).await
    }

    async fn attribution_cursor(&self) -> StoreResult<u64> {
        impact::attribution_cursor(self.pool()).await
    }

    async fn commit_attribution(
        &self,
        from_seq: u64,
        to_seq: u64,
        credits: Vec<Credit>,
    ) -> StoreResult<bool> {
        impact::commit_attribution(self.pool(), from_seq, to_seq, credits).await
    }

    async fn rollups(&self, query: RollupQuery) -> StoreResult<Vec<Rollup>> {
        impact::rollups(self.pool(), query).await
    }

    async fn experiment_units(&self, experiment: String) -> StoreResult<Vec<UnitCounters>> {
        impact::experiment_units(self.pool(), experiment).await
    }

    async fn interleave_outcomes(&self, experiment: String) -> StoreResult<Vec<InterleaveOutcome>> {
        impact::interleave_outcomes(self.pool(), experiment).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_schema_and_pool_size() {
        let p = parse_url("postgres://u:pw@h:5/db?sslmode=disable&schema=shop_1&pool_max=4").expect("ok");
        assert_eq!(p.sqlx_url, "postgres://u:pw@h:5/db?sslmode=disable");
        assert_eq!((p.schema.as_str(), p.pool_max), ("shop_1", 4));
        let p = parse_url("postgres://h/db").expect("ok");
        assert_eq!((p.schema.as_str(), p.pool_max), ("public", DEFAULT_POOL_MAX));
        for bad in
            ["postgres://h/db?schema=Shop", "postgres://h/db?schema=a;drop", "postgres://h/db?pool_max=0"]
        {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_not_shown() {
        let shown = crate::codec::redact_url;
        assert_eq!(shown("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(
            shown("postgres://u:p@ss:w@h/db?sslmode=require"),
            "postgres://u:***@h/db?sslmode=require"
        );
        assert_eq!(shown("postgres://u@h/db?password=secret&x=1"), "postgres://u@h/db?password=***&x=1");
        assert_eq!(shown("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn lock_keys_differ_by_schema_and_purpose() {
        assert_ne!(lock_key("a", "leader"), lock_key("b", "leader"));
        assert_ne!(lock_key("a", "leader"), lock_key("a", "append"));
        assert_eq!(lock_key("a", "leader"), lock_key("a", "leader"));
    }
}
