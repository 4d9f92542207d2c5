//! What SQLite alone can insert of the event log's rows, on this machine, with nothing else
//! running: the ceiling of a bulk import into the embedded store. Reads a generated `events.csv`
//! (`aisle generate`; its columns `user_id,item_id,type,value,timestamp,session_id`), gives each
//! row an `import:`-style event id, and inserts it into a fresh database with the store's table and
//! settings and statement (WAL, `synchronous=FULL`, commits of 100,000 rows, `INSERT OR IGNORE ...
//! RETURNING`), then builds the per-user index (sorting on two threads).
//! Prints rows/s for one row per statement (the store's statement before) and for 64 rows per
//! statement (the store's now), for three ways to keep a re-run idempotent: the text event ids
//! (the store's, a unique index), a leaner row that keeps an integer key of file and line and a
//! 64-bit row digest instead (unique together), and no ids at all.
//!
//! Run with `cargo bench -p aisle-store --bench sqlite_rows -- PATH/events.csv`.

#![expect(clippy::print_stdout, reason = "a bench binary reports its figures on stdout")]

use std::error::Error;
use std::time::Instant;

use rusqlite::{Connection, TransactionBehavior, params_from_iter, types::Value};

const TABLE: &str = "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT UNIQUE,
    user_id TEXT NOT NULL, item_id TEXT NOT NULL, kind TEXT NOT NULL, value REAL, ts_ms INTEGER NOT NULL,
    session_id TEXT, recommendation_id TEXT, line_key INTEGER, digest INTEGER)";
/// The leaner row's idempotency: the key and the digest, unique together.
const KEY_INDEX: &str = "CREATE UNIQUE INDEX events_line_key ON events (line_key, digest)";

/// How a row is made idempotent.
#[derive(Clone, Copy, Debug)]
enum Ids {
    /// `import:FILE:LINE:HASH` in `event_id`, the store's row.
    Text,
    /// An integer key of file and line, and the row's digest, unique together.
    Key,
    /// Neither.
    None,
}
const COMMIT_ROWS: usize = 100_000;

fn main() -> Result<(), Box<dyn Error>> {
    let path =
        std::env::args().skip(1).find(|a| !a.starts_with("--")).ok_or("give the path of an events.csv")?;
    let text = std::fs::read_to_string(&path)?;
    let rows: Vec<[Value; 10]> = text.lines().skip(1).enumerate().map(|(k, line)| row(k, line)).collect();
    println!("{} rows of {path}", rows.len());
    for per_statement in [1, 64] {
        for ids in [Ids::Text, Ids::Key, Ids::None] {
            let dir = tempfile::tempdir()?;
            let (insert, index) = run(&dir.path().join("bench.db"), &rows, per_statement, ids)?;
            let total = insert + index;
            println!(
                "{per_statement:>2} rows per statement, ids {ids:?}: insert {insert:.2} s, index {index:.2} s, {:.0} rows/s",
                rows.len() as f64 / total
            );
        }
    }
    Ok(())
}

/// The values of one file row, as the store binds them.
fn row(k: usize, line: &str) -> [Value; 10] {
    let f: Vec<&str> = line.split(',').collect();
    let text = |i: usize| f.get(i).map_or(Value::Null, |s| Value::Text((*s).to_owned()));
    let ts = f.get(4).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0) * 1000;
    let digest = (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    [
        Value::Text(format!("import:events.csv:{}:{digest:016x}", k + 2)),
        text(0),
        text(1),
        text(2),
        Value::Null,
        Value::Integer(ts),
        text(5),
        Value::Null,
        // File 1, line k + 2: ordered as the file is, so the unique index grows at its end.
        Value::Integer((1 << 40) | (k as i64 + 2)),
        Value::Integer(digest as i64),
    ]
}

/// Seconds to insert `rows`, then to build the per-user index.
fn run(
    path: &std::path::Path,
    rows: &[[Value; 10]],
    per: usize,
    ids: Ids,
) -> Result<(f64, f64), Box<dyn Error>> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -32 * 1024)?;
    conn.pragma_update(None, "wal_autocheckpoint", 8_192)?;
    conn.execute_batch(TABLE)?;
    if matches!(ids, Ids::Key) {
        conn.execute_batch(KEY_INDEX)?;
    }
    // One row: the statement the store ran before (the changes count tells an insert from a
    // duplicate). Many rows: the store's statement now (`RETURNING` names the rows inserted).
    let sql = |n: usize| {
        let values = vec!["(?,?,?,?,?,?,?,?,?,?)"; n].join(",");
        let columns = "(event_id, user_id, item_id, kind, value, ts_ms, session_id, recommendation_id, line_key, digest)";
        match n {
            1 => format!("INSERT INTO events {columns} VALUES {values} ON CONFLICT DO NOTHING"),
            _ => format!("INSERT OR IGNORE INTO events {columns} VALUES {values} RETURNING seq"),
        }
    };
    let started = Instant::now();
    for commit in rows.chunks(COMMIT_ROWS) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for part in commit.chunks(per) {
            let mut stmt = tx.prepare_cached(&sql(part.len()))?;
            let values = part.iter().flat_map(|r| {
                r.iter().enumerate().map(move |(i, v)| {
                    let kept = match ids {
                        Ids::Text => i < 8,
                        Ids::Key => i > 0,
                        Ids::None => (1..8).contains(&i),
                    };
                    if kept { v.clone() } else { Value::Null }
                })
            });
            if per == 1 {
                stmt.execute(params_from_iter(values))?;
            } else {
                let mut back = stmt.query(params_from_iter(values))?;
                while back.next()?.is_some() {}
            }
        }
        tx.commit()?;
    }
    let insert = started.elapsed().as_secs_f64();
    conn.pragma_update(None, "threads", 2)?;
    let started = Instant::now();
    conn.execute_batch("CREATE INDEX events_user_seq ON events (user_id, seq)")?;
    Ok((insert, started.elapsed().as_secs_f64()))
}
