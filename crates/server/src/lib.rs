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
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{Html, IntoResponse};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::{Guard, Keys, Level};
use crate::config::AisleConfig;
use crate::error::ApiError;
use crate::routes::{events, items, models, ops, recs, users};
use crate::state::AppState;

pub use config::ConfigError;

#[derive(OpenApi)]
#[openapi(
    info(title = "aisle", description = "Recommendations for online shops: catalog, events, personalised lists, similar items, popular lists, model versions."),
    components(schemas(error::ErrorBody)),
    modifiers(&ApiKeys),
)]
struct ApiDoc;

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

/// The API's routes and their OpenAPI document (before state is attached).
fn api(keys: &Keys) -> OpenApiRouter<AppState> {
    let read = OpenApiRouter::new()
        .routes(routes!(items::get_item))
        .routes(routes!(items::list_items))
        .routes(routes!(users::get_user))
        .routes(routes!(users::list_users))
        .routes(routes!(recs::user_recs))
        .routes(routes!(recs::post_recs))
        .routes(routes!(recs::similar))
        .routes(routes!(recs::bought_together))
        .routes(routes!(recs::popular))
        .routes(routes!(models::list_models));
    let write = OpenApiRouter::new()
        .routes(routes!(items::put_item, items::patch_item, items::delete_item))
        .routes(routes!(items::batch_items))
        .routes(routes!(users::put_user, users::delete_user))
        .routes(routes!(events::post_events));
    let admin = OpenApiRouter::new()
        .routes(routes!(models::train))
        .routes(routes!(models::activate))
        .routes(routes!(events::dead_letters));
    let open = OpenApiRouter::new()
        .routes(routes!(ops::live))
        .routes(routes!(ops::ready))
        .routes(routes!(ops::metrics));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(guarded(read, keys, Level::Read))
        .merge(guarded(write, keys, Level::Write))
        .merge(guarded(admin, keys, Level::Admin))
        .merge(open)
}

/// The OpenAPI document, as committed in `openapi.json` (a test fails when they drift).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api(&Keys::new(&Default::default())).into_openapi()
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NoRoute(uri.path().to_owned())
}

async fn dashboard() -> impl IntoResponse {
    Html(include_str!("dashboard.html"))
}

/// The whole application.
pub fn router(engine: Arc<Engine>, config: &AisleConfig) -> Router {
    let keys = Keys::new(&config.auth);
    let state = AppState {
        engine,
        keys: keys.clone(),
        server: Arc::new(config.server.clone()),
        metrics: metrics::handle(),
    };
    let (router, doc) = api(&keys).split_for_parts();
    router
        .route("/", axum::routing::get(dashboard))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", doc))
        .fallback(not_found)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
        .layer(DefaultBodyLimit::max(config.server.max_body_bytes))
        .layer(from_fn(metrics::track))
        .layer(from_fn(error::with_request_id))
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
