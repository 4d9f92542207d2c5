//! aisle-server: the HTTP API over the engine.
//!
//! [`router`] builds the whole axum `Router` (tested in-process with `oneshot`); [`serve`] runs it
//! with graceful shutdown. One module per resource under `routes/`; errors become JSON in one
//! place (`error.rs`); the OpenAPI document is generated from the handlers (utoipa) and served at
//! `/openapi.json` with a docs UI at `/docs` that needs no network.

pub mod auth;
pub mod config;
pub mod error;
pub mod metrics;
pub mod routes;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use aisle_engine::Engine;
use aisle_engine::impact::Impact;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{Method, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{Html, IntoResponse, Response};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::{Guard, Keys, Level};
use crate::config::AisleConfig;
use crate::error::ApiError;
use crate::routes::{analytics, events, experiments, items, models, ops, placements, recs, users};
use crate::state::AppState;

pub use config::ConfigError;

#[derive(OpenApi)]
#[openapi(
    info(title = "aisle", description = "Recommendations for online shops: catalog, events, personalised lists, similar items, popular lists, model versions."),
    components(schemas(error::ErrorBody)),
    modifiers(&ApiKeys),
)]
struct ApiDoc;

/// Paths every key level may call, and that need none.
const OPEN_PATHS: [&str; 3] = ["/health/live", "/health/ready", "/metrics"];

/// Documents on every operation the errors any handler of its shape can answer, each with the
/// `ErrorBody` schema: 401 and 403 behind a key, 400/413/415/422 with a body, 422 for parameters,
/// 404 for a path id, 500 (a caught panic), 503 (the store unavailable) and 507 (its disk full)
/// for writes. Handlers document their other statuses themselves.
struct StandardErrors;

impl utoipa::Modify for StandardErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::SecurityRequirement;
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let error = |what: &str| {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
            RefOr::T(ResponseBuilder::new().description(what).content("application/json", content).build())
        };
        for (path, item) in &mut openapi.paths.paths {
            let guarded = !OPEN_PATHS.contains(&path.as_str());
            let ops = [
                (&mut item.get, false),
                (&mut item.put, true),
                (&mut item.post, true),
                (&mut item.delete, true),
                (&mut item.patch, true),
            ];
            for (op, writes) in ops {
                let Some(op) = op.as_mut() else { continue };
                let mut codes: Vec<(&str, &str)> =
                    vec![("500", "Internal error (the request id is in the body)")];
                if guarded {
                    codes.push(("401", "No API key, or an invalid one"));
                    codes.push(("403", "The key's level does not allow this"));
                    codes.push(("503", "The store is unavailable; retry after `Retry-After` seconds"));
                    if op.security.is_none() {
                        op.security = Some(vec![
                            SecurityRequirement::new::<_, _, &str>("api_key", []),
                            SecurityRequirement::new::<_, _, &str>("bearer", []),
                        ]);
                    }
                }
                if writes {
                    codes.extend([
                        ("400", "The body is not JSON"),
                        ("413", "The body is larger than allowed"),
                        ("415", "The body is not `application/json`"),
                        ("422", "A field has a bad value (named in `field`)"),
                        ("507", "The store's disk is full; writes are refused"),
                    ]);
                }
                if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    codes.push(("422", "A parameter has a bad value (named in `field`)"));
                }
                if path.contains('{') {
                    codes.push(("404", "Not found"));
                }
                for (code, what) in codes {
                    op.responses.responses.entry(code.to_owned()).or_insert_with(|| error(what));
                }
            }
        }
    }
}

struct ApiKeys;

impl utoipa::Modify for ApiKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn guarded(r: OpenApiRouter<AppState>, keys: &Keys, level: Level) -> OpenApiRouter<AppState> {
    r.route_layer(from_fn_with_state(Guard { keys: keys.clone(), level }, auth::require))
}

/// Largest `POST /v1/recommendations` body: 1,000 session items and 1,000 excluded ids of 256
/// bytes each, and the boosts' 1,000 ids, with room for JSON.
const MAX_RECS_BODY_BYTES: usize = 1 << 20;
/// Largest `POST /v1/admin/train` body.
const MAX_TRAIN_BODY_BYTES: usize = 64 << 10;

/// The API's routes and their OpenAPI document (before state is attached); no route takes a body
/// larger than `max_body_bytes`.
fn api(keys: &Keys, max_body_bytes: usize) -> OpenApiRouter<AppState> {
    let limit = |route_max: usize| DefaultBodyLimit::max(route_max.min(max_body_bytes));
    let read = OpenApiRouter::new()
        .routes(routes!(items::get_item))
        .routes(routes!(items::list_items))
        .routes(routes!(recs::user_recs))
        .merge(OpenApiRouter::new().routes(routes!(recs::post_recs)).layer(limit(MAX_RECS_BODY_BYTES)))
        .routes(routes!(recs::similar))
        .routes(routes!(recs::bought_together))
        .routes(routes!(recs::popular))
        .routes(routes!(models::list_models));
    // Business figures, configurations and experiment salts are not for a storefront's page.
    let private = OpenApiRouter::new()
        .routes(routes!(users::get_user))
        .routes(routes!(users::list_users))
        .routes(routes!(placements::list_placements))
        .routes(routes!(placements::get_placement))
        .routes(routes!(analytics::impact))
        .routes(routes!(analytics::overview))
        .routes(routes!(experiments::list_experiments))
        .routes(routes!(experiments::get_experiment))
        .routes(routes!(experiments::experiment_report));
    let write = OpenApiRouter::new()
        .routes(routes!(items::put_item, items::patch_item, items::delete_item))
        .routes(routes!(items::batch_items))
        .routes(routes!(users::put_user, users::delete_user))
        .routes(routes!(events::post_events));
    let admin = OpenApiRouter::new()
        .routes(routes!(placements::put_placement, placements::delete_placement))
        .routes(routes!(experiments::create_experiment))
        .routes(routes!(experiments::stop_experiment))
        .routes(routes!(experiments::ship_experiment))
        .merge(OpenApiRouter::new().routes(routes!(models::train)).layer(limit(MAX_TRAIN_BODY_BYTES)))
        .routes(routes!(models::activate))
        .routes(routes!(events::dead_letters));
    let open = OpenApiRouter::new()
        .routes(routes!(ops::live))
        .routes(routes!(ops::ready))
        .routes(routes!(ops::metrics));
    let mut all = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(guarded(read, keys, Level::Read))
        .merge(guarded(private, keys, Level::Private))
        .merge(guarded(write, keys, Level::Write))
        .merge(guarded(admin, keys, Level::Admin))
        .merge(open);
    // After the routes are in: the modifiers of `ApiDoc` ran on a document without paths.
    utoipa::Modify::modify(&StandardErrors, all.get_openapi_mut());
    utoipa::Modify::modify(&Flattened(&["Experiment"]), all.get_openapi_mut());
    all
}

/// Writes the named schemas, which utoipa renders for a `#[serde(flatten)]` field as `allOf` of
/// the flattened type and the rest, as one object with every property. The flattened type may
/// say `additionalProperties: false` (`deny_unknown_fields`, for request bodies), and then no
/// value could satisfy the `allOf`: `Experiment` is `ExperimentConfig` plus its state, and a
/// validator (schemathesis) refused every experiment the API returned.
struct Flattened(&'static [&'static str]);

impl utoipa::Modify for Flattened {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, Schema};
        let Some(components) = openapi.components.as_mut() else { return };
        for &name in self.0 {
            let Some(RefOr::T(Schema::AllOf(all))) = components.schemas.get(name).cloned() else { continue };
            let mut merged: Option<utoipa::openapi::schema::Object> = None;
            for item in &all.items {
                let part = match item {
                    RefOr::T(Schema::Object(o)) => Some(o.clone()),
                    RefOr::Ref(r) => {
                        match r.ref_location.rsplit('/').next().and_then(|n| components.schemas.get(n)) {
                            Some(RefOr::T(Schema::Object(o))) => Some(o.clone()),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                let Some(part) = part else { continue };
                match merged.as_mut() {
                    None => merged = Some(part),
                    Some(m) => {
                        m.properties.extend(part.properties);
                        m.required.extend(part.required);
                    }
                }
            }
            if let Some(mut m) = merged {
                m.description = all.description.clone();
                components.schemas.insert(name.to_owned(), RefOr::T(Schema::Object(m)));
            }
        }
    }
}

/// The OpenAPI document, as committed in `openapi.json` (a test fails when they drift).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api(&Keys::new(&Default::default()), usize::MAX).into_openapi()
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NoRoute(uri.path().to_owned())
}

async fn dashboard() -> impl IntoResponse {
    Html(include_str!("dashboard.html"))
}

/// Every request that can change state carries a JSON body type: a cross-site form or a
/// no-CORS `fetch` from a web page can send none but `application/x-www-form-urlencoded`,
/// `multipart/form-data` or `text/plain`, so requiring `application/json` here makes every write
/// (and `POST /v1/admin/*` without a body) need a CORS preflight, which aisle never grants.
async fn json_only(req: Request, next: Next) -> Response {
    let writes = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if writes && !json {
        return ApiError::UnsupportedMediaType.into_response();
    }
    next.run(req).await
}

/// A handler that panicked answers the JSON 500 every other internal error does (with the
/// request id; the panic message goes to the log, never to the client).
fn panicked(detail: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = detail
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| detail.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    ApiError::Internal(format!("a handler panicked: {message}")).into_response()
}

/// The layers every route gets, outermost first: request ids and JSON errors, metrics, a caught
/// panic, the body limit, JSON bodies for writes.
pub fn with_layers(router: Router, config: &AisleConfig) -> Router {
    router
        .layer(from_fn(json_only))
        .layer(DefaultBodyLimit::max(config.server.max_body_bytes))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(from_fn(metrics::track))
        .layer(from_fn(error::with_request_id))
}

/// The whole application.
pub fn router(engine: Arc<Engine>, impact: Arc<Impact>, config: &AisleConfig) -> Router {
    let keys = Keys::new(&config.auth);
    let state = AppState {
        engine,
        impact,
        keys: keys.clone(),
        server: Arc::new(config.server.clone()),
        metrics: metrics::handle(),
    };
    let (router, doc) = api(&keys, config.server.max_body_bytes).split_for_parts();
    let router = router
        .route("/", axum::routing::get(dashboard))
        .route(
            "/dashboard.js",
            axum::routing::get(|| async {
                ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("dashboard.js"))
            }),
        )
        .merge(SwaggerUi::new("/docs").url("/openapi.json", doc))
        .fallback(not_found)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state);
    with_layers(router, config)
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish (up to `server.shutdown_timeout_ms`) and flushes the store.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    engine: Arc<Engine>,
    config: &AisleConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = tx.send(());
    });
    let timeout = Duration::from_millis(config.server.shutdown_timeout_ms);
    let mut server = std::pin::pin!(server.into_future());
    tokio::select! {
        r = &mut server => r?,
        () = async { let _ = rx.await; tokio::time::sleep(timeout).await } => {
            tracing::warn!("in-flight requests did not finish within server.shutdown_timeout_ms; stopping");
        }
    }
    if let Err(e) = engine.flush().await {
        tracing::error!(error = %e, "flushing the store on shutdown failed");
    }
    Ok(())
}
