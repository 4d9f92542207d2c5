//! How records are encoded in columns, shared by every backend: an item's body and a model's
//! parameters and metrics as JSON text, integers in and out of SQL's signed 64 bits, and the
//! store errors they fail with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{ItemRecord, StoreError, StoreResult};

/// `items.body`: the record minus the columns of its own (`id`, `updated_at_ms`), borrowed for
/// writing.
#[derive(Serialize)]
struct ItemBodyRef<'a> {
    title: &'a str,
    description: &'a str,
    categories: &'a [String],
    tags: &'a [String],
    brand: Option<&'a str>,
    price: Option<f64>,
    in_stock: bool,
    attributes: &'a Map<String, Value>,
}

/// `items.body` as read back.
#[derive(Deserialize)]
struct ItemBody {
    title: String,
    description: String,
    categories: Vec<String>,
    tags: Vec<String>,
    brand: Option<String>,
    price: Option<f64>,
    in_stock: bool,
    attributes: Map<String, Value>,
}

/// A stored column that does not decode (or a record that cannot be encoded).
pub(crate) fn corrupt(what: &'static str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt { what, reason: reason.to_string() }
}

/// A version's artifact from what a backend read: its parts, concatenated, or (for versions stored
/// before artifacts were kept in parts, which have none) the row's own column; `Corrupt` when its
/// length is not the `artifact_bytes` stored with it, so a lost part is never decoded short.
pub(crate) fn artifact_from(
    version: u64,
    column: Vec<u8>,
    parts: Option<Vec<u8>>,
    bytes: i64,
) -> StoreResult<Vec<u8>> {
    let artifact = parts.unwrap_or(column);
    if i64::try_from(artifact.len()).ok() != Some(bytes) {
        return Err(corrupt(
            "model",
            format_args!("version {version}: the artifact has {} bytes, {bytes} were stored", artifact.len()),
        ));
    }
    Ok(artifact)
}

/// A database (or any other backend) failure as a store error.
pub(crate) fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    crate::error::classify(Box::new(e))
}

/// `url` with any password replaced by `***` (in the user info, or a `password=` parameter), for
/// logs, errors and messages.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match (base.find("://"), base.rfind('@')) {
        (Some(s), Some(at)) if at > s => match base[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &base[..s + 3], &base[at..]),
            None => base.to_owned(),
        },
        _ => base.to_owned(),
    };
    let Some(query) = query else { return base };
    let params: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if k.to_ascii_lowercase().contains("password") => format!("{k}=***"),
            _ => p.to_owned(),
        })
        .collect();
    format!("{base}?{}", params.join("&"))
}

/// Unix milliseconds now (when a row is written).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Counts a stored row that does not decode and is passed over (an event of a kind this build
/// does not know, a value of the wrong type): it must not stop a training or a request.
pub(crate) fn skip_unreadable(table: &'static str, e: &StoreError) {
    metrics::counter!("aisle_store_unreadable_rows_total", "table" => table).increment(1);
    tracing::warn!(table, error = %e, "skipped a stored row that does not decode");
}

/// A count or limit as a SQL integer; anything beyond `i64::MAX` is as good as unbounded.
pub(crate) fn sql_limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A sequence number or id bound as a SQL integer; none is stored beyond `i64::MAX`.
pub(crate) fn sql_seq(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// A stored non-negative integer (a sequence number, a version, a size) read back.
pub(crate) fn stored_u64(what: &'static str, value: i64) -> StoreResult<u64> {
    u64::try_from(value).map_err(|_| corrupt(what, format_args!("negative value {value}")))
}

/// The body column of `item`.
pub(crate) fn item_body(item: &ItemRecord) -> StoreResult<String> {
    let body = ItemBodyRef {
        title: &item.title,
        description: &item.description,
        categories: &item.categories,
        tags: &item.tags,
        brand: item.brand.as_deref(),
        price: item.price,
        in_stock: item.in_stock,
        attributes: &item.attributes,
    };
    serde_json::to_string(&body).map_err(|e| corrupt("item", e))
}

/// The item of a stored row.
pub(crate) fn item_from_body(id: String, body: &str, updated_at_ms: i64) -> StoreResult<ItemRecord> {
    let body: ItemBody =
        serde_json::from_str(body).map_err(|e| corrupt("item", format_args!("{id:?}: {e}")))?;
    Ok(ItemRecord {
        id,
        title: body.title,
        description: body.description,
        categories: body.categories,
        tags: body.tags,
        brand: body.brand,
        price: body.price,
        in_stock: body.in_stock,
        attributes: body.attributes,
        updated_at_ms,
    })
}

/// A user's attributes as stored.
pub(crate) fn attributes_from_text(id: &str, text: &str) -> StoreResult<Map<String, Value>> {
    serde_json::from_str(text).map_err(|e| corrupt("user", format_args!("{id:?}: {e}")))
}

/// A model's parameters and metrics as stored.
pub(crate) fn model_json(params: &Value, metrics: &BTreeMap<String, f64>) -> StoreResult<(String, String)> {
    let params = serde_json::to_string(params).map_err(|e| corrupt("model params", e))?;
    let metrics = serde_json::to_string(metrics).map_err(|e| corrupt("model metrics", e))?;
    Ok((params, metrics))
}

/// A model's parameters and metrics read back. JSON has no NaN: serde_json writes a non-finite
/// metric as null, which reads back as NaN.
pub(crate) fn model_from_json(
    version: u64,
    params: &str,
    metrics: &str,
) -> StoreResult<(Value, BTreeMap<String, f64>)> {
    let params = serde_json::from_str(params)
        .map_err(|e| corrupt("model params", format_args!("version {version}: {e}")))?;
    let metrics: BTreeMap<String, Option<f64>> = serde_json::from_str(metrics)
        .map_err(|e| corrupt("model metrics", format_args!("version {version}: {e}")))?;
    Ok((params, metrics.into_iter().map(|(k, v)| (k, v.unwrap_or(f64::NAN))).collect()))
}
