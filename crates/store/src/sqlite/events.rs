//! The event log: idempotent batch appends, sequential and per-user reads, counts.

use aisle_core::EventKind;
use rusqlite::{Connection, Row, TransactionBehavior, params};

use super::{corrupt, db, sql_limit, sql_seq, stored_u64};
use crate::{Appended, Counts, EventRecord, StoreResult, StoredEvent};

/// Rows per `INSERT` statement: one statement of many rows costs far less per row than a
/// statement per row (SQLite prepares, binds and steps once per statement). 64 rows of 8 values
/// stay well under SQLite's limit on bound values (32,766).
const ROWS_PER_INSERT: usize = 64;

/// The insert of `rows` events. `OR IGNORE` makes a row whose `event_id` is stored already a no-op
/// instead of an error; events without an id never conflict (a UNIQUE column holds any number of
/// NULLs). It is `OR IGNORE`, not `ON CONFLICT (event_id) DO NOTHING`, because a statement that
/// may abort half way needs a statement journal, which copies every page the statement touches:
/// that made batches of 100 events 30% slower than one statement per event. The two are the same
/// here: `event_id` is the only constraint a bound row can break (`seq` is drawn, and the NOT
/// NULL columns are bound from values that cannot be NULL), and a row skipped for any other reason
/// would fail the duplicate's lookup in [`insert_rows`] instead of passing silently. `RETURNING`
/// names the rows inserted, in no promised order; their sequence numbers ascend in row order.
fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT OR IGNORE INTO events (event_id, user_id, item_id, kind, value, ts_ms, session_id, recommendation_id) VALUES ",
    );
    for k in 0..rows {
        sql.push_str(if k == 0 { "(?,?,?,?,?,?,?,?)" } else { ",(?,?,?,?,?,?,?,?)" });
    }
    sql.push_str(" RETURNING seq, event_id");
    sql
}
const SEQ_OF_EVENT_ID: &str = "SELECT seq FROM events WHERE event_id = ?1";
const AFTER: &str =
    "SELECT seq, event_id, user_id, item_id, kind, value, ts_ms, session_id, recommendation_id
    FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2";
/// Newest first so that the limit keeps the newest; the caller restores ascending order.
const USER_AFTER: &str =
    "SELECT seq, event_id, user_id, item_id, kind, value, ts_ms, session_id, recommendation_id
    FROM events WHERE user_id = ?1 AND seq > ?2 ORDER BY seq DESC LIMIT ?3";
/// One statement, so the four numbers come from one snapshot. The events are counted by
/// `event_count` (kept by appends and deletions), not by a scan of the log.
const COUNTS: &str = "SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM users),
    (SELECT events FROM event_count WHERE id = 1), (SELECT coalesce(max(seq), 0) FROM events)";
/// Keeps `event_count` in the transaction that changes the log.
pub(super) const COUNT_EVENTS: &str = "UPDATE event_count SET events = events + ?1 WHERE id = 1";

pub(super) fn append(conn: &mut Connection, events: &[EventRecord]) -> StoreResult<Vec<Appended>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let mut fates = Vec::with_capacity(events.len());
    for rows in events.chunks(ROWS_PER_INSERT) {
        insert_rows(&tx, rows, &mut fates)?;
    }
    let inserted = fates.iter().filter(|f| matches!(f, Appended::Inserted(_))).count();
    tx.prepare_cached(COUNT_EVENTS).map_err(db)?.execute([inserted as i64]).map_err(db)?;
    tx.commit().map_err(db)?;
    Ok(fates)
}

/// Inserts `rows` with one statement and pushes each one's fate, in order.
///
/// The rows inserted come back as `(seq, event_id)`; sorted by `seq` they are in row order. So a
/// walk of the rows beside them tells each row's fate: a row is inserted exactly when it is the
/// next one back with the same id (no id included). A row with an id is skipped only when that id
/// was stored before, by an earlier transaction or an earlier row of this one (the transaction
/// sees its own writes), so its first row in this statement is the one inserted, if any.
fn insert_rows(
    tx: &rusqlite::Transaction<'_>,
    rows: &[EventRecord],
    fates: &mut Vec<Appended>,
) -> StoreResult<()> {
    let mut insert = tx.prepare_cached(&insert_sql(rows.len())).map_err(db)?;
    for (k, event) in rows.iter().enumerate() {
        let at = k * 8;
        let values: [&dyn rusqlite::ToSql; 8] = [
            &event.event_id,
            &event.user_id,
            &event.item_id,
            &event.kind.as_str(),
            &event.value.map(f64::from),
            &event.ts_ms,
            &event.session_id,
            &event.recommendation_id,
        ];
        for (i, value) in values.into_iter().enumerate() {
            insert.raw_bind_parameter(at + i + 1, value).map_err(db)?;
        }
    }
    let mut back: Vec<(i64, Option<String>)> = Vec::with_capacity(rows.len());
    let mut returned = insert.raw_query();
    while let Some(row) = returned.next().map_err(db)? {
        back.push((row.get(0).map_err(db)?, row.get(1).map_err(db)?));
    }
    back.sort_unstable_by_key(|(seq, _)| *seq);
    let mut back = back.into_iter().peekable();
    let mut existing = tx.prepare_cached(SEQ_OF_EVENT_ID).map_err(db)?;
    for event in rows {
        let fate = match back.next_if(|(_, id)| *id == event.event_id) {
            Some((seq, _)) => Appended::Inserted(stored_u64("event seq", seq)?),
            None => {
                let seq: i64 = existing.query_row([&event.event_id], |row| row.get(0)).map_err(db)?;
                Appended::Duplicate(stored_u64("event seq", seq)?)
            }
        };
        fates.push(fate);
    }
    if back.next().is_some() {
        return Err(corrupt("event append", "the insert returned a row it was not given"));
    }
    Ok(())
}

/// Events after `after_seq`; rows that do not decode are skipped (and counted), and a page made
/// only of such rows is read past, so that an empty answer still means the end of the log.
pub(super) fn after(conn: &Connection, after_seq: u64, limit: usize) -> StoreResult<Vec<StoredEvent>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare_cached(AFTER).map_err(db)?;
    let mut from = after_seq;
    loop {
        let rows = stmt.query(params![sql_seq(from), sql_limit(limit)]).map_err(db)?;
        let (events, scanned) = collect(rows, limit)?;
        match scanned {
            Some(last) if events.is_empty() => from = last,
            _ => return Ok(events),
        }
    }
}

pub(super) fn user_after(
    conn: &Connection,
    user_id: &str,
    after_seq: u64,
    limit: usize,
) -> StoreResult<Vec<StoredEvent>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare_cached(USER_AFTER).map_err(db)?;
    let rows = stmt.query(params![user_id, sql_seq(after_seq), sql_limit(limit)]).map_err(db)?;
    let (mut events, _) = collect(rows, limit)?;
    events.reverse();
    Ok(events)
}

pub(super) fn counts(conn: &Connection) -> StoreResult<Counts> {
    let (items, users, events, last_seq): (i64, i64, i64, i64) = conn
        .prepare_cached(COUNTS)
        .map_err(db)?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
        .map_err(db)?;
    Ok(Counts {
        items: stored_u64("item count", items)?,
        users: stored_u64("user count", users)?,
        events: stored_u64("event count", events)?,
        last_seq: stored_u64("event seq", last_seq)?,
    })
}

/// The decodable events of `rows`, and the sequence number of the last row scanned.
fn collect(mut rows: rusqlite::Rows<'_>, limit: usize) -> StoreResult<(Vec<StoredEvent>, Option<u64>)> {
    // Callers pass limits like "everything after", so the capacity is capped rather than trusted.
    let mut events = Vec::with_capacity(limit.min(4096));
    let mut scanned = None;
    while let Some(row) = rows.next().map_err(db)? {
        scanned = Some(stored_u64("event seq", row.get(0).map_err(db)?)?);
        match read_event(row) {
            Ok(e) => events.push(e),
            Err(e @ crate::StoreError::Corrupt { .. }) => crate::codec::skip_unreadable("events", &e),
            Err(e) => return Err(e),
        }
    }
    Ok((events, scanned))
}

fn read_event(row: &Row<'_>) -> StoreResult<StoredEvent> {
    let seq = stored_u64("event seq", row.get(0).map_err(db)?)?;
    let kind = row.get_ref(4).map_err(db)?.as_str().map_err(|e| corrupt("event", e))?;
    let kind: EventKind = kind.parse().map_err(|e| corrupt("event", format_args!("seq {seq}: {e}")))?;
    let value: Option<f64> = row.get(5).map_err(db)?;
    let event = EventRecord {
        event_id: row.get(1).map_err(db)?,
        user_id: row.get(2).map_err(db)?,
        item_id: row.get(3).map_err(db)?,
        kind,
        // Values are written from `f32`, so narrowing back is exact.
        value: value.map(|v| v as f32),
        ts_ms: row.get(6).map_err(db)?,
        session_id: row.get(7).map_err(db)?,
        recommendation_id: row.get(8).map_err(db)?,
    };
    Ok(StoredEvent { seq, event })
}
