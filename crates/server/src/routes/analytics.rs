//! `GET /v1/analytics/impact`: what the lists did — impressions, clicks, CTR, carts, purchases,
//! conversion, attributed revenue and revenue per 1,000 lists, each with a 95% interval, by
//! placement and variant over time (from rollups updated as events arrive).

use aisle_engine::impact::{Granularity, ImpactQuery, ImpactReport};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiError, ErrorBody};
use crate::state::{ApiQuery, AppState, id};

/// Longest range one report covers (days).
const MAX_RANGE_DAYS: i64 = 400;
const DAY_MS: i64 = 86_400_000;

/// The report's range and filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImpactParams {
    /// From (Unix ms, inclusive; default `to` − 7 days).
    #[param(minimum = 0)]
    pub from: Option<i64>,
    /// To (Unix ms, exclusive; default now + 1 hour). At most 400 days after `from`.
    #[param(minimum = 0)]
    pub to: Option<i64>,
    /// Only this placement (`none` for lists served without one).
    pub placement: Option<String>,
    /// Only this experiment.
    pub experiment: Option<String>,
    /// Only this variant.
    pub variant: Option<String>,
    /// `hour` or `day` (default `day`).
    pub granularity: Option<Granularity>,
}

/// Impact by placement and variant over time.
#[utoipa::path(get, path = "/v1/analytics/impact", tag = "analytics", params(ImpactParams),
    responses((status = 200, body = ImpactReport), (status = 422, body = ErrorBody)))]
pub async fn impact(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ImpactParams>,
) -> Result<Json<ImpactReport>, ApiError> {
    let to = q.to.unwrap_or_else(|| aisle_engine::now_ms() + 3_600_000);
    let from = q.from.unwrap_or(to - 7 * DAY_MS);
    if from < 0 || to < 0 {
        return Err(ApiError::invalid("from", "times are Unix milliseconds ≥ 0"));
    }
    if from >= to {
        return Err(ApiError::invalid("from", "must be before to"));
    }
    if to - from > MAX_RANGE_DAYS * DAY_MS {
        return Err(ApiError::invalid("to", format!("at most {MAX_RANGE_DAYS} days after from")));
    }
    for (field, v) in [("placement", &q.placement), ("experiment", &q.experiment), ("variant", &q.variant)] {
        if let Some(v) = v {
            id(field, v)?;
        }
    }
    let placement = q.placement.map(|p| if p == "none" { String::new() } else { p });
    let query = ImpactQuery {
        from_ms: from,
        to_ms: to,
        placement,
        experiment: q.experiment,
        variant: q.variant,
        granularity: q.granularity.unwrap_or_default(),
    };
    Ok(Json(s.impact.report(&query).await?))
}

/// The shop overview: events per day by type, the view → cart → purchase funnel, the long tail
/// of item popularity and shoppers by activity (recomputed at most every 5 minutes).
#[utoipa::path(get, path = "/v1/analytics/overview", tag = "analytics",
    responses((status = 200, body = Object, description = "The overview (`aisle stats --format json` has the same shape)")))]
pub async fn overview(State(s): State<AppState>) -> Result<Json<aisle_core::overview::Overview>, ApiError> {
    Ok(Json((*s.impact.overview().await?).clone()))
}
