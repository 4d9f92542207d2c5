//! Model versions: artifacts with their metadata, the one active version, pruning.

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::{corrupt, db, sql_limit, stored_u64};
use crate::codec;
use crate::{ARTIFACT_PART_BYTES, ModelRecord, NewModel, StoreError, StoreResult};

/// The most bytes reserved up front for an artifact by its stored size (a corrupt size must not
/// allocate without bound; a larger artifact still reads, growing as it goes).
const MAX_ARTIFACT_RESERVE: usize = 1 << 30;

/// Every column but the artifact, which only [`artifact`] reads (a macro so that `concat!` can
/// build the statements at compile time).
macro_rules! columns {
    () => {
        "version, name, params, trained_on_seq, metrics, created_at_ms, artifact_bytes, active"
    };
}

const INSERT: &str = "INSERT INTO models
    (name, params, trained_on_seq, metrics, created_at_ms, artifact_bytes, active, artifact)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)";

pub(super) fn put(conn: &mut Connection, model: NewModel, artifact: &[u8]) -> StoreResult<ModelRecord> {
    let (params_json, metrics_json) = codec::model_json(&model.params, &model.metrics)?;
    let trained_on_seq = i64::try_from(model.trained_on_seq).map_err(|_| {
        corrupt("model", format_args!("trained_on_seq {} is beyond any stored seq", model.trained_on_seq))
    })?;
    let artifact_bytes = artifact.len() as u64;
    // The row and its parts in one transaction: a version is never seen with half an artifact.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    tx.prepare_cached(INSERT)
        .map_err(db)?
        .execute(params![
            model.name,
            params_json,
            trained_on_seq,
            metrics_json,
            model.created_at_ms,
            i64::try_from(artifact_bytes).unwrap_or(i64::MAX),
            &[] as &[u8],
        ])
        .map_err(db)?;
    let key = tx.last_insert_rowid();
    {
        let mut insert = tx
            .prepare_cached("INSERT INTO model_parts (version, part, bytes) VALUES (?1, ?2, ?3)")
            .map_err(db)?;
        for (part, bytes) in artifact.chunks(ARTIFACT_PART_BYTES).enumerate() {
            insert.execute(params![key, part as i64, bytes]).map_err(db)?;
        }
    }
    tx.commit().map_err(db)?;
    let version = stored_u64("model version", key)?;
    Ok(ModelRecord { version, active: false, artifact_bytes, model })
}

pub(super) fn all(conn: &Connection) -> StoreResult<Vec<ModelRecord>> {
    let mut stmt = conn
        .prepare_cached(concat!("SELECT ", columns!(), " FROM models ORDER BY version DESC"))
        .map_err(db)?;
    let mut rows = stmt.query([]).map_err(db)?;
    let mut models = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        models.push(read_model(row)?);
    }
    Ok(models)
}

pub(super) fn artifact(conn: &Connection, version: u64) -> StoreResult<Option<Vec<u8>>> {
    let Ok(key) = i64::try_from(version) else {
        return Ok(None);
    };
    // One snapshot for the row and its parts (a prune between two reads would lose the parts).
    let tx = conn.unchecked_transaction().map_err(db)?;
    let row: Option<(Vec<u8>, i64)> = tx
        .prepare_cached("SELECT artifact, artifact_bytes FROM models WHERE version = ?1")
        .map_err(db)?
        .query_row([key], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
        .map_err(db)?;
    let Some((column, bytes)) = row else {
        return Ok(None);
    };
    let (artifact, parts) = {
        let mut stmt = tx
            .prepare_cached("SELECT bytes FROM model_parts WHERE version = ?1 ORDER BY part")
            .map_err(db)?;
        let mut rows = stmt.query([key]).map_err(db)?;
        let mut artifact = Vec::new();
        let mut parts = 0usize;
        while let Some(row) = rows.next().map_err(db)? {
            let part =
                row.get_ref(0).map_err(db)?.as_blob().map_err(|e| corrupt("model", format_args!("{e}")))?;
            if parts == 0 {
                artifact.reserve_exact(usize::try_from(bytes).unwrap_or(0).min(MAX_ARTIFACT_RESERVE));
            }
            artifact.extend_from_slice(part);
            parts += 1;
        }
        (artifact, parts)
    };
    tx.finish().map_err(db)?;
    codec::artifact_from(version, column, (parts > 0).then_some(artifact), bytes).map(Some)
}

pub(super) fn activate(conn: &mut Connection, version: u64) -> StoreResult<ModelRecord> {
    let not_found = || StoreError::NotFound { what: "model", id: version.to_string() };
    let key = i64::try_from(version).map_err(|_| not_found())?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let Some(mut model) = by_version(&tx, key)? else {
        return Err(not_found());
    };
    // Deactivating first keeps the one-active unique index satisfied after each statement.
    tx.prepare_cached("UPDATE models SET active = 0 WHERE active = 1 AND version <> ?1")
        .map_err(db)?
        .execute([key])
        .map_err(db)?;
    tx.prepare_cached("UPDATE models SET active = 1 WHERE version = ?1 AND active = 0")
        .map_err(db)?
        .execute([key])
        .map_err(db)?;
    tx.commit().map_err(db)?;
    model.active = true;
    Ok(model)
}

pub(super) fn active(conn: &Connection) -> StoreResult<Option<ModelRecord>> {
    let mut stmt =
        conn.prepare_cached(concat!("SELECT ", columns!(), " FROM models WHERE active = 1")).map_err(db)?;
    let mut rows = stmt.query([]).map_err(db)?;
    rows.next().map_err(db)?.map(read_model).transpose()
}

pub(super) fn prune(conn: &mut Connection, keep: usize) -> StoreResult<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let pruned = tx
        .prepare_cached(
            "DELETE FROM models WHERE active = 0
                AND version NOT IN (SELECT version FROM models ORDER BY version DESC LIMIT ?1)",
        )
        .map_err(db)?
        .execute([sql_limit(keep)])
        .map_err(db)?;
    tx.prepare_cached("DELETE FROM model_parts WHERE version NOT IN (SELECT version FROM models)")
        .map_err(db)?
        .execute([])
        .map_err(db)?;
    tx.commit().map_err(db)?;
    Ok(pruned)
}

fn by_version(conn: &Connection, version: i64) -> StoreResult<Option<ModelRecord>> {
    let mut stmt =
        conn.prepare_cached(concat!("SELECT ", columns!(), " FROM models WHERE version = ?1")).map_err(db)?;
    let mut rows = stmt.query([version]).map_err(db)?;
    rows.next().map_err(db)?.map(read_model).transpose()
}

fn read_model(row: &Row<'_>) -> StoreResult<ModelRecord> {
    let version = stored_u64("model version", row.get(0).map_err(db)?)?;
    let text = |i: usize| -> StoreResult<&str> {
        row.get_ref(i)
            .map_err(db)?
            .as_str()
            .map_err(|e| corrupt("model", format_args!("version {version}: {e}")))
    };
    let (params, metrics) = codec::model_from_json(version, text(2)?, text(4)?)?;
    let model = NewModel {
        name: row.get(1).map_err(db)?,
        params,
        trained_on_seq: stored_u64("model trained_on_seq", row.get(3).map_err(db)?)?,
        metrics,
        created_at_ms: row.get(5).map_err(db)?,
    };
    Ok(ModelRecord {
        version,
        active: row.get(7).map_err(db)?,
        artifact_bytes: stored_u64("model artifact_bytes", row.get(6).map_err(db)?)?,
        model,
    })
}
