//! The event log: idempotent batch appends that run concurrently, a sequential read bounded by
//! the appends still in flight, and per-user reads.
//!
//! **Appends run side by side.** Each takes the schema's append lock in *shared* mode for its
//! transaction, then draws its sequence numbers with `nextval`, one per row. Two appends (from one
//! replica or several) therefore insert at once, and a batch that drew lower numbers may commit
//! after one that drew higher ones. Writes that must see no append in flight (a user's deletion)
//! take the same lock exclusively.
//!
//! **The sequential read never passes a number that may still commit** ([`Horizon`]). It reads the
//! sequence's last drawn number `L`, then the transactions holding the append lock: every number
//! at or below `L` was drawn by one of them or by one that has ended (a transaction takes the lock
//! before it draws). Once none of those transactions holds the lock any more, every event at or
//! below `L` that will ever exist is committed and visible, and reads may go up to `L`. With no
//! append in flight that is at once; otherwise one read later. A tail by `seq > cursor` bounded
//! so misses nothing committed late.

use std::collections::{HashMap, HashSet};

use aisle_core::EventKind;
use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};

use super::feed::{self, Change};
use super::{PgStore, corrupt, db, sql_limit, sql_seq, stored_u64};
use crate::{Appended, Counts, EventRecord, StoreResult, StoredEvent};

const EXISTING: &str = "SELECT event_id, seq FROM events WHERE event_id = ANY($1::text[])";
/// Draws `$1` sequence numbers, ascending (another append may draw between them).
const DRAW: &str = "SELECT nextval('events_seq') FROM generate_series(1, $1::int8)";
/// The last sequence number drawn (0 before the first).
const DRAWN: &str = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_seq";
/// The transactions holding the append lock (its 64-bit key is `classid`, `objid` in `pg_locks`).
const APPENDING: &str = "SELECT virtualtransaction FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 1
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND classid::int8 = $1 AND objid::int8 = $2";
/// How many times an append that lost a deadlock to another one (the same event ids inserted
/// in another order) is tried again.
const DEADLOCK_ATTEMPTS: u32 = 4;
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
    FROM events WHERE seq > $1 AND seq <= $3 ORDER BY seq LIMIT $2";
/// Newest first so that the limit keeps the newest; the caller restores ascending order.
const USER_AFTER: &str =
    "SELECT seq, event_id, user_id, item_id, kind, value, ts_ms, session_id, recommendation_id
    FROM events WHERE user_id = $1 AND seq > $2 ORDER BY seq DESC LIMIT $3";
const COUNTS: &str = "SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM users),
    (SELECT count(*) FROM events), (SELECT coalesce(max(seq), 0) FROM events)";

/// Appends `events`, trying again (up to [`DEADLOCK_ATTEMPTS`] times) when PostgreSQL ended the
/// transaction to break a deadlock with a concurrent append of the same event ids.
pub(super) async fn append(store: &PgStore, events: &[EventRecord]) -> StoreResult<Vec<Appended>> {
    let mut attempt = 1;
    loop {
        match append_once(store, events).await {
            Err(Failed::Deadlock(e)) if attempt < DEADLOCK_ATTEMPTS => {
                tracing::debug!(error = %e, attempt, "an event append lost a deadlock; trying again");
                attempt += 1;
            }
            Err(Failed::Deadlock(e)) => return Err(db(e)),
            Err(Failed::Store(e)) => return Err(e),
            Ok(fates) => return Ok(fates),
        }
    }
}

/// Why one attempt at an append failed.
enum Failed {
    /// PostgreSQL chose this transaction to end a deadlock (SQLSTATE 40P01).
    Deadlock(sqlx::Error),
    Store(crate::StoreError),
}

impl From<crate::StoreError> for Failed {
    fn from(e: crate::StoreError) -> Failed {
        Failed::Store(e)
    }
}

/// A database error, told apart when it is a lost deadlock.
fn failed(e: sqlx::Error) -> Failed {
    match e.as_database_error().and_then(|d| d.code()) {
        Some(code) if code == "40P01" => Failed::Deadlock(e),
        _ => Failed::Store(db(e)),
    }
}

/// One statement inserts the whole batch (the common case: nothing is a re-send), so the unique
/// index on `event_id` is probed once per event, by the insert itself. Events repeating an
/// earlier one of the same batch are taken out first; the few the insert skips as stored before
/// are looked up afterwards, in the same transaction.
async fn append_once(store: &PgStore, events: &[EventRecord]) -> Result<Vec<Appended>, Failed> {
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
    // Shared: appends run side by side, and the sequential read sees this one in flight.
    sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
        .bind(store.inner.append_lock)
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
    let drawn: Vec<i64> = sqlx::query_scalar(DRAW).bind(n).fetch_all(&mut *tx).await.map_err(failed)?;
    if drawn.len() != rows.len() {
        return Err(
            corrupt("event", format_args!("{} sequence numbers drawn for {n} events", drawn.len())).into()
        );
    }
    let batch: Vec<&EventRecord> = rows.iter().map(|&k| &events[k]).collect();
    let inserted: Vec<i64> = sqlx::query_scalar(INSERT)
        .bind(&drawn)
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
        .map_err(failed)?;
    let inserted: HashSet<i64> = inserted.into_iter().collect();
    // Stored before this batch: an id whose row was skipped.
    let skipped: Vec<&str> = batch
        .iter()
        .zip(&drawn)
        .filter(|(_, seq)| !inserted.contains(seq))
        .filter_map(|(e, _)| e.event_id.as_deref())
        .collect();
    let mut stored: HashMap<String, i64> = HashMap::new();
    if !skipped.is_empty() {
        for row in sqlx::query(EXISTING).bind(&skipped).fetch_all(&mut *tx).await.map_err(failed)? {
            stored.insert(row.try_get(0).map_err(db)?, row.try_get(1).map_err(db)?);
        }
    }
    if let Some(&newest) = inserted.iter().max() {
        let last_seq = stored_u64("event seq", newest)?;
        feed::notify(&mut *tx, store, &Change::Events { last_seq }).await?;
    }
    tx.commit().await.map_err(failed)?;
    let mut fates: Vec<Appended> = Vec::with_capacity(events.len());
    let mut reserved = drawn.iter().copied();
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
                        Failed::Store(corrupt(
                            "event",
                            format_args!("event id {id:?} was neither inserted nor found"),
                        ))
                    })?;
                    Appended::Duplicate(stored_u64("event seq", seq)?)
                }
            }
        };
        fates.push(fate);
    }
    Ok(fates)
}

/// Events after `after_seq`, up to the [`Horizon`]; rows that do not decode are skipped (and
/// counted), and a page made only of such rows is read past, so that an empty answer still means
/// the end of what may be read.
pub(super) async fn after(store: &PgStore, after_seq: u64, limit: usize) -> StoreResult<Vec<StoredEvent>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let upto = store.inner.horizon.advance(store).await?;
    if upto <= after_seq {
        return Ok(Vec::new());
    }
    let mut from = after_seq;
    loop {
        let rows = sqlx::query(AFTER)
            .bind(sql_seq(from))
            .bind(sql_limit(limit))
            .bind(sql_seq(upto))
            .fetch_all(store.pool())
            .await
            .map_err(db)?;
        let (events, scanned) = decode(&rows)?;
        match scanned {
            Some(last) if events.is_empty() => from = last,
            _ => return Ok(events),
        }
    }
}

/// How far the log may be read: every event at or below [`Horizon::claimed`] that will ever be
/// committed is (see the module docs). One per store, shared by its readers.
#[derive(Debug, Default)]
pub(super) struct Horizon {
    inner: tokio::sync::Mutex<Claims>,
}

#[derive(Debug, Default)]
struct Claims {
    /// Reads may go up to here.
    claimed: u64,
    /// A last drawn number, and the appends that held the lock just after it was read: once
    /// none of them holds it, the number is claimed.
    pending: Option<(u64, Vec<String>)>,
}

impl Horizon {
    /// Looks at the sequence and the appends in flight and answers how far reads may go now.
    /// Held across both queries, so that a pending claim is only ever checked against appends
    /// listed after it was taken.
    async fn advance(&self, store: &PgStore) -> StoreResult<u64> {
        let mut claims = self.inner.lock().await;
        let drawn: i64 = sqlx::query_scalar(DRAWN).fetch_one(store.pool()).await.map_err(db)?;
        let drawn = stored_u64("event seq", drawn)?;
        let key = store.inner.append_lock as u64;
        // Listed after `drawn` was read: a number drawn before that was drawn by one of these or
        // by a transaction that has ended.
        let appending: Vec<String> = sqlx::query_scalar(APPENDING)
            .bind((key >> 32) as i64)
            .bind((key & 0xffff_ffff) as i64)
            .fetch_all(store.pool())
            .await
            .map_err(db)?;
        claims.observe(drawn, appending);
        Ok(claims.claimed)
    }
}

impl Claims {
    fn observe(&mut self, drawn: u64, appending: Vec<String>) {
        if appending.is_empty() {
            self.claimed = self.claimed.max(drawn);
            self.pending = None;
            return;
        }
        if let Some((at, waited)) = &self.pending
            && waited.iter().all(|t| !appending.contains(t))
        {
            self.claimed = self.claimed.max(*at);
            self.pending = None;
        }
        if self.pending.is_none() {
            self.pending = Some((drawn, appending));
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

#[cfg(test)]
mod tests {
    use super::Claims;

    fn txs(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_drawn_number_is_claimed_once_the_appends_listed_after_it_have_ended() {
        let mut c = Claims::default();
        c.observe(10, Vec::new());
        assert_eq!(c.claimed, 10, "nothing in flight: everything drawn may be read");
        c.observe(25, txs(&["3/7", "4/9"]));
        assert_eq!(c.claimed, 10, "two appends in flight may still commit numbers up to 25");
        c.observe(40, txs(&["4/9", "5/2"]));
        assert_eq!(c.claimed, 10, "4/9 has not ended");
        c.observe(55, txs(&["5/2", "6/1"]));
        assert_eq!(c.claimed, 25, "3/7 and 4/9 ended: 25 is claimed; 55 waits for 5/2 and 6/1");
        c.observe(60, txs(&["7/1"]));
        assert_eq!(c.claimed, 55);
        c.observe(30, Vec::new());
        assert_eq!(c.claimed, 55, "never backwards");
        c.observe(70, Vec::new());
        assert_eq!((c.claimed, c.pending.is_none()), (70, true));
    }
}
