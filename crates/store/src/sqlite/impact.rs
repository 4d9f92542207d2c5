//! Placements, experiments, impressions, rollups and attribution on SQLite.

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::{db, sql_limit, sql_seq, stored_u64};
use crate::impact::{BatchSums, CreditSums, items_from_json, items_json};
use crate::{
    Credit, ExperimentRecord, Impression, InterleaveOutcome, PlacementRecord, Rollup, RollupQuery,
    StoreResult, UnitCounters,
};

const PLACEMENT_COLUMNS: &str = "id, version, config, at_ms";
const IMPRESSION_COLUMNS: &str = "recommendation_id, at_ms, placement, experiment, variant, unit, user_id, model_version, covariate, items";

fn placement_row(row: &Row<'_>) -> StoreResult<PlacementRecord> {
    Ok(PlacementRecord {
        id: row.get(0).map_err(db)?,
        version: stored_u64("placement version", row.get(1).map_err(db)?)?,
        config: row.get(2).map_err(db)?,
        at_ms: row.get(3).map_err(db)?,
    })
}

pub(super) fn put_placement(
    conn: &mut Connection,
    id: &str,
    config: Option<&str>,
    at_ms: i64,
) -> StoreResult<PlacementRecord> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let last: i64 = tx
        .query_row("SELECT coalesce(max(version), 0) FROM placements WHERE id = ?1", [id], |r| r.get(0))
        .map_err(db)?;
    let version = last.saturating_add(1);
    tx.execute(
        "INSERT INTO placements (id, version, config, at_ms) VALUES (?1, ?2, ?3, ?4)",
        params![id, version, config, at_ms],
    )
    .map_err(db)?;
    tx.commit().map_err(db)?;
    Ok(PlacementRecord {
        id: id.to_owned(),
        version: stored_u64("placement version", version)?,
        config: config.map(str::to_owned),
        at_ms,
    })
}

pub(super) fn placement(
    conn: &Connection,
    id: &str,
    version: Option<u64>,
) -> StoreResult<Option<PlacementRecord>> {
    let sql = match version {
        Some(_) => format!("SELECT {PLACEMENT_COLUMNS} FROM placements WHERE id = ?1 AND version = ?2"),
        None => format!(
            "SELECT {PLACEMENT_COLUMNS} FROM placements WHERE id = ?1 AND version >= ?2
                ORDER BY version DESC LIMIT 1"
        ),
    };
    let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
    let mut rows = stmt.query(params![id, sql_seq(version.unwrap_or(0))]).map_err(db)?;
    match rows.next().map_err(db)? {
        Some(row) => placement_row(row).map(Some),
        None => Ok(None),
    }
}

pub(super) fn placements(conn: &Connection) -> StoreResult<Vec<PlacementRecord>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {PLACEMENT_COLUMNS} FROM placements p
                WHERE version = (SELECT max(version) FROM placements q WHERE q.id = p.id)
                  AND config IS NOT NULL
                ORDER BY id"
        ))
        .map_err(db)?;
    let mut rows = stmt.query([]).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        out.push(placement_row(row)?);
    }
    Ok(out)
}

pub(super) fn create_experiment(conn: &mut Connection, r: &ExperimentRecord) -> StoreResult<bool> {
    let n = conn
        .execute(
            "INSERT INTO experiments (id, body, revision, created_at_ms) VALUES (?1, ?2, 1, ?3)
                ON CONFLICT (id) DO NOTHING",
            params![r.id, r.body, r.created_at_ms],
        )
        .map_err(db)?;
    Ok(n == 1)
}

pub(super) fn update_experiment(conn: &mut Connection, r: &ExperimentRecord) -> StoreResult<bool> {
    let n = conn
        .execute(
            "UPDATE experiments SET body = ?2, revision = ?3 WHERE id = ?1 AND revision = ?3 - 1",
            params![r.id, r.body, sql_seq(r.revision)],
        )
        .map_err(db)?;
    Ok(n == 1)
}

pub(super) fn experiments(conn: &Connection) -> StoreResult<Vec<ExperimentRecord>> {
    let mut stmt = conn
        .prepare_cached("SELECT id, body, revision, created_at_ms FROM experiments ORDER BY id")
        .map_err(db)?;
    let mut rows = stmt.query([]).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        out.push(ExperimentRecord {
            id: row.get(0).map_err(db)?,
            body: row.get(1).map_err(db)?,
            revision: stored_u64("experiment revision", row.get(2).map_err(db)?)?,
            created_at_ms: row.get(3).map_err(db)?,
        });
    }
    Ok(out)
}

const INSERT_IMPRESSION: &str = "INSERT INTO impressions
    (recommendation_id, at_ms, placement, experiment, variant, unit, user_id, model_version, covariate, items)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (recommendation_id) DO NOTHING";
const ADD_ROLLUP: &str = "INSERT INTO impact_rollups
    (bucket_ms, placement, experiment, variant, impressions, shown, clicks, carts, purchases, revenue, revenue_sq)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
    ON CONFLICT (bucket_ms, placement, experiment, variant) DO UPDATE SET
        impressions = impressions + excluded.impressions, shown = shown + excluded.shown,
        clicks = clicks + excluded.clicks, carts = carts + excluded.carts,
        purchases = purchases + excluded.purchases, revenue = revenue + excluded.revenue,
        revenue_sq = revenue_sq + excluded.revenue_sq";
const ADD_UNIT: &str = "INSERT INTO experiment_units
    (experiment, unit, variant, first_ms, impressions, clicks, carts, purchases, revenue, covariate)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
    ON CONFLICT (experiment, unit) DO UPDATE SET
        first_ms = min(first_ms, excluded.first_ms), impressions = impressions + excluded.impressions,
        clicks = clicks + excluded.clicks, carts = carts + excluded.carts,
        purchases = purchases + excluded.purchases, revenue = revenue + excluded.revenue";

fn count(n: u64) -> i64 {
    sql_seq(n)
}

pub(super) fn log_impressions(conn: &mut Connection, batch: &[Impression]) -> StoreResult<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let mut new = Vec::with_capacity(batch.len());
    {
        let mut insert = tx.prepare_cached(INSERT_IMPRESSION).map_err(db)?;
        for i in batch {
            let n = insert
                .execute(params![
                    i.recommendation_id,
                    i.at_ms,
                    i.placement,
                    i.experiment,
                    i.variant,
                    i.unit,
                    i.user_id,
                    i.model_version.map(sql_seq),
                    i.covariate,
                    items_json(&i.items)?,
                ])
                .map_err(db)?;
            if n == 1 {
                new.push(i);
            }
        }
        // Only the impressions stored now count, so a resent batch adds nothing.
        let sums = BatchSums::of(new.iter().copied());
        let mut rollup = tx.prepare_cached(ADD_ROLLUP).map_err(db)?;
        for ((bucket, placement, experiment, variant), (imps, shown)) in &sums.rollups {
            rollup
                .execute(params![
                    bucket,
                    placement,
                    experiment,
                    variant,
                    count(*imps),
                    count(*shown),
                    0,
                    0,
                    0,
                    0.0,
                    0.0
                ])
                .map_err(db)?;
        }
        let mut unit = tx.prepare_cached(ADD_UNIT).map_err(db)?;
        for ((experiment, u), s) in &sums.units {
            unit.execute(params![
                experiment,
                u,
                s.variant,
                s.first_ms,
                count(s.impressions),
                0,
                0,
                0,
                0.0,
                s.covariate
            ])
            .map_err(db)?;
        }
    }
    tx.commit().map_err(db)?;
    Ok(new.len())
}

fn impression_row(row: &Row<'_>) -> StoreResult<Impression> {
    let version: Option<i64> = row.get(7).map_err(db)?;
    let items: String = row.get(9).map_err(db)?;
    Ok(Impression {
        recommendation_id: row.get(0).map_err(db)?,
        at_ms: row.get(1).map_err(db)?,
        placement: row.get(2).map_err(db)?,
        experiment: row.get(3).map_err(db)?,
        variant: row.get(4).map_err(db)?,
        unit: row.get(5).map_err(db)?,
        user_id: row.get(6).map_err(db)?,
        model_version: version.map(|v| stored_u64("impression model version", v)).transpose()?,
        covariate: row.get(8).map_err(db)?,
        items: items_from_json(&items)?,
    })
}

fn impressions(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> StoreResult<Vec<Impression>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let mut rows = stmt.query(params).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        out.push(impression_row(row)?);
    }
    Ok(out)
}

pub(super) fn impression(conn: &Connection, id: &str) -> StoreResult<Option<Impression>> {
    let sql = format!("SELECT {IMPRESSION_COLUMNS} FROM impressions WHERE recommendation_id = ?1");
    Ok(impressions(conn, &sql, [id])?.pop())
}

pub(super) fn user_impressions(
    conn: &Connection,
    user: &str,
    since_ms: i64,
    limit: usize,
) -> StoreResult<Vec<Impression>> {
    let sql = format!(
        "SELECT {IMPRESSION_COLUMNS} FROM impressions WHERE user_id = ?1 AND at_ms >= ?2
            ORDER BY at_ms DESC LIMIT ?3"
    );
    impressions(conn, &sql, params![user, since_ms, sql_limit(limit)])
}

pub(super) fn impressions_between(
    conn: &Connection,
    from_ms: i64,
    to_ms: i64,
    after: Option<&(i64, String)>,
    limit: usize,
) -> StoreResult<Vec<Impression>> {
    let (at, id) = after.map_or((i64::MIN, ""), |(a, i)| (*a, i.as_str()));
    let sql = format!(
        "SELECT {IMPRESSION_COLUMNS} FROM impressions
            WHERE at_ms >= ?1 AND at_ms < ?2 AND (at_ms, recommendation_id) > (?3, ?4)
            ORDER BY at_ms, recommendation_id LIMIT ?5"
    );
    impressions(conn, &sql, params![from_ms, to_ms, at, id, sql_limit(limit)])
}

pub(super) fn prune_impressions(conn: &mut Connection, before_ms: i64) -> StoreResult<usize> {
    conn.execute("DELETE FROM impressions WHERE at_ms < ?1", [before_ms]).map_err(db)
}

pub(super) fn attribution_cursor(conn: &Connection) -> StoreResult<u64> {
    let seq: Option<i64> = conn
        .query_row("SELECT seq FROM attribution_cursor WHERE id = 1", [], |r| r.get(0))
        .optional()
        .map_err(db)?;
    stored_u64("attribution cursor", seq.unwrap_or(0))
}

const ADD_OUTCOME: &str =
    "INSERT INTO interleave_outcomes (experiment, recommendation_id, unit, clicks_a, clicks_b)
    VALUES (?1, ?2, ?3, ?4, ?5)
    ON CONFLICT (experiment, recommendation_id) DO UPDATE SET
        clicks_a = clicks_a + excluded.clicks_a, clicks_b = clicks_b + excluded.clicks_b";

pub(super) fn commit_attribution(
    conn: &mut Connection,
    from_seq: u64,
    to_seq: u64,
    credits: &[Credit],
) -> StoreResult<bool> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let moved = tx
        .execute(
            "UPDATE attribution_cursor SET seq = ?2 WHERE id = 1 AND seq = ?1",
            params![sql_seq(from_seq), sql_seq(to_seq)],
        )
        .map_err(db)?;
    if moved != 1 {
        return Ok(false);
    }
    let sums = CreditSums::of(credits);
    {
        let mut rollup = tx.prepare_cached(ADD_ROLLUP).map_err(db)?;
        for ((bucket, placement, experiment, variant), c) in &sums.rollups {
            rollup
                .execute(params![
                    bucket,
                    placement,
                    experiment,
                    variant,
                    0,
                    0,
                    count(c.clicks),
                    count(c.carts),
                    count(c.purchases),
                    c.revenue,
                    c.revenue_sq
                ])
                .map_err(db)?;
        }
        // A credited unit always has its impression's row; `UPDATE` leaves a pruned one alone.
        let mut unit = tx
            .prepare_cached(
                "UPDATE experiment_units SET clicks = clicks + ?3, carts = carts + ?4,
                    purchases = purchases + ?5, revenue = revenue + ?6
                    WHERE experiment = ?1 AND unit = ?2",
            )
            .map_err(db)?;
        for ((experiment, u), c) in &sums.units {
            unit.execute(params![
                experiment,
                u,
                count(c.clicks),
                count(c.carts),
                count(c.purchases),
                c.revenue
            ])
            .map_err(db)?;
        }
        let mut outcome = tx.prepare_cached(ADD_OUTCOME).map_err(db)?;
        for ((experiment, rec), t) in &sums.interleave {
            outcome.execute(params![experiment, rec, t.unit, count(t.a), count(t.b)]).map_err(db)?;
        }
    }
    tx.commit().map_err(db)?;
    Ok(true)
}

pub(super) fn rollups(conn: &Connection, q: &RollupQuery) -> StoreResult<Vec<Rollup>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT bucket_ms, placement, experiment, variant, impressions, shown, clicks, carts, purchases,
                    revenue, revenue_sq
                FROM impact_rollups
                WHERE bucket_ms >= ?1 AND bucket_ms < ?2
                  AND (?3 IS NULL OR placement = ?3) AND (?4 IS NULL OR experiment = ?4)
                  AND (?5 IS NULL OR variant = ?5)
                ORDER BY bucket_ms, placement, experiment, variant",
        )
        .map_err(db)?;
    let mut rows = stmt
        .query(params![crate::impact::hour_bucket(q.from_ms), q.to_ms, q.placement, q.experiment, q.variant])
        .map_err(db)?;
    let mut out = Vec::new();
    let n = |v: i64| stored_u64("rollup counter", v);
    while let Some(row) = rows.next().map_err(db)? {
        out.push(Rollup {
            bucket_ms: row.get(0).map_err(db)?,
            placement: row.get(1).map_err(db)?,
            experiment: row.get(2).map_err(db)?,
            variant: row.get(3).map_err(db)?,
            impressions: n(row.get(4).map_err(db)?)?,
            shown: n(row.get(5).map_err(db)?)?,
            clicks: n(row.get(6).map_err(db)?)?,
            carts: n(row.get(7).map_err(db)?)?,
            purchases: n(row.get(8).map_err(db)?)?,
            revenue: row.get(9).map_err(db)?,
            revenue_sq: row.get(10).map_err(db)?,
        });
    }
    Ok(out)
}

pub(super) fn experiment_units(conn: &Connection, experiment: &str) -> StoreResult<Vec<UnitCounters>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT unit, variant, first_ms, impressions, clicks, carts, purchases, revenue, covariate
                FROM experiment_units WHERE experiment = ?1 ORDER BY unit",
        )
        .map_err(db)?;
    let mut rows = stmt.query([experiment]).map_err(db)?;
    let mut out = Vec::new();
    let n = |v: i64| stored_u64("unit counter", v);
    while let Some(row) = rows.next().map_err(db)? {
        out.push(UnitCounters {
            unit: row.get(0).map_err(db)?,
            variant: row.get(1).map_err(db)?,
            first_ms: row.get(2).map_err(db)?,
            impressions: n(row.get(3).map_err(db)?)?,
            clicks: n(row.get(4).map_err(db)?)?,
            carts: n(row.get(5).map_err(db)?)?,
            purchases: n(row.get(6).map_err(db)?)?,
            revenue: row.get(7).map_err(db)?,
            covariate: row.get(8).map_err(db)?,
        });
    }
    Ok(out)
}

pub(super) fn interleave_outcomes(
    conn: &Connection,
    experiment: &str,
) -> StoreResult<Vec<InterleaveOutcome>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT recommendation_id, unit, clicks_a, clicks_b FROM interleave_outcomes
                WHERE experiment = ?1 ORDER BY recommendation_id",
        )
        .map_err(db)?;
    let mut rows = stmt.query([experiment]).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        out.push(InterleaveOutcome {
            recommendation_id: row.get(0).map_err(db)?,
            unit: row.get(1).map_err(db)?,
            clicks_a: stored_u64("interleave clicks", row.get(2).map_err(db)?)?,
            clicks_b: stored_u64("interleave clicks", row.get(3).map_err(db)?)?,
        });
    }
    Ok(out)
}
