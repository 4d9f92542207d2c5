//! Connection settings and the schema migrations.

use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::{corrupt, db};
use crate::StoreResult;

/// How long a connection waits for another one's lock (another process, or a checkpoint) before
/// failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The writer's page cache, in KiB (a negative `cache_size` is KiB): large enough to keep the event
/// indexes' hot pages in memory during bulk appends.
const WRITER_CACHE_KIB: i64 = 32 * 1024;

/// Checkpoint the WAL into the database file once it holds this many pages (32 MiB at the default
/// page size) instead of SQLite's 1,000: a batch of appends with random event ids dirties a page of
/// each index per event, so at 1,000 nearly every commit would also pay for a checkpoint (writing
/// the pages a second time plus an fsync of the database file), which halves append throughput.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 8_192;

/// The WAL file is truncated back to this size after a checkpoint, so that one large write (a model
/// artifact) does not leave a large file behind for good.
const JOURNAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;

/// The schema, one migration per version: `MIGRATIONS[i]` takes a database from version `i` to
/// `i + 1` (`PRAGMA user_version`). Append only; never edit a released migration.
const MIGRATIONS: &[&str] =
    &[V1_INITIAL, V2_DEAD_LETTERS, V3_DELETED_USERS, V4_IMPACT, V5_MODEL_PARTS, V6_STATE, V7_EVENT_COUNT];

/// The initial schema. `models.artifact` is the last column because SQLite reads a row's columns
/// in order: a column after a multi-megabyte blob would make listing models walk the blob's
/// overflow pages. The partial unique index makes "exactly one active model" a database invariant.
const V1_INITIAL: &str = "
CREATE TABLE items (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    attributes TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT UNIQUE,
    user_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value REAL,
    ts_ms INTEGER NOT NULL,
    session_id TEXT,
    recommendation_id TEXT
);
CREATE INDEX events_user_seq ON events (user_id, seq);
CREATE TABLE models (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    params TEXT NOT NULL,
    trained_on_seq INTEGER NOT NULL,
    metrics TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    artifact_bytes INTEGER NOT NULL,
    active INTEGER NOT NULL DEFAULT 0,
    artifact BLOB NOT NULL
);
CREATE UNIQUE INDEX models_one_active ON models (active) WHERE active = 1;
";

/// Messages a source could not take in, unique by where they came from.
const V2_DEAD_LETTERS: &str = "
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    payload BLOB NOT NULL,
    reason TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    UNIQUE (source, partition, offset)
);
";

/// Deleted users: a model version trained on events up to `at_seq` may hold them and must not
/// serve them (see `Store::deleted_users`).
const V3_DELETED_USERS: &str = "
CREATE TABLE deleted_users (
    user_id TEXT PRIMARY KEY,
    at_seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL
);
";

/// Placements, experiments, the impression log, rollups, experiment units, interleaving outcomes
/// and the attribution cursor (see `crate::impact`).
const V4_IMPACT: &str = "
CREATE TABLE placements (
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    config TEXT,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (id, version)
) WITHOUT ROWID;
CREATE TABLE experiments (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    revision INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE TABLE impressions (
    recommendation_id TEXT PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    placement TEXT NOT NULL,
    experiment TEXT NOT NULL,
    variant TEXT NOT NULL,
    unit TEXT NOT NULL,
    user_id TEXT,
    model_version INTEGER,
    covariate REAL NOT NULL,
    items TEXT NOT NULL
);
CREATE INDEX impressions_user_at ON impressions (user_id, at_ms) WHERE user_id IS NOT NULL;
CREATE INDEX impressions_at ON impressions (at_ms, recommendation_id);
CREATE TABLE impact_rollups (
    bucket_ms INTEGER NOT NULL,
    placement TEXT NOT NULL,
    experiment TEXT NOT NULL,
    variant TEXT NOT NULL,
    impressions INTEGER NOT NULL DEFAULT 0,
    shown INTEGER NOT NULL DEFAULT 0,
    clicks INTEGER NOT NULL DEFAULT 0,
    carts INTEGER NOT NULL DEFAULT 0,
    purchases INTEGER NOT NULL DEFAULT 0,
    revenue REAL NOT NULL DEFAULT 0,
    revenue_sq REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_ms, placement, experiment, variant)
) WITHOUT ROWID;
CREATE TABLE experiment_units (
    experiment TEXT NOT NULL,
    unit TEXT NOT NULL,
    variant TEXT NOT NULL,
    first_ms INTEGER NOT NULL,
    impressions INTEGER NOT NULL DEFAULT 0,
    clicks INTEGER NOT NULL DEFAULT 0,
    carts INTEGER NOT NULL DEFAULT 0,
    purchases INTEGER NOT NULL DEFAULT 0,
    revenue REAL NOT NULL DEFAULT 0,
    covariate REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, unit)
) WITHOUT ROWID;
CREATE TABLE interleave_outcomes (
    experiment TEXT NOT NULL,
    recommendation_id TEXT NOT NULL,
    unit TEXT NOT NULL,
    clicks_a INTEGER NOT NULL DEFAULT 0,
    clicks_b INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, recommendation_id)
) WITHOUT ROWID;
CREATE TABLE attribution_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO attribution_cursor (id, seq) VALUES (1, 0);
";

/// Artifacts in parts of at most [`crate::ARTIFACT_PART_BYTES`]: a large shop's artifact passes
/// SQLite's one-gigabyte limit on a blob. A version's `models.artifact` is then empty; versions
/// written before keep theirs there and have no parts.
const V5_MODEL_PARTS: &str = "
CREATE TABLE model_parts (
    version INTEGER NOT NULL,
    part INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (version, part)
);
";

/// State derived from the event log, by name (see `Store::put_state`).
const V6_STATE: &str = "
CREATE TABLE state (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    body BLOB NOT NULL
);
";

/// The number of stored events, kept by every append and user deletion in the same transaction:
/// `count(*)` of a 100M-event log reads its smallest index, 27 s from a cold disk here, and every
/// start asked for it. Counted once when a store migrates.
const V7_EVENT_COUNT: &str = "
CREATE TABLE event_count (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    events INTEGER NOT NULL
);
INSERT INTO event_count (id, events) SELECT 1, count(*) FROM events;
";

/// The journal mode SQLite reported instead of WAL (an in-memory database, or a file system
/// without shared memory).
#[derive(Debug, thiserror::Error)]
#[error("the database did not switch to WAL journal mode (it reports {0:?})")]
struct NotWal(String);

/// Settings of the writer connection; `journal_mode` is persistent, the rest are per connection.
pub(super) fn configure_writer(conn: &Connection) -> StoreResult<()> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(db)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(db(NotWal(mode)));
    }
    // FULL (not NORMAL) syncs the WAL on every commit: NORMAL can lose the last commits on power loss.
    conn.pragma_update(None, "synchronous", "FULL").map_err(db)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB).map_err(db)?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES).map_err(db)?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT_BYTES).map_err(db)?;
    Ok(())
}

/// The per-user index on the event log, as created by [`V1_INITIAL`]; `IF NOT EXISTS` so that
/// building it again is a no-op where it is in place.
const EVENTS_USER_INDEX: &str = "CREATE INDEX IF NOT EXISTS events_user_seq ON events (user_id, seq)";

/// Drops the per-user index on the event log for a bulk load (`defer`), or builds it again
/// (sorting the log once). Each is one transaction; readers keep their snapshot meanwhile.
///
/// The build sorts on every core (`PRAGMA threads`: SQLite's sorter merges runs sorted by helper
/// threads), then the writer goes back to sorting on its own thread.
pub(super) fn defer_event_index(conn: &mut Connection, defer: bool) -> StoreResult<()> {
    let in_one = |conn: &mut Connection, sql: &str| {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
        tx.execute_batch(sql).map_err(db)?;
        tx.commit().map_err(db)
    };
    if defer {
        return in_one(conn, "DROP INDEX IF EXISTS events_user_seq");
    }
    let helpers = std::thread::available_parallelism().map_or(1, usize::from).min(SORT_THREADS);
    conn.pragma_update(None, "threads", helpers as i64).map_err(db)?;
    let built = in_one(conn, EVENTS_USER_INDEX);
    conn.pragma_update(None, "threads", 0).map_err(db)?;
    built
}

/// The most threads the index build sorts on.
const SORT_THREADS: usize = 8;

/// `PRAGMA data_version`: it changes, as seen from one connection, when another commits.
pub(super) fn data_version(conn: &Connection) -> StoreResult<i64> {
    conn.pragma_query_value(None, "data_version", |row| row.get(0)).map_err(db)
}

/// Settings of a read-only connection.
pub(super) fn configure_reader(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)
}

/// Brings the schema up to the newest version this build knows, in one transaction.
///
/// The transaction is `IMMEDIATE` so that two processes opening the same new file do not both
/// run the migrations.
pub(super) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let found: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(db)?;
    let known = MIGRATIONS.len();
    let found = usize::try_from(found)
        .map_err(|_| corrupt("database schema", format_args!("negative schema version {found}")))?;
    if found > known {
        return Err(corrupt(
            "database schema",
            format_args!(
                "the database is at schema version {found} but this build knows versions up to {known}; \
                 it was written by a newer aisle"
            ),
        ));
    }
    if found == known {
        return Ok(());
    }
    for migration in &MIGRATIONS[found..] {
        tx.execute_batch(migration).map_err(db)?;
    }
    tx.pragma_update(None, "user_version", sql_version(known)).map_err(db)?;
    tx.commit().map_err(db)
}

fn sql_version(version: usize) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

/// Copies the WAL into the database file and truncates the WAL to zero bytes.
pub(super) fn checkpoint(conn: &mut Connection) -> StoreResult<()> {
    // The pragma answers one row (busy, log pages, checkpointed pages); a busy checkpoint is not an
    // error: every commit is already durable in the WAL, the checkpoint only tidies up.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings that durability rests on are per connection, so only the writer itself can
    /// show them.
    #[test]
    fn the_writer_is_durable_and_checks_foreign_keys() {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn = Connection::open(dir.path().join("t.db")).expect("open");
        configure_writer(&conn).expect("configure");
        let pragma = |name: &str| -> i64 { conn.pragma_query_value(None, name, |r| r.get(0)).expect(name) };
        assert_eq!(pragma("synchronous"), 2, "synchronous=FULL");
        assert_eq!(pragma("foreign_keys"), 1);
        assert_eq!(pragma("busy_timeout"), 5_000);
        assert_eq!(pragma("wal_autocheckpoint"), WAL_AUTOCHECKPOINT_PAGES);
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).expect("journal_mode");
        assert_eq!(mode, "wal");
    }

    #[test]
    fn migrations_run_once_and_set_the_version() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut conn = Connection::open(dir.path().join("t.db")).expect("open");
        migrate(&mut conn).expect("first migration");
        migrate(&mut conn).expect("an up-to-date schema migrates to itself");
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("user_version");
        assert_eq!(version, sql_version(MIGRATIONS.len()));
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema
                    WHERE type = 'table' AND name IN ('items', 'users', 'events', 'models')",
                [],
                |r| r.get(0),
            )
            .expect("tables");
        assert_eq!(tables, 4);
    }
}
