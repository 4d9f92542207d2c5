//! Model versions: artifacts with their metadata, the one active version, pruning.

use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};

use super::feed::{self, Change};
use super::{PgStore, corrupt, db, lock_key, sql_limit, stored_u64};
use crate::codec;
use crate::{ARTIFACT_PART_BYTES, ModelRecord, NewModel, StoreError, StoreResult};

/// Every column but the artifact, which only [`artifact`] reads.
macro_rules! columns {
    () => {
        "version, name, params, trained_on_seq, metrics, created_at_ms, artifact_bytes, active"
    };
}

const INSERT: &str = "INSERT INTO models
    (name, params, trained_on_seq, metrics, created_at_ms, artifact_bytes, active, artifact)
    VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7) RETURNING version";

pub(super) async fn put(pool: &PgPool, model: NewModel, artifact: Vec<u8>) -> StoreResult<ModelRecord> {
    let (params, metrics) = codec::model_json(&model.params, &model.metrics)?;
    let trained_on_seq = i64::try_from(model.trained_on_seq).map_err(|_| {
        corrupt("model", format_args!("trained_on_seq {} is beyond any stored seq", model.trained_on_seq))
    })?;
    let artifact_bytes = artifact.len() as u64;
    // The row and its parts in one transaction: a version is never seen with half an artifact.
    let mut tx = pool.begin().await.map_err(db)?;
    let version: i64 = sqlx::query_scalar(INSERT)
        .bind(&model.name)
        .bind(params)
        .bind(trained_on_seq)
        .bind(metrics)
        .bind(model.created_at_ms)
        .bind(i64::try_from(artifact_bytes).unwrap_or(i64::MAX))
        .bind(Vec::<u8>::new())
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
    for (part, bytes) in artifact.chunks(ARTIFACT_PART_BYTES).enumerate() {
        sqlx::query("INSERT INTO model_parts (version, part, bytes) VALUES ($1, $2, $3)")
            .bind(version)
            .bind(i32::try_from(part).unwrap_or(i32::MAX))
            .bind(bytes)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    Ok(ModelRecord { version: stored_u64("model version", version)?, active: false, artifact_bytes, model })
}

pub(super) async fn all(pool: &PgPool) -> StoreResult<Vec<ModelRecord>> {
    let rows = sqlx::query(concat!("SELECT ", columns!(), " FROM models ORDER BY version DESC"))
        .fetch_all(pool)
        .await
        .map_err(db)?;
    rows.iter().map(read_model).collect()
}

pub(super) async fn artifact(pool: &PgPool, version: u64) -> StoreResult<Option<Vec<u8>>> {
    let Ok(key) = i64::try_from(version) else {
        return Ok(None);
    };
    // One snapshot for the row and its parts (a prune between two reads would lose the parts).
    let mut tx = pool.begin().await.map_err(db)?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let row: Option<(Vec<u8>, i64)> =
        sqlx::query_as("SELECT artifact, artifact_bytes FROM models WHERE version = $1")
            .bind(key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
    let Some((column, bytes)) = row else {
        return Ok(None);
    };
    let parts: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT bytes FROM model_parts WHERE version = $1 ORDER BY part")
            .bind(key)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
    tx.commit().await.map_err(db)?;
    codec::artifact_from(version, column, (!parts.is_empty()).then(|| parts.concat()), bytes).map(Some)
}

/// Whether the leadership of epoch `fence` is the current one and its session still holds the
/// leader lock (the lock's 64-bit key is split into `classid`, `objid` in `pg_locks`).
const FENCE: &str = "SELECT EXISTS (SELECT 1 FROM leadership l JOIN pg_locks k ON k.pid = l.holder_pid
    WHERE l.epoch = $1 AND k.locktype = 'advisory' AND k.granted
        AND k.classid::int8 = $2 AND k.objid::int8 = $3 AND k.objsubid = 1)";

pub(super) async fn activate(store: &PgStore, version: u64, fence: Option<u64>) -> StoreResult<ModelRecord> {
    let not_found = || StoreError::NotFound { what: "model", id: version.to_string() };
    let key = i64::try_from(version).map_err(|_| not_found())?;
    let mut tx = store.pool().begin().await.map_err(db)?;
    // Activations (from any replica) run one at a time, so each sees the one the last one left.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock_key(store.schema(), "models"))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let row = sqlx::query(concat!("SELECT ", columns!(), " FROM models WHERE version = $1"))
        .bind(key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
    let Some(row) = row else {
        return Err(not_found());
    };
    let mut model = read_model(&row)?;
    if let Some(epoch) = fence {
        let key = store.inner.leader_lock as u64;
        let current: bool = sqlx::query_scalar(FENCE)
            .bind(i64::try_from(epoch).unwrap_or(i64::MAX))
            .bind((key >> 32) as i64)
            .bind((key & 0xffff_ffff) as i64)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if !current {
            return Err(StoreError::Fenced(format!(
                "leadership epoch {epoch} is no longer current: another replica leads now"
            )));
        }
    }
    // Deactivating first keeps the one-active unique index satisfied after each row.
    sqlx::query("UPDATE models SET active = FALSE WHERE active AND version <> $1")
        .bind(key)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    sqlx::query("UPDATE models SET active = TRUE WHERE version = $1 AND NOT active")
        .bind(key)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    feed::notify(&mut *tx, store, &Change::Model { version }).await?;
    tx.commit().await.map_err(db)?;
    model.active = true;
    Ok(model)
}

pub(super) async fn active(pool: &PgPool) -> StoreResult<Option<ModelRecord>> {
    let row = sqlx::query(concat!("SELECT ", columns!(), " FROM models WHERE active"))
        .fetch_optional(pool)
        .await
        .map_err(db)?;
    row.as_ref().map(read_model).transpose()
}

pub(super) async fn prune(pool: &PgPool, keep: usize) -> StoreResult<usize> {
    let mut tx = pool.begin().await.map_err(db)?;
    let done = sqlx::query(
        "DELETE FROM models WHERE NOT active
            AND version NOT IN (SELECT version FROM models ORDER BY version DESC LIMIT $1)",
    )
    .bind(sql_limit(keep))
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    sqlx::query("DELETE FROM model_parts WHERE version NOT IN (SELECT version FROM models)")
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
}

fn read_model(row: &PgRow) -> StoreResult<ModelRecord> {
    let version = stored_u64("model version", row.try_get(0).map_err(db)?)?;
    let (params, metrics) =
        codec::model_from_json(version, row.try_get(2).map_err(db)?, row.try_get(4).map_err(db)?)?;
    let model = NewModel {
        name: row.try_get(1).map_err(db)?,
        params,
        trained_on_seq: stored_u64("model trained_on_seq", row.try_get(3).map_err(db)?)?,
        metrics,
        created_at_ms: row.try_get(5).map_err(db)?,
    };
    Ok(ModelRecord {
        version,
        active: row.try_get(7).map_err(db)?,
        artifact_bytes: stored_u64("model artifact_bytes", row.try_get(6).map_err(db)?)?,
        model,
    })
}
