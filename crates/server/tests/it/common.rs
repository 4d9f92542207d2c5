//! A small trained shop behind a router, and request helpers.

use std::sync::Arc;

use aisle_engine::{Engine, TrainRequest, shop_records};
use aisle_ingest::synth::{ShopParams, generate};
use aisle_server::config::AisleConfig;
use aisle_store::AnyStore;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub struct App {
    pub router: Router,
    pub engine: Arc<Engine>,
    pub impact: Arc<aisle_engine::impact::Impact>,
    pub _dir: tempfile::TempDir,
}

/// A config with a small, quick model.
pub fn config() -> AisleConfig {
    let mut c = AisleConfig::default();
    c.model.name = "ials".into();
    c.model.params.insert("factors".into(), 16.into());
    c.model.params.insert("iterations".into(), 5.into());
    c.training.interval_s = 0;
    c
}

/// An engine over a fresh store, optionally seeded with a shop and trained.
pub async fn app_with(config: AisleConfig, seeded: bool) -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = AnyStore::open(&format!("sqlite:{}", dir.path().join("aisle.db").display())).await.unwrap();
    let engine = Engine::open(store, config.engine()).await.unwrap();
    if seeded {
        let params =
            ShopParams { users: 150, items: 200, events: 8_000, categories: 6, ..ShopParams::default() };
        let shop = generate(&params, 7).unwrap();
        let end = shop.events.last().unwrap().ts * 1000;
        let (items, users, events) = shop_records(&shop, aisle_engine::now_ms() - end);
        engine.load(items, users, events).await.unwrap();
        engine.train(&TrainRequest { model: None, force: true, candidate: false }).await.unwrap();
    }
    let impact = aisle_engine::impact::Impact::start(engine.clone()).await.unwrap();
    App { router: aisle_server::router(engine.clone(), impact.clone(), &config), engine, impact, _dir: dir }
}

pub async fn app() -> App {
    app_with(config(), true).await
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub text: String,
    pub headers: axum::http::HeaderMap,
}

impl App {
    pub async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, body, text, headers }
    }

    pub async fn call(&self, method: Method, uri: &str, body: Option<Value>, key: Option<&str>) -> Reply {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(k) = key {
            b = b.header("x-api-key", k);
        }
        let req = match body {
            Some(v) => b.header("content-type", "application/json").body(Body::from(v.to_string())).unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        self.send(req).await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.call(Method::GET, uri, None, None).await
    }

    pub async fn post(&self, uri: &str, body: Value) -> Reply {
        self.call(Method::POST, uri, Some(body), None).await
    }

    pub async fn put(&self, uri: &str, body: Value) -> Reply {
        self.call(Method::PUT, uri, Some(body), None).await
    }
}

/// Item ids of a recommendation response.
pub fn ids(r: &Reply) -> Vec<String> {
    r.body["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
}

/// Asserts an error reply: status, code, a non-empty request id matching the header.
pub fn assert_error(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["code"], code, "{}", r.text);
    let rid = r.body["request_id"].as_str().unwrap();
    assert!(!rid.is_empty());
    assert_eq!(r.headers["x-request-id"].to_str().unwrap(), rid);
    assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()));
}
