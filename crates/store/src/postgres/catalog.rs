//! Items and users: batch upserts over `UNNEST`, point reads, deletes, keyset listings.

use std::collections::HashMap;

use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Executor, Postgres, Row};

use super::feed::{self, Change};
use super::{PgStore, db, sql_limit, stored_u64};
use crate::codec;
use crate::{ItemRecord, Page, PageRequest, StoreResult, Tombstone, UserRecord, UserRemoval};

const UPSERT_ITEMS: &str = "INSERT INTO items (id, body, updated_at_ms)
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[])
    ON CONFLICT (id) DO UPDATE SET body = excluded.body, updated_at_ms = excluded.updated_at_ms";
const ITEM: &str = "SELECT id, body, updated_at_ms FROM items WHERE id = $1";
const ITEMS_FIRST: &str = "SELECT id, body, updated_at_ms FROM items ORDER BY id LIMIT $1";
const ITEMS_AFTER: &str = "SELECT id, body, updated_at_ms FROM items
    WHERE id > $2 ORDER BY id LIMIT $1";

const UPSERT_USERS: &str = "INSERT INTO users (id, attributes, updated_at_ms)
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[])
    ON CONFLICT (id) DO UPDATE SET attributes = excluded.attributes, updated_at_ms = excluded.updated_at_ms";
const USER: &str = "SELECT id, attributes, updated_at_ms FROM users WHERE id = $1";
const USERS_FIRST: &str = "SELECT id, attributes, updated_at_ms FROM users ORDER BY id LIMIT $1";
const USERS_AFTER: &str = "SELECT id, attributes, updated_at_ms FROM users
    WHERE id > $2 ORDER BY id LIMIT $1";

/// `NOTIFY` payloads are limited to 8,000 bytes: a batch naming more ids than fit asks the
/// listeners to reload the whole catalog instead.
const NOTIFY_ID_BYTES: usize = 6_000;

/// The last record of each id, in first-seen order: one `INSERT ... ON CONFLICT DO UPDATE` may not
/// touch a row twice, and sequential upserts would leave the last one anyway.
fn last_per_id<T>(rows: Vec<T>, id: impl Fn(&T) -> &str) -> Vec<T> {
    let mut index: HashMap<String, usize> = HashMap::with_capacity(rows.len());
    let mut out: Vec<T> = Vec::with_capacity(rows.len());
    for row in rows {
        match index.get(id(&row)) {
            Some(&k) => out[k] = row,
            None => {
                index.insert(id(&row).to_owned(), out.len());
                out.push(row);
            }
        }
    }
    out
}

fn read_item(row: &PgRow) -> StoreResult<ItemRecord> {
    codec::item_from_body(
        row.try_get(0).map_err(db)?,
        row.try_get(1).map_err(db)?,
        row.try_get(2).map_err(db)?,
    )
}

fn read_user(row: &PgRow) -> StoreResult<UserRecord> {
    let id: String = row.try_get(0).map_err(db)?;
    let attributes = codec::attributes_from_text(&id, row.try_get(1).map_err(db)?)?;
    Ok(UserRecord { id, attributes, updated_at_ms: row.try_get(2).map_err(db)? })
}

/// The change that tells other replicas these items were written or deleted.
fn items_changed(ids: Vec<String>) -> Change {
    let bytes: usize = ids.iter().map(|id| id.len() + 3).sum();
    Change::Items { ids: (bytes <= NOTIFY_ID_BYTES).then_some(ids) }
}

pub(super) async fn put_items(store: &PgStore, items: Vec<ItemRecord>) -> StoreResult<()> {
    if items.is_empty() {
        return Ok(());
    }
    let items = last_per_id(items, |i| &i.id);
    let mut ids = Vec::with_capacity(items.len());
    let mut bodies = Vec::with_capacity(items.len());
    let mut times = Vec::with_capacity(items.len());
    for item in &items {
        bodies.push(codec::item_body(item)?);
        times.push(item.updated_at_ms);
    }
    ids.extend(items.into_iter().map(|i| i.id));
    let mut tx = store.pool().begin().await.map_err(db)?;
    sqlx::query(UPSERT_ITEMS).bind(&ids).bind(&bodies).bind(&times).execute(&mut *tx).await.map_err(db)?;
    feed::notify(&mut *tx, store, &items_changed(ids)).await?;
    tx.commit().await.map_err(db)
}

pub(super) async fn item(pool: &PgPool, id: &str) -> StoreResult<Option<ItemRecord>> {
    let row = sqlx::query(ITEM).bind(id).fetch_optional(pool).await.map_err(db)?;
    row.as_ref().map(read_item).transpose()
}

pub(super) async fn delete_item(store: &PgStore, id: &str) -> StoreResult<bool> {
    let mut tx = store.pool().begin().await.map_err(db)?;
    let deleted =
        sqlx::query("DELETE FROM items WHERE id = $1").bind(id).execute(&mut *tx).await.map_err(db)?;
    if deleted.rows_affected() > 0 {
        feed::notify(&mut *tx, store, &items_changed(vec![id.to_owned()])).await?;
    }
    tx.commit().await.map_err(db)?;
    Ok(deleted.rows_affected() > 0)
}

pub(super) async fn items(pool: &PgPool, page: &PageRequest) -> StoreResult<Page<ItemRecord>> {
    list(pool, (ITEMS_FIRST, ITEMS_AFTER), page, read_item, |item| &item.id).await
}

pub(super) async fn put_users(pool: &PgPool, users: Vec<UserRecord>) -> StoreResult<()> {
    if users.is_empty() {
        return Ok(());
    }
    let users = last_per_id(users, |u| &u.id);
    let mut attributes = Vec::with_capacity(users.len());
    let mut times = Vec::with_capacity(users.len());
    for user in &users {
        attributes.push(serde_json::to_string(&user.attributes).map_err(|e| super::corrupt("user", e))?);
        times.push(user.updated_at_ms);
    }
    let ids: Vec<String> = users.into_iter().map(|u| u.id).collect();
    sqlx::query(UPSERT_USERS).bind(&ids).bind(&attributes).bind(&times).execute(pool).await.map_err(db)?;
    Ok(())
}

pub(super) async fn user(pool: &PgPool, id: &str) -> StoreResult<Option<UserRecord>> {
    let row = sqlx::query(USER).bind(id).fetch_optional(pool).await.map_err(db)?;
    row.as_ref().map(read_user).transpose()
}

/// Deletes the user and their events and keeps a tombstone at the log's newest sequence number.
/// It takes the append lock, so that the number is read in commit order: an append committing
/// after it gets a higher one.
pub(super) async fn delete_user(store: &PgStore, id: &str) -> StoreResult<UserRemoval> {
    let mut tx = store.pool().begin().await.map_err(db)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(store.inner.append_lock)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let at_seq: i64 = sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM events")
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
    let events =
        sqlx::query("DELETE FROM events WHERE user_id = $1").bind(id).execute(&mut *tx).await.map_err(db)?;
    let users =
        sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut *tx).await.map_err(db)?;
    sqlx::query(
        "INSERT INTO deleted_users (user_id, at_seq, at_ms) VALUES ($1, $2, $3)
            ON CONFLICT (user_id) DO UPDATE SET at_seq = excluded.at_seq, at_ms = excluded.at_ms",
    )
    .bind(id)
    .bind(at_seq)
    .bind(codec::now_ms())
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let at_seq = stored_u64("event seq", at_seq)?;
    feed::notify(&mut *tx, store, &Change::UserDeleted { id: id.to_owned(), at_seq }).await?;
    tx.commit().await.map_err(db)?;
    Ok(UserRemoval { existed: users.rows_affected() > 0, events: events.rows_affected(), at_seq })
}

pub(super) async fn deleted_users(pool: &PgPool) -> StoreResult<Vec<Tombstone>> {
    let rows = sqlx::query("SELECT user_id, at_seq FROM deleted_users ORDER BY user_id")
        .fetch_all(pool)
        .await
        .map_err(db)?;
    rows.iter()
        .map(|r| {
            Ok(Tombstone {
                user_id: r.try_get(0).map_err(db)?,
                at_seq: stored_u64("tombstone seq", r.try_get(1).map_err(db)?)?,
            })
        })
        .collect()
}

pub(super) async fn prune_deleted_users(pool: &PgPool, below_seq: u64) -> StoreResult<usize> {
    let done = sqlx::query("DELETE FROM deleted_users WHERE at_seq < $1")
        .bind(codec::sql_seq(below_seq))
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
}

pub(super) async fn users(pool: &PgPool, page: &PageRequest) -> StoreResult<Page<UserRecord>> {
    list(pool, (USERS_FIRST, USERS_AFTER), page, read_user, |user| &user.id).await
}

/// One keyset page in byte order of the id (the columns are `COLLATE "C"`, as SQLite compares): `sql.0` lists from
/// the start, `sql.1` after the cursor `$2`; both take the row limit as `$1`. One row more than
/// asked tells whether there is a next page.
async fn list<'c, T>(
    pool: impl Executor<'c, Database = Postgres>,
    sql: (&'static str, &'static str),
    page: &PageRequest,
    read: impl Fn(&PgRow) -> StoreResult<T>,
    id_of: impl Fn(&T) -> &str,
) -> StoreResult<Page<T>> {
    if page.limit == 0 {
        return Ok(Page { rows: Vec::new(), next: None });
    }
    let fetch = sql_limit(page.limit.saturating_add(1));
    let rows = match &page.after {
        None => sqlx::query(sql.0).bind(fetch).fetch_all(pool).await,
        // PostgreSQL text holds no NUL, so no stored id has one, and for such ids `id > c` is
        // exactly `id > (c up to its first NUL)`.
        Some(after) => {
            let after = after.split('\0').next().unwrap_or_default();
            sqlx::query(sql.1).bind(fetch).bind(after).fetch_all(pool).await
        }
    }
    .map_err(db)?;
    let mut rows = rows.iter().map(read).collect::<StoreResult<Vec<T>>>()?;
    let more = rows.len() > page.limit;
    rows.truncate(page.limit);
    let next = if more { rows.last().map(|row| id_of(row).to_owned()) } else { None };
    Ok(Page { rows, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_record_of_an_id_wins_in_first_seen_order() {
        let rows = vec![("a", 1), ("b", 2), ("a", 3)];
        assert_eq!(last_per_id(rows, |r| r.0), vec![("a", 3), ("b", 2)]);
    }

    #[test]
    fn many_ids_ask_for_a_full_reload() {
        assert_eq!(items_changed(vec!["x".into()]), Change::Items { ids: Some(vec!["x".into()]) });
        let many: Vec<String> = (0..2_000).map(|n| format!("item-{n}")).collect();
        assert_eq!(items_changed(many), Change::Items { ids: None });
    }
}
