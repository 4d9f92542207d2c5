//! The dead-letter log: messages a source refused, idempotent on where they came from.

use rusqlite::{Connection, TransactionBehavior, params};

use super::{db, sql_limit, sql_seq, stored_u64};
use crate::{DeadLetter, StoreResult, StoredDeadLetter};

const INSERT: &str = "INSERT INTO dead_letters (source, partition, offset, payload, reason, at_ms)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (source, partition, offset) DO NOTHING";
const AFTER: &str = "SELECT id, source, partition, offset, payload, reason, at_ms
    FROM dead_letters WHERE id > ?1 ORDER BY id LIMIT ?2";

pub(super) fn put(conn: &mut Connection, letters: &[DeadLetter]) -> StoreResult<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let mut new = 0;
    {
        let mut insert = tx.prepare_cached(INSERT).map_err(db)?;
        for l in letters {
            new += insert
                .execute(params![l.source, l.partition, l.offset, l.payload, l.reason, l.at_ms])
                .map_err(db)?;
        }
    }
    tx.commit().map_err(db)?;
    Ok(new)
}

pub(super) fn after(conn: &Connection, after_id: u64, limit: usize) -> StoreResult<Vec<StoredDeadLetter>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare_cached(AFTER).map_err(db)?;
    let mut rows = stmt.query(params![sql_seq(after_id), sql_limit(limit)]).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        out.push(StoredDeadLetter {
            id: stored_u64("dead letter id", row.get(0).map_err(db)?)?,
            letter: DeadLetter {
                source: row.get(1).map_err(db)?,
                partition: row.get(2).map_err(db)?,
                offset: row.get(3).map_err(db)?,
                payload: row.get(4).map_err(db)?,
                reason: row.get(5).map_err(db)?,
                at_ms: row.get(6).map_err(db)?,
            },
        });
    }
    Ok(out)
}
