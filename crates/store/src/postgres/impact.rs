//! Placements, experiments, impressions, rollups and attribution on PostgreSQL. Batches are
//! `UNNEST`ed arrays; sums are computed once in Rust (`crate::impact`) and added in key order, so
//! two replicas adding to the same rows never wait on each other in opposite orders.

use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};

use super::{PgStore, db, lock_key, sql_limit, sql_seq, stored_u64};
use crate::impact::{BatchSums, CreditSums, items_from_json, items_json};
use crate::{
    Credit, ExperimentRecord, Impression, InterleaveOutcome, PlacementRecord, Rollup, RollupQuery,
    StoreResult, UnitCounters,
};

fn placement_row(row: &PgRow) -> StoreResult<PlacementRecord> {
    Ok(PlacementRecord {
        id: row.try_get(0).map_err(db)?,
        version: stored_u64("placement version", row.try_get(1).map_err(db)?)?,
        config: row.try_get(2).map_err(db)?,
        at_ms: row.try_get(3).map_err(db)?,
    })
}

pub(super) async fn put_placement(
    store: &PgStore,
    id: String,
    config: Option<String>,
    at_ms: i64,
) -> StoreResult<PlacementRecord> {
    let mut tx = store.pool().begin().await.map_err(db)?;
    // Versions of one id are numbered one writer at a time.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock_key(store.schema(), "placements"))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let version: i64 = sqlx::query_scalar(
        "INSERT INTO placements (id, version, config, at_ms)
            SELECT $1, coalesce(max(version), 0) + 1, $2, $3 FROM placements WHERE id = $1
            RETURNING version",
    )
    .bind(&id)
    .bind(&config)
    .bind(at_ms)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(PlacementRecord { id, version: stored_u64("placement version", version)?, config, at_ms })
}

pub(super) async fn placement(
    pool: &PgPool,
    id: String,
    version: Option<u64>,
) -> StoreResult<Option<PlacementRecord>> {
    let sql = match version {
        Some(_) => "SELECT id, version, config, at_ms FROM placements WHERE id = $1 AND version = $2",
        None => {
            "SELECT id, version, config, at_ms FROM placements WHERE id = $1 AND version >= $2
                ORDER BY version DESC LIMIT 1"
        }
    };
    let row = sqlx::query(sql)
        .bind(id)
        .bind(sql_seq(version.unwrap_or(0)))
        .fetch_optional(pool)
        .await
        .map_err(db)?;
    row.as_ref().map(placement_row).transpose()
}

pub(super) async fn placements(pool: &PgPool) -> StoreResult<Vec<PlacementRecord>> {
    let rows = sqlx::query(
        "SELECT id, version, config, at_ms FROM (
            SELECT DISTINCT ON (id) id, version, config, at_ms FROM placements ORDER BY id, version DESC
         ) newest WHERE config IS NOT NULL ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter().map(placement_row).collect()
}

pub(super) async fn create_experiment(pool: &PgPool, r: ExperimentRecord) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO experiments (id, body, revision, created_at_ms) VALUES ($1, $2, 1, $3)
            ON CONFLICT (id) DO NOTHING",
    )
    .bind(r.id)
    .bind(r.body)
    .bind(r.created_at_ms)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn update_experiment(pool: &PgPool, r: ExperimentRecord) -> StoreResult<bool> {
    let done =
        sqlx::query("UPDATE experiments SET body = $2, revision = $3 WHERE id = $1 AND revision = $3 - 1")
            .bind(r.id)
            .bind(r.body)
            .bind(sql_seq(r.revision))
            .execute(pool)
            .await
            .map_err(db)?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn experiments(pool: &PgPool) -> StoreResult<Vec<ExperimentRecord>> {
    let rows = sqlx::query("SELECT id, body, revision, created_at_ms FROM experiments ORDER BY id")
        .fetch_all(pool)
        .await
        .map_err(db)?;
    rows.iter()
        .map(|row| {
            Ok(ExperimentRecord {
                id: row.try_get(0).map_err(db)?,
                body: row.try_get(1).map_err(db)?,
                revision: stored_u64("experiment revision", row.try_get(2).map_err(db)?)?,
                created_at_ms: row.try_get(3).map_err(db)?,
            })
        })
        .collect()
}

const INSERT_IMPRESSIONS: &str = "INSERT INTO impressions
    (recommendation_id, at_ms, placement, experiment, variant, unit, user_id, model_version, covariate, items)
    SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::int8[], $9::float8[], $10::text[])
    ON CONFLICT (recommendation_id) DO NOTHING RETURNING recommendation_id";
const ADD_ROLLUPS: &str = "INSERT INTO impact_rollups AS r
    (bucket_ms, placement, experiment, variant, impressions, shown, clicks, carts, purchases, revenue, revenue_sq)
    SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[], $7::int8[],
        $8::int8[], $9::int8[], $10::float8[], $11::float8[])
    ON CONFLICT (bucket_ms, placement, experiment, variant) DO UPDATE SET
        impressions = r.impressions + EXCLUDED.impressions, shown = r.shown + EXCLUDED.shown,
        clicks = r.clicks + EXCLUDED.clicks, carts = r.carts + EXCLUDED.carts,
        purchases = r.purchases + EXCLUDED.purchases, revenue = r.revenue + EXCLUDED.revenue,
        revenue_sq = r.revenue_sq + EXCLUDED.revenue_sq";
const ADD_UNITS: &str = "INSERT INTO experiment_units AS u
    (experiment, unit, variant, first_ms, impressions, covariate)
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::float8[])
    ON CONFLICT (experiment, unit) DO UPDATE SET
        first_ms = least(u.first_ms, EXCLUDED.first_ms), impressions = u.impressions + EXCLUDED.impressions";

/// One rollup addition per key, as columns.
#[derive(Default)]
struct RollupColumns {
    bucket: Vec<i64>,
    placement: Vec<String>,
    experiment: Vec<String>,
    variant: Vec<String>,
    counts: [Vec<i64>; 5],
    revenue: Vec<f64>,
    revenue_sq: Vec<f64>,
}

impl RollupColumns {
    fn push(&mut self, key: &(i64, String, String, String), counts: [u64; 5], revenue: f64, revenue_sq: f64) {
        self.bucket.push(key.0);
        self.placement.push(key.1.clone());
        self.experiment.push(key.2.clone());
        self.variant.push(key.3.clone());
        for (column, c) in self.counts.iter_mut().zip(counts) {
            column.push(sql_seq(c));
        }
        self.revenue.push(revenue);
        self.revenue_sq.push(revenue_sq);
    }

    async fn add(self, tx: &mut sqlx::PgConnection) -> StoreResult<()> {
        if self.bucket.is_empty() {
            return Ok(());
        }
        let [imps, shown, clicks, carts, purchases] = self.counts;
        sqlx::query(ADD_ROLLUPS)
            .bind(self.bucket)
            .bind(self.placement)
            .bind(self.experiment)
            .bind(self.variant)
            .bind(imps)
            .bind(shown)
            .bind(clicks)
            .bind(carts)
            .bind(purchases)
            .bind(self.revenue)
            .bind(self.revenue_sq)
            .execute(tx)
            .await
            .map_err(db)?;
        Ok(())
    }
}

pub(super) async fn log_impressions(pool: &PgPool, batch: Vec<Impression>) -> StoreResult<usize> {
    let items = batch.iter().map(|i| items_json(&i.items)).collect::<StoreResult<Vec<_>>>()?;
    let mut tx = pool.begin().await.map_err(db)?;
    let inserted: Vec<String> = sqlx::query_scalar(INSERT_IMPRESSIONS)
        .bind(batch.iter().map(|i| i.recommendation_id.as_str()).collect::<Vec<_>>())
        .bind(batch.iter().map(|i| i.at_ms).collect::<Vec<_>>())
        .bind(batch.iter().map(|i| i.placement.as_str()).collect::<Vec<_>>())
        .bind(batch.iter().map(|i| i.experiment.as_str()).collect::<Vec<_>>())
        .bind(batch.iter().map(|i| i.variant.as_str()).collect::<Vec<_>>())
        .bind(batch.iter().map(|i| i.unit.as_str()).collect::<Vec<_>>())
        .bind(batch.iter().map(|i| i.user_id.as_deref()).collect::<Vec<_>>())
        .bind(batch.iter().map(|i| i.model_version.map(sql_seq)).collect::<Vec<_>>())
        .bind(batch.iter().map(|i| i.covariate).collect::<Vec<_>>())
        .bind(items)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
    let inserted: std::collections::HashSet<String> = inserted.into_iter().collect();
    // Only the impressions stored now count, so a resent batch adds nothing.
    let sums = BatchSums::of(batch.iter().filter(|i| inserted.contains(&i.recommendation_id)));
    let mut rollups = RollupColumns::default();
    for (key, (imps, shown)) in &sums.rollups {
        rollups.push(key, [*imps, *shown, 0, 0, 0], 0.0, 0.0);
    }
    rollups.add(&mut tx).await?;
    if !sums.units.is_empty() {
        let u = &sums.units;
        sqlx::query(ADD_UNITS)
            .bind(u.keys().map(|k| k.0.as_str()).collect::<Vec<_>>())
            .bind(u.keys().map(|k| k.1.as_str()).collect::<Vec<_>>())
            .bind(u.values().map(|s| s.variant.as_str()).collect::<Vec<_>>())
            .bind(u.values().map(|s| s.first_ms).collect::<Vec<_>>())
            .bind(u.values().map(|s| sql_seq(s.impressions)).collect::<Vec<_>>())
            .bind(u.values().map(|s| s.covariate).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    Ok(inserted.len())
}

const IMPRESSION_COLUMNS: &str = "recommendation_id, at_ms, placement, experiment, variant, unit, user_id, model_version, covariate, items";

fn impression_row(row: &PgRow) -> StoreResult<Impression> {
    let version: Option<i64> = row.try_get(7).map_err(db)?;
    let items: String = row.try_get(9).map_err(db)?;
    Ok(Impression {
        recommendation_id: row.try_get(0).map_err(db)?,
        at_ms: row.try_get(1).map_err(db)?,
        placement: row.try_get(2).map_err(db)?,
        experiment: row.try_get(3).map_err(db)?,
        variant: row.try_get(4).map_err(db)?,
        unit: row.try_get(5).map_err(db)?,
        user_id: row.try_get(6).map_err(db)?,
        model_version: version.map(|v| stored_u64("impression model version", v)).transpose()?,
        covariate: row.try_get(8).map_err(db)?,
        items: items_from_json(&items)?,
    })
}

pub(super) async fn impression(pool: &PgPool, id: String) -> StoreResult<Option<Impression>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {IMPRESSION_COLUMNS} FROM impressions WHERE recommendation_id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    row.as_ref().map(impression_row).transpose()
}

pub(super) async fn user_impressions(
    pool: &PgPool,
    user: String,
    since_ms: i64,
    limit: usize,
) -> StoreResult<Vec<Impression>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {IMPRESSION_COLUMNS} FROM impressions WHERE user_id = $1 AND at_ms >= $2
            ORDER BY at_ms DESC LIMIT $3"
    )))
    .bind(user)
    .bind(since_ms)
    .bind(sql_limit(limit))
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter().map(impression_row).collect()
}

pub(super) async fn impressions_between(
    pool: &PgPool,
    from_ms: i64,
    to_ms: i64,
    after: Option<(i64, String)>,
    limit: usize,
) -> StoreResult<Vec<Impression>> {
    let (at, id) = after.unwrap_or((i64::MIN, String::new()));
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {IMPRESSION_COLUMNS} FROM impressions
            WHERE at_ms >= $1 AND at_ms < $2 AND (at_ms, recommendation_id) > ($3, $4)
            ORDER BY at_ms, recommendation_id LIMIT $5"
    )))
    .bind(from_ms)
    .bind(to_ms)
    .bind(at)
    .bind(id)
    .bind(sql_limit(limit))
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter().map(impression_row).collect()
}

pub(super) async fn prune_impressions(pool: &PgPool, before_ms: i64) -> StoreResult<usize> {
    let done = sqlx::query("DELETE FROM impressions WHERE at_ms < $1")
        .bind(before_ms)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
}

pub(super) async fn attribution_cursor(pool: &PgPool) -> StoreResult<u64> {
    let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM attribution_cursor WHERE id = 1")
        .fetch_optional(pool)
        .await
        .map_err(db)?;
    stored_u64("attribution cursor", seq.unwrap_or(0))
}

const ADD_UNIT_CREDITS: &str = "UPDATE experiment_units AS u SET clicks = u.clicks + t.clicks,
        carts = u.carts + t.carts, purchases = u.purchases + t.purchases, revenue = u.revenue + t.revenue
    FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::float8[])
        AS t(experiment, unit, clicks, carts, purchases, revenue)
    WHERE u.experiment = t.experiment AND u.unit = t.unit";
const ADD_OUTCOMES: &str =
    "INSERT INTO interleave_outcomes AS o (experiment, recommendation_id, unit, clicks_a, clicks_b)
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[])
    ON CONFLICT (experiment, recommendation_id) DO UPDATE SET
        clicks_a = o.clicks_a + EXCLUDED.clicks_a, clicks_b = o.clicks_b + EXCLUDED.clicks_b";

pub(super) async fn commit_attribution(
    pool: &PgPool,
    from_seq: u64,
    to_seq: u64,
    credits: Vec<Credit>,
) -> StoreResult<bool> {
    let mut tx = pool.begin().await.map_err(db)?;
    let moved = sqlx::query("UPDATE attribution_cursor SET seq = $2 WHERE id = 1 AND seq = $1")
        .bind(sql_seq(from_seq))
        .bind(sql_seq(to_seq))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    if moved.rows_affected() != 1 {
        return Ok(false);
    }
    let sums = CreditSums::of(&credits);
    let mut rollups = RollupColumns::default();
    for (key, c) in &sums.rollups {
        rollups.push(key, [0, 0, c.clicks, c.carts, c.purchases], c.revenue, c.revenue_sq);
    }
    rollups.add(&mut tx).await?;
    if !sums.units.is_empty() {
        let u = &sums.units;
        sqlx::query(ADD_UNIT_CREDITS)
            .bind(u.keys().map(|k| k.0.as_str()).collect::<Vec<_>>())
            .bind(u.keys().map(|k| k.1.as_str()).collect::<Vec<_>>())
            .bind(u.values().map(|c| sql_seq(c.clicks)).collect::<Vec<_>>())
            .bind(u.values().map(|c| sql_seq(c.carts)).collect::<Vec<_>>())
            .bind(u.values().map(|c| sql_seq(c.purchases)).collect::<Vec<_>>())
            .bind(u.values().map(|c| c.revenue).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    if !sums.interleave.is_empty() {
        let i = &sums.interleave;
        sqlx::query(ADD_OUTCOMES)
            .bind(i.keys().map(|k| k.0.as_str()).collect::<Vec<_>>())
            .bind(i.keys().map(|k| k.1.as_str()).collect::<Vec<_>>())
            .bind(i.values().map(|t| t.unit.as_str()).collect::<Vec<_>>())
            .bind(i.values().map(|t| sql_seq(t.a)).collect::<Vec<_>>())
            .bind(i.values().map(|t| sql_seq(t.b)).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    Ok(true)
}

pub(super) async fn rollups(pool: &PgPool, q: RollupQuery) -> StoreResult<Vec<Rollup>> {
    let rows = sqlx::query(
        "SELECT bucket_ms, placement, experiment, variant, impressions, shown, clicks, carts, purchases,
                revenue, revenue_sq
            FROM impact_rollups
            WHERE bucket_ms >= $1 AND bucket_ms < $2
              AND ($3::text IS NULL OR placement = $3) AND ($4::text IS NULL OR experiment = $4)
              AND ($5::text IS NULL OR variant = $5)
            ORDER BY bucket_ms, placement, experiment, variant",
    )
    .bind(crate::impact::hour_bucket(q.from_ms))
    .bind(q.to_ms)
    .bind(q.placement)
    .bind(q.experiment)
    .bind(q.variant)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    let n = |v: i64| stored_u64("rollup counter", v);
    rows.iter()
        .map(|row| {
            Ok(Rollup {
                bucket_ms: row.try_get(0).map_err(db)?,
                placement: row.try_get(1).map_err(db)?,
                experiment: row.try_get(2).map_err(db)?,
                variant: row.try_get(3).map_err(db)?,
                impressions: n(row.try_get(4).map_err(db)?)?,
                shown: n(row.try_get(5).map_err(db)?)?,
                clicks: n(row.try_get(6).map_err(db)?)?,
                carts: n(row.try_get(7).map_err(db)?)?,
                purchases: n(row.try_get(8).map_err(db)?)?,
                revenue: row.try_get(9).map_err(db)?,
                revenue_sq: row.try_get(10).map_err(db)?,
            })
        })
        .collect()
}

pub(super) async fn experiment_units(pool: &PgPool, experiment: String) -> StoreResult<Vec<UnitCounters>> {
    let rows = sqlx::query(
        "SELECT unit, variant, first_ms, impressions, clicks, carts, purchases, revenue, covariate
            FROM experiment_units WHERE experiment = $1 ORDER BY unit",
    )
    .bind(experiment)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    let n = |v: i64| stored_u64("unit counter", v);
    rows.iter()
        .map(|row| {
            Ok(UnitCounters {
                unit: row.try_get(0).map_err(db)?,
                variant: row.try_get(1).map_err(db)?,
                first_ms: row.try_get(2).map_err(db)?,
                impressions: n(row.try_get(3).map_err(db)?)?,
                clicks: n(row.try_get(4).map_err(db)?)?,
                carts: n(row.try_get(5).map_err(db)?)?,
                purchases: n(row.try_get(6).map_err(db)?)?,
                revenue: row.try_get(7).map_err(db)?,
                covariate: row.try_get(8).map_err(db)?,
            })
        })
        .collect()
}

pub(super) async fn interleave_outcomes(
    pool: &PgPool,
    experiment: String,
) -> StoreResult<Vec<InterleaveOutcome>> {
    let rows = sqlx::query(
        "SELECT recommendation_id, unit, clicks_a, clicks_b FROM interleave_outcomes
            WHERE experiment = $1 ORDER BY recommendation_id",
    )
    .bind(experiment)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|row| {
            Ok(InterleaveOutcome {
                recommendation_id: row.try_get(0).map_err(db)?,
                unit: row.try_get(1).map_err(db)?,
                clicks_a: stored_u64("interleave clicks", row.try_get(2).map_err(db)?)?,
                clicks_b: stored_u64("interleave clicks", row.try_get(3).map_err(db)?)?,
            })
        })
        .collect()
}
