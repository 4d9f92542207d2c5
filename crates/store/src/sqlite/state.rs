//! State derived from the event log, one row by name; a newer `seq` replaces an older one.

use rusqlite::{Connection, OptionalExtension, params};

use super::{db, sql_seq, stored_u64};
use crate::{StateRecord, StoreResult};

const PUT: &str = "INSERT INTO state (name, seq, at_ms, body) VALUES (?1, ?2, ?3, ?4)
    ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, at_ms = excluded.at_ms, body = excluded.body
    WHERE excluded.seq >= state.seq";
const GET: &str = "SELECT seq, at_ms, body FROM state WHERE name = ?1";

pub(super) fn put(conn: &mut Connection, state: &StateRecord) -> StoreResult<bool> {
    let changed = conn
        .prepare_cached(PUT)
        .map_err(db)?
        .execute(params![state.name, sql_seq(state.seq), state.at_ms, state.body])
        .map_err(db)?;
    Ok(changed > 0)
}

pub(super) fn get(conn: &Connection, name: &str) -> StoreResult<Option<StateRecord>> {
    let row = conn
        .prepare_cached(GET)
        .map_err(db)?
        .query_row([name], |row| Ok((row.get::<_, i64>(0)?, row.get(1)?, row.get(2)?)))
        .optional()
        .map_err(db)?;
    row.map(|(seq, at_ms, body)| {
        Ok(StateRecord { name: name.to_owned(), seq: stored_u64("state seq", seq)?, at_ms, body })
    })
    .transpose()
}
