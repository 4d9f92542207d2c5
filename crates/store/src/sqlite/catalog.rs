//! Items and users: upserts, point reads, deletes and keyset-paginated listings.

use super::{corrupt, db, sql_limit};
use crate::codec;
use crate::codec::stored_u64;
use crate::{ItemRecord, Page, PageRequest, StoreResult, Tombstone, UserRecord, UserRemoval};
use rusqlite::{Connection, Row, TransactionBehavior, params};

const UPSERT_ITEM: &str = "INSERT INTO items (id, body, updated_at_ms) VALUES (?1, ?2, ?3)
    ON CONFLICT (id) DO UPDATE SET body = excluded.body, updated_at_ms = excluded.updated_at_ms";
const ITEM: &str = "SELECT id, body, updated_at_ms FROM items WHERE id = ?1";
const ITEMS_FIRST: &str = "SELECT id, body, updated_at_ms FROM items ORDER BY id LIMIT ?1";
const ITEMS_AFTER: &str = "SELECT id, body, updated_at_ms FROM items WHERE id > ?2 ORDER BY id LIMIT ?1";

const UPSERT_USER: &str = "INSERT INTO users (id, attributes, updated_at_ms) VALUES (?1, ?2, ?3)
    ON CONFLICT (id) DO UPDATE SET attributes = excluded.attributes, updated_at_ms = excluded.updated_at_ms";
const USER: &str = "SELECT id, attributes, updated_at_ms FROM users WHERE id = ?1";
const USERS_FIRST: &str = "SELECT id, attributes, updated_at_ms FROM users ORDER BY id LIMIT ?1";
const USERS_AFTER: &str =
    "SELECT id, attributes, updated_at_ms FROM users WHERE id > ?2 ORDER BY id LIMIT ?1";

fn read_item(row: &Row<'_>) -> StoreResult<ItemRecord> {
    let id: String = row.get(0).map_err(db)?;
    let body = row.get_ref(1).map_err(db)?.as_str().map_err(|e| corrupt("item", e))?;
    codec::item_from_body(id, body, row.get(2).map_err(db)?)
}

fn read_user(row: &Row<'_>) -> StoreResult<UserRecord> {
    let id: String = row.get(0).map_err(db)?;
    let attributes = codec::attributes_from_text(
        &id,
        row.get_ref(1).map_err(db)?.as_str().map_err(|e| corrupt("user", e))?,
    )?;
    Ok(UserRecord { id, attributes, updated_at_ms: row.get(2).map_err(db)? })
}

pub(super) fn put_items(conn: &mut Connection, items: &[ItemRecord]) -> StoreResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    {
        let mut upsert = tx.prepare_cached(UPSERT_ITEM).map_err(db)?;
        for item in items {
            upsert.execute(params![item.id, codec::item_body(item)?, item.updated_at_ms]).map_err(db)?;
        }
    }
    tx.commit().map_err(db)
}

pub(super) fn item(conn: &Connection, id: &str) -> StoreResult<Option<ItemRecord>> {
    one(conn, ITEM, id, read_item)
}

pub(super) fn delete_item(conn: &mut Connection, id: &str) -> StoreResult<bool> {
    let deleted =
        conn.prepare_cached("DELETE FROM items WHERE id = ?1").map_err(db)?.execute([id]).map_err(db)?;
    Ok(deleted > 0)
}

pub(super) fn items(conn: &Connection, page: &PageRequest) -> StoreResult<Page<ItemRecord>> {
    list(conn, (ITEMS_FIRST, ITEMS_AFTER), page, read_item, |item| &item.id)
}

pub(super) fn put_users(conn: &mut Connection, users: &[UserRecord]) -> StoreResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    {
        let mut upsert = tx.prepare_cached(UPSERT_USER).map_err(db)?;
        for user in users {
            let attributes = serde_json::to_string(&user.attributes).map_err(|e| corrupt("user", e))?;
            upsert.execute(params![user.id, attributes, user.updated_at_ms]).map_err(db)?;
        }
    }
    tx.commit().map_err(db)
}

pub(super) fn user(conn: &Connection, id: &str) -> StoreResult<Option<UserRecord>> {
    one(conn, USER, id, read_user)
}

/// Deletes the user and their events, and keeps a tombstone at the log's newest sequence number
/// (read before their events go, so that it is at least the seq of any event a model holds).
pub(super) fn delete_user(conn: &mut Connection, id: &str, at_ms: i64) -> StoreResult<UserRemoval> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let at_seq: i64 = tx
        .prepare_cached("SELECT coalesce(max(seq), 0) FROM events")
        .map_err(db)?
        .query_row([], |r| r.get(0))
        .map_err(db)?;
    let events =
        tx.prepare_cached("DELETE FROM events WHERE user_id = ?1").map_err(db)?.execute([id]).map_err(db)?;
    tx.prepare_cached(super::events::COUNT_EVENTS).map_err(db)?.execute([-(events as i64)]).map_err(db)?;
    let users =
        tx.prepare_cached("DELETE FROM users WHERE id = ?1").map_err(db)?.execute([id]).map_err(db)?;
    tx.prepare_cached(
        "INSERT INTO deleted_users (user_id, at_seq, at_ms) VALUES (?1, ?2, ?3)
            ON CONFLICT (user_id) DO UPDATE SET at_seq = excluded.at_seq, at_ms = excluded.at_ms",
    )
    .map_err(db)?
    .execute(params![id, at_seq, at_ms])
    .map_err(db)?;
    tx.commit().map_err(db)?;
    Ok(UserRemoval { existed: users > 0, events: events as u64, at_seq: stored_u64("event seq", at_seq)? })
}

pub(super) fn deleted_users(conn: &Connection) -> StoreResult<Vec<Tombstone>> {
    let mut stmt =
        conn.prepare_cached("SELECT user_id, at_seq FROM deleted_users ORDER BY user_id").map_err(db)?;
    let mut rows = stmt.query([]).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        out.push(Tombstone {
            user_id: row.get(0).map_err(db)?,
            at_seq: stored_u64("tombstone seq", row.get(1).map_err(db)?)?,
        });
    }
    Ok(out)
}

pub(super) fn prune_deleted_users(conn: &mut Connection, below_seq: u64) -> StoreResult<usize> {
    conn.prepare_cached("DELETE FROM deleted_users WHERE at_seq < ?1")
        .map_err(db)?
        .execute([crate::codec::sql_seq(below_seq)])
        .map_err(db)
}

pub(super) fn users(conn: &Connection, page: &PageRequest) -> StoreResult<Page<UserRecord>> {
    list(conn, (USERS_FIRST, USERS_AFTER), page, read_user, |user| &user.id)
}

/// The row with primary key `id` of a `SELECT ... WHERE id = ?1`, decoded by `read`.
fn one<T>(
    conn: &Connection,
    sql: &str,
    id: &str,
    read: impl FnOnce(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let mut rows = stmt.query([id]).map_err(db)?;
    rows.next().map_err(db)?.map(read).transpose()
}

/// One keyset page: `sql.0` lists from the start, `sql.1` after the cursor `?2`; both take the
/// row limit as `?1`. One row more than asked tells whether there is a next page.
fn list<T>(
    conn: &Connection,
    sql: (&str, &str),
    page: &PageRequest,
    read: impl Fn(&Row<'_>) -> StoreResult<T>,
    id_of: impl Fn(&T) -> &str,
) -> StoreResult<Page<T>> {
    // An empty page has no last row to continue after, so it cannot name a next page either.
    if page.limit == 0 {
        return Ok(Page { rows: Vec::new(), next: None });
    }
    let fetch = sql_limit(page.limit.saturating_add(1));
    let mut rows = match &page.after {
        None => {
            let mut stmt = conn.prepare_cached(sql.0).map_err(db)?;
            collect(stmt.query(params![fetch]).map_err(db)?, &read)?
        }
        Some(after) => {
            let mut stmt = conn.prepare_cached(sql.1).map_err(db)?;
            collect(stmt.query(params![fetch, after]).map_err(db)?, &read)?
        }
    };
    let more = rows.len() > page.limit;
    rows.truncate(page.limit);
    let next = if more { rows.last().map(|row| id_of(row).to_owned()) } else { None };
    Ok(Page { rows, next })
}

fn collect<T>(
    mut rows: rusqlite::Rows<'_>,
    read: &impl Fn(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        out.push(read(row)?);
    }
    Ok(out)
}
