//! State derived from the event log, one row by name; a newer `seq` replaces an older one.

use sqlx::Row;
use sqlx::postgres::PgPool;

use super::{db, sql_seq, stored_u64};
use crate::{StateRecord, StoreResult};

const PUT: &str = "INSERT INTO state (name, seq, at_ms, body) VALUES ($1, $2, $3, $4)
    ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, at_ms = excluded.at_ms, body = excluded.body
    WHERE excluded.seq >= state.seq";
const GET: &str = "SELECT seq, at_ms, body FROM state WHERE name = $1";

pub(super) async fn put(pool: &PgPool, state: StateRecord) -> StoreResult<bool> {
    let done = sqlx::query(PUT)
        .bind(&state.name)
        .bind(sql_seq(state.seq))
        .bind(state.at_ms)
        .bind(&state.body)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn get(pool: &PgPool, name: String) -> StoreResult<Option<StateRecord>> {
    let row = sqlx::query(GET).bind(&name).fetch_optional(pool).await.map_err(db)?;
    row.map(|row| {
        Ok(StateRecord {
            seq: stored_u64("state seq", row.try_get(0).map_err(db)?)?,
            at_ms: row.try_get(1).map_err(db)?,
            body: row.try_get(2).map_err(db)?,
            name,
        })
    })
    .transpose()
}
