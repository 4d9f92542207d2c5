//! The OpenAPI document: generated from the handlers, committed, and served.

use crate::common::app_with;

/// The committed document (`crates/server/openapi.json`). Regenerate it with
/// `AISLE_WRITE_OPENAPI=1 cargo test -p aisle-server openapi`.
const COMMITTED: &str = include_str!("../../openapi.json");

#[test]
fn the_committed_openapi_json_matches_the_code() {
    let generated = aisle_server::openapi().to_pretty_json().unwrap() + "\n";
    if std::env::var_os("AISLE_WRITE_OPENAPI").is_some() {
        std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"), &generated).unwrap();
        return;
    }
    assert!(
        generated == COMMITTED,
        "crates/server/openapi.json is stale: run AISLE_WRITE_OPENAPI=1 cargo test -p aisle-server openapi"
    );
}

#[tokio::test]
async fn every_route_is_documented_and_served() {
    let a = app_with(crate::common::config(), false).await;
    let doc = a.get("/openapi.json").await.body;
    let paths: Vec<&str> = doc["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    for p in [
        "/v1/items/{id}",
        "/v1/items/batch",
        "/v1/items",
        "/v1/users/{id}",
        "/v1/users",
        "/v1/events",
        "/v1/users/{id}/recommendations",
        "/v1/recommendations",
        "/v1/items/{id}/similar",
        "/v1/items/{id}/bought-together",
        "/v1/popular",
        "/v1/models",
        "/v1/admin/train",
        "/v1/admin/models/{version}/activate",
        "/health/live",
        "/health/ready",
        "/metrics",
    ] {
        assert!(paths.contains(&p), "{p} missing from the OpenAPI document");
    }
    for m in ["put", "patch", "get", "delete"] {
        assert!(doc["paths"]["/v1/items/{id}"][m].is_object(), "{m} /v1/items/{{id}}");
    }
}
