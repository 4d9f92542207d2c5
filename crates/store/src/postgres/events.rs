//! The event log: idempotent batch appends in commit order, sequential and per-user reads.

use std::collections::{HashMap, HashSet};

use aisle_core::EventKind;
use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};

use super::feed::{self, Change};
use super::{PgStore, corrupt, db, sql_limit, sql_seq, stored_u64};
use crate::{Appended, Counts, EventRecord, StoreResult, StoredEvent};

const EXISTING: &str = "SELECT event_id, seq FROM events WHERE event_id = ANY($1::text[])";
/// Reserves `$1` sequence numbers at once and answers the last one; only correct under the
/// append lock, which makes this transaction the only one drawing from the sequence.
const RESERVE: &str = "SELECT setval('events_seq', nextval('events_seq') + $1 - 1)";
/// A row whose `event_id` is stored already is skipped (its reserved number becomes a gap), and
/// `RETURNING` names the ones inserted.
const INSERT: &str = "INSERT INTO events
    (seq, event_id, user_id, item_id, kind, value, ts_ms, session_id, recommendation_id)
    SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::float4[],
        $7::int8[], $8::text[], $9::text[])
    ON CONFLICT (event_id) DO NOTHING
    RETURNING seq";
const AFTER: &str =
    "SELECT seq, event_id, user_id, item_id, kind, value, ts_ms, session_id, recommendation_id
    FROM events WHERE seq > $1 ORDER BY seq LIMIT $2";
/// Newest first so that the limit keeps the newest; the caller restores ascending order.
const USER_AFTER: &str =
    "SELECT seq, event_id, user_id, item_id, kind, value, ts_ms, session_id, recommendation_id
    FROM events WHERE user_id = $1 AND seq > $2 ORDER BY seq DESC LIMIT $3";
const COUNTS: &str = "SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM users),
    (SELECT count(*) FROM events), (SELECT coalesce(max(seq), 0) FROM events)";

/// One statement inserts the whole batch (the common case: nothing is a re-send), so the unique
/// index on `event_id` is probed once per event, by the insert itself. Events repeating an
/// earlier one of the same batch are taken out first; the few the insert skips as stored before
/// are looked up afterwards, in the same transaction.
pub(super) async fn append(store: &PgStore, events: &[EventRecord]) -> StoreResult<Vec<Appended>> {
    // Per input: the position of the first event of the batch with its id (itself if first).
    let mut first: HashMap<&str, usize> = HashMap::new();
    let mut repeat_of: Vec<Option<usize>> = Vec::with_capacity(events.len());
    let mut rows: Vec<usize> = Vec::with_capacity(events.len());
    for (k, e) in events.iter().enumerate() {
        match e.event_id.as_deref().map(|id| *first.entry(id).or_insert(k)) {
            Some(j) if j != k => repeat_of.push(Some(j)),
            _ => {
                repeat_of.push(None);
                rows.push(k);
            }
        }
    }
    let n = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let mut tx = store.pool().begin().await.map_err(db)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(store.inner.append_lock)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let last: i64 = sqlx::query_scalar(RESERVE).bind(n).fetch_one(&mut *tx).await.map_err(db)?;
    let first_seq = last - n + 1;
    let batch: Vec<&EventRecord> = rows.iter().map(|&k| &events[k]).collect();
    let inserted: Vec<i64> = sqlx::query_scalar(INSERT)
        .bind((first_seq..=last).collect::<Vec<i64>>())
        .bind(batch.iter().map(|e| e.event_id.as_deref()).collect::<Vec<_>>())
        .bind(batch.iter().map(|e| e.user_id.as_str()).collect::<Vec<_>>())
        .bind(batch.iter().map(|e| e.item_id.as_str()).collect::<Vec<_>>())
        .bind(batch.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
        .bind(batch.iter().map(|e| e.value).collect::<Vec<_>>())
        .bind(batch.iter().map(|e| e.ts_ms).collect::<Vec<_>>())
        .bind(batch.iter().map(|e| e.session_id.as_deref()).collect::<Vec<_>>())
        .bind(batch.iter().map(|e| e.recommendation_id.as_deref()).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
    let inserted: HashSet<i64> = inserted.into_iter().collect();
    // Stored before this batch: an id whose row was skipped.
    let skipped: Vec<&str> = batch
        .iter()
        .zip(first_seq..)
        .filter(|(_, seq)| !inserted.contains(seq))
        .filter_map(|(e, _)| e.event_id.as_deref())
        .collect();
    let mut stored: HashMap<String, i64> = HashMap::new();
    if !skipped.is_empty() {
        for row in sqlx::query(EXISTING).bind(&skipped).fetch_all(&mut *tx).await.map_err(db)? {
            stored.insert(row.try_get(0).map_err(db)?, row.try_get(1).map_err(db)?);
        }
    }
    if let Some(&newest) = inserted.iter().max() {
        let last_seq = stored_u64("event seq", newest)?;
        feed::notify(&mut *tx, store, &Change::Events { last_seq }).await?;
    }
    tx.commit().await.map_err(db)?;
    let mut fates: Vec<Appended> = Vec::with_capacity(events.len());
    let mut reserved = first_seq..;
    for (k, e) in events.iter().enumerate() {
        let fate = match repeat_of[k] {
            // The first occurrence comes earlier, so its fate is known.
            Some(j) => Appended::Duplicate(fates[j].seq()),
            None => {
                let seq = reserved.next().unwrap_or(i64::MAX);
                if inserted.contains(&seq) {
                    Appended::Inserted(stored_u64("event seq", seq)?)
                } else {
                    let id = e.event_id.as_deref().unwrap_or_default();
                    let seq = stored.get(id).copied().ok_or_else(|| {
                        corrupt("event", format_args!("event id {id:?} was neither inserted nor found"))
                    })?;
                    Appended::Duplicate(stored_u64("event seq", seq)?)
                }
            }
        };
        fates.push(fate);
    }
    Ok(fates)
}

/// Events after `after_seq`; rows that do not decode are skipped (and counted), and a page made
/// only of such rows is read past, so that an empty answer still means the end of the log.
pub(super) async fn after(pool: &PgPool, after_seq: u64, limit: usize) -> StoreResult<Vec<StoredEvent>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut from = after_seq;
    loop {
        let rows = sqlx::query(AFTER)
            .bind(sql_seq(from))
            .bind(sql_limit(limit))
            .fetch_all(pool)
            .await
            .map_err(db)?;
        let (events, scanned) = decode(&rows)?;
        match scanned {
            Some(last) if events.is_empty() => from = last,
            _ => return Ok(events),
        }
    }
}

/// The decodable events of `rows`, and the sequence number of the last row.
fn decode(rows: &[PgRow]) -> StoreResult<(Vec<StoredEvent>, Option<u64>)> {
    let mut events = Vec::with_capacity(rows.len());
    let mut scanned = None;
    for row in rows {
        scanned = Some(stored_u64("event seq", row.try_get(0).map_err(db)?)?);
        match read_event(row) {
            Ok(e) => events.push(e),
            Err(e @ crate::StoreError::Corrupt { .. }) => crate::codec::skip_unreadable("events", &e),
            Err(e) => return Err(e),
        }
    }
    Ok((events, scanned))
}

pub(super) async fn user_after(
    pool: &PgPool,
    user_id: &str,
    after_seq: u64,
    limit: usize,
) -> StoreResult<Vec<StoredEvent>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(USER_AFTER)
        .bind(user_id)
        .bind(sql_seq(after_seq))
        .bind(sql_limit(limit))
        .fetch_all(pool)
        .await
        .map_err(db)?;
    let (mut events, _) = decode(&rows)?;
    events.reverse();
    Ok(events)
}

pub(super) async fn counts(pool: &PgPool) -> StoreResult<Counts> {
    let row = sqlx::query(COUNTS).fetch_one(pool).await.map_err(db)?;
    let get =
        |i: usize, what: &'static str| -> StoreResult<u64> { stored_u64(what, row.try_get(i).map_err(db)?) };
    Ok(Counts {
        items: get(0, "item count")?,
        users: get(1, "user count")?,
        events: get(2, "event count")?,
        last_seq: get(3, "event seq")?,
    })
}

fn read_event(row: &PgRow) -> StoreResult<StoredEvent> {
    let seq = stored_u64("event seq", row.try_get(0).map_err(db)?)?;
    let kind: &str = row.try_get(4).map_err(db)?;
    let kind: EventKind = kind.parse().map_err(|e| corrupt("event", format_args!("seq {seq}: {e}")))?;
    let event = EventRecord {
        event_id: row.try_get(1).map_err(db)?,
        user_id: row.try_get(2).map_err(db)?,
        item_id: row.try_get(3).map_err(db)?,
        kind,
        value: row.try_get(5).map_err(db)?,
        ts_ms: row.try_get(6).map_err(db)?,
        session_id: row.try_get(7).map_err(db)?,
        recommendation_id: row.try_get(8).map_err(db)?,
    };
    Ok(StoredEvent { seq, event })
}
