//! The dead-letter log: messages a source refused, idempotent on where they came from.

use sqlx::Row;
use sqlx::postgres::PgPool;

use super::{db, sql_limit, sql_seq, stored_u64};
use crate::{DeadLetter, StoreResult, StoredDeadLetter};

/// `ON CONFLICT DO NOTHING` also skips a repeat within the batch: the second row conflicts with
/// the first one inserted by the same statement.
const INSERT: &str = "INSERT INTO dead_letters (source, partition, msg_offset, payload, reason, at_ms)
    SELECT source, partition, msg_offset, payload, reason, at_ms FROM UNNEST($1::text[], $2::int4[], $3::int8[], $4::bytea[], $5::text[], $6::int8[])
        WITH ORDINALITY AS t(source, partition, msg_offset, payload, reason, at_ms, ord)
    ORDER BY ord
    ON CONFLICT (source, partition, msg_offset) DO NOTHING";
const AFTER: &str = "SELECT id, source, partition, msg_offset, payload, reason, at_ms
    FROM dead_letters WHERE id > $1 ORDER BY id LIMIT $2";

pub(super) async fn put(pool: &PgPool, letters: Vec<DeadLetter>) -> StoreResult<usize> {
    let done = sqlx::query(INSERT)
        .bind(letters.iter().map(|l| l.source.as_str()).collect::<Vec<_>>())
        .bind(letters.iter().map(|l| l.partition).collect::<Vec<_>>())
        .bind(letters.iter().map(|l| l.offset).collect::<Vec<_>>())
        .bind(letters.iter().map(|l| l.payload.as_slice()).collect::<Vec<_>>())
        .bind(letters.iter().map(|l| l.reason.as_str()).collect::<Vec<_>>())
        .bind(letters.iter().map(|l| l.at_ms).collect::<Vec<_>>())
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
}

pub(super) async fn after(pool: &PgPool, after_id: u64, limit: usize) -> StoreResult<Vec<StoredDeadLetter>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(AFTER)
        .bind(sql_seq(after_id))
        .bind(sql_limit(limit))
        .fetch_all(pool)
        .await
        .map_err(db)?;
    rows.iter()
        .map(|row| {
            Ok(StoredDeadLetter {
                id: stored_u64("dead letter id", row.try_get(0).map_err(db)?)?,
                letter: DeadLetter {
                    source: row.try_get(1).map_err(db)?,
                    partition: row.try_get(2).map_err(db)?,
                    offset: row.try_get(3).map_err(db)?,
                    payload: row.try_get(4).map_err(db)?,
                    reason: row.try_get(5).map_err(db)?,
                    at_ms: row.try_get(6).map_err(db)?,
                },
            })
        })
        .collect()
}
