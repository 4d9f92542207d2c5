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
        "/v1/placements",
        "/v1/placements/{id}",
        "/v1/experiments",
        "/v1/experiments/{id}",
        "/v1/experiments/{id}/report",
        "/v1/experiments/{id}/stop",
        "/v1/experiments/{id}/ship",
        "/v1/analytics/impact",
        "/v1/analytics/overview",
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

/// What schemathesis checks against: every status an operation can answer is documented, and
/// the schemas say what the handlers accept.
#[test]
fn every_operation_documents_its_errors_and_the_schemas_say_what_is_accepted() {
    let doc = serde_json::to_value(aisle_server::openapi()).unwrap();
    let open = ["/health/live", "/health/ready", "/metrics"];
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let has = |code: &str| responses.contains_key(code);
            let name = format!("{} {path}", method.to_uppercase());
            if !open.contains(&path.as_str()) {
                assert!(has("401") && has("403"), "{name} does not document 401 and 403");
            }
            if op.get("requestBody").is_some() || method == "post" {
                for code in ["400", "413", "415", "422"] {
                    assert!(has(code), "{name} does not document {code}");
                }
            }
            if op.get("parameters").is_some_and(|p| !p.as_array().unwrap().is_empty()) {
                assert!(has("422"), "{name} does not document 422 for its parameters");
            }
            for (code, r) in responses {
                if code.starts_with('4') || code.starts_with('5') {
                    let schema = &r["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/ErrorBody", "{name} {code}");
                }
            }
        }
    }
    let schemas = &doc["components"]["schemas"];
    // A property's schema, with one `$ref` (possibly inside `oneOf`) followed.
    let resolve = |v: &serde_json::Value| -> String {
        let text = v.to_string();
        let refs: Vec<String> = text
            .split("#/components/schemas/")
            .skip(1)
            .filter_map(|rest| rest.split('"').next().map(str::to_owned))
            .collect();
        refs.iter().fold(text, |acc, name| acc + &schemas[name.as_str()].to_string())
    };
    let kinds = resolve(&schemas["EventIn"]["properties"]["type"]);
    for k in ["view", "click", "add_to_cart", "purchase", "rating", "like", "dislike", "impression"] {
        assert!(kinds.contains(&format!("\"{k}\"")), "the event type lists {k}: {kinds}");
    }
    assert_eq!(schemas["RecsIn"]["properties"]["n"]["minimum"], 1, "{}", schemas["RecsIn"]);
    assert_eq!(schemas["RecsIn"]["properties"]["n"]["maximum"], 1000, "{}", schemas["RecsIn"]);
    let ts = resolve(&schemas["EventIn"]["properties"]["timestamp"]);
    assert!(ts.contains("integer") && ts.contains("date-time"), "a time is RFC 3339 or Unix ms: {ts}");
}

/// A flattened type that refuses unknown fields (`ExperimentConfig`) made `Experiment` an `allOf`
/// no value satisfies; it is one object with every property, as the API returns it.
#[test]
fn a_flattened_response_schema_is_one_object_a_response_can_satisfy() {
    let doc = serde_json::to_value(aisle_server::openapi()).unwrap();
    let e = &doc["components"]["schemas"]["Experiment"];
    assert!(e.get("allOf").is_none(), "{e}");
    for field in ["id", "placement", "variants", "status", "salt", "created_at_ms", "started_ms"] {
        assert!(e["properties"].get(field).is_some(), "{field} missing: {e}");
        assert!(e["required"].as_array().unwrap().iter().any(|r| r == field), "{field} not required");
    }
}
