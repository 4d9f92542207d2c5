//! The dashboard in a real browser: the app on a loopback port, chromedriver driving headless
//! Chromium (Debian's `chromium` and `chromium-driver`; `scripts/browser-deps.sh` installs them).
//! Each page must show figures that come from the seeded data and equal what the API returns,
//! and no page may log an error (console, uncaught exception, unhandled rejection, failed
//! resource). Without the browser the test says it skipped and passes; under `CI` it fails, for a
//! green CI that skipped would be a lie. `AISLE_SCREENSHOTS=1` saves `docs/dashboard-*.png`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aisle_engine::impact::Experiment;
use aisle_ingest::synth::Shop;
use aisle_store::{ImpactStore, Impression, Shown};
use axum::body::Bytes;
use axum::http::StatusCode;
use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use crate::common::{App, app_with, config, ids};

const DAY_MS: i64 = 86_400_000;
/// Days of history (all within the page's default range, 7 days): the placement alone, then the
/// experiment's first days (it started before today); and shoppers a day.
const PLACEMENT_DAYS: i64 = 3;
const EXPERIMENT_DAYS: i64 = 3;
const HISTORY_USERS: i64 = 60;
/// Shoppers shown two lists each today through the API.
const EXPERIMENT_USERS: usize = 50;
/// ecosystem.md's arguments for Debian's Chromium in a container, a window the pages fit, and no
/// scroll bars in the screenshots.
const CHROME_ARGS: [&str; 11] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--window-size=1400,1000",
    "--hide-scrollbars",
];
/// Runs before any page script: keeps every console error, uncaught exception, failed resource
/// and unhandled rejection in `window.__aisleErrors`.
const ERROR_HOOK: &str = r"(() => {
window.__aisleErrors = [];
const keep = m => window.__aisleErrors.push(String(m));
const consoleError = console.error.bind(console);
console.error = (...a) => { keep(a.map(String).join(' ')); consoleError(...a); };
window.addEventListener('error', e => keep(e.message || 'failed to load ' + (e.target && (e.target.src || e.target.href))), true);
window.addEventListener('unhandledrejection', e => keep('unhandled rejection: ' + (e.reason && e.reason.message || e.reason)));
})();";

/// Renders an overview of the shape `GET /v1/analytics/overview` answers, off the page, and
/// returns how many charts it drew.
const OVERVIEW_SAMPLE: &str = r"
const day = 864e5, first = Math.floor(Date.now() / day) * day - 4 * day;
const o = { events: 1000, users: 50, items: 80, first_ms: first, last_ms: first + 4 * day,
  per_day: [0, 1, 2, 3, 4].map(i => ({ day_ms: first + i * day, view: 120 + 9 * i, click: 40 + i, add_to_cart: 12, purchase: 5, other: 0 })),
  funnel: { views: 500, carts: 60, purchases: 25, viewers: 50, carters: 30, buyers: 20, view_to_cart: 0.12, cart_to_purchase: 0.41, view_to_purchase: 0.05 },
  long_tail: { items_with_events: 70, top_1pct_share: 0.08, top_10pct_share: 0.4, top_20pct_share: 0.6, gini: 0.55,
    curve: [[0, 0], [0.1, 0.4], [0.2, 0.6], [0.5, 0.85], [1, 1]] },
  activity: [{ min_events: 1, max_events: 1, users: 10 }, { min_events: 2, max_events: 4, users: 20 }, { min_events: 5, max_events: null, users: 20 }] };
const div = document.createElement('div');
div.innerHTML = renderOverview(o);
return div.querySelectorAll('svg').length;
";

/// Chromium and chromedriver, or `None` (and a note) when either is missing; under `CI` a
/// missing browser fails the test.
#[expect(clippy::print_stderr, reason = "a skipped test says so")]
fn browser() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        names.iter().find_map(|name| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .chain([Path::new("/usr/bin").join(name)])
                .find(|p| p.is_file())
        })
    };
    let found = find(&["chromium", "chromium-browser"]).zip(find(&["chromedriver"]));
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium or chromedriver is missing, and CI is set: this test must run (scripts/browser-deps.sh installs them)"
        );
        eprintln!("skipped: chromium or chromedriver is missing (scripts/browser-deps.sh installs them)");
    }
    found
}

/// A chromedriver process on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start(binary: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not listen on {port} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver's own endpoints, for what fantoccini has no method for (Chrome DevTools, the
/// browser log).
struct Endpoint {
    url: String,
    session: String,
}

impl Endpoint {
    async fn post(&self, path: &str, body: Value) -> Value {
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http::<Full<Bytes>>();
        let req = axum::http::Request::post(format!("{}/session/{}/{path}", self.url, self.session))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        let res = client.request(req).await.expect("chromedriver answers");
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&bytes).expect("chromedriver answers JSON");
        v["value"].clone()
    }
}

/// Whether shopper `u` does something on day `day` with chance `percent` (a fixed hash: the
/// same data every run).
fn chance(u: i64, day: i64, salt: i64, percent: i64) -> bool {
    (u * 7919 + day * 104_729 + salt * 1_299_709).rem_euclid(100) < percent
}

/// A click (`clicks`) and a purchase (`buys`, with a value) on list `rid` that showed `items`.
fn events_on(
    user: &str,
    rid: &str,
    items: &[String],
    at_ms: i64,
    clicks: bool,
    buys: bool,
    value: f64,
) -> Vec<Value> {
    let mut out = Vec::new();
    if clicks {
        out.push(json!({"user_id": user, "item_id": items[0], "type": "click", "recommendation_id": rid, "timestamp": at_ms}));
    }
    if buys {
        out.push(json!({"user_id": user, "item_id": items[1], "type": "purchase", "value": value,
            "recommendation_id": rid, "timestamp": at_ms + 60_000}));
    }
    out
}

/// The days before today, logged into the store directly (the API stamps a list with the time
/// it is served): the `home` placement alone, then with experiment `e1`, whose `pop` variant
/// gets more clicks and purchases; their events go through the API with the lists' ids.
async fn history(a: &App, e1: &Experiment, now: i64) {
    let model_version = a.engine.serving().map(|p| p.version());
    let (mut impressions, mut events) = (Vec::new(), Vec::new());
    for day in 1..=PLACEMENT_DAYS + EXPERIMENT_DAYS {
        for u in 0..HISTORY_USERS {
            let at_ms = now - day * DAY_MS + u * 60_000;
            let user = Shop::user_id(usize::try_from(u).unwrap());
            let (experiment, variant) = if day <= EXPERIMENT_DAYS {
                ("e1", e1.assign(&user).map(|k| e1.config.variants[k].name.clone()).unwrap())
            } else {
                ("", String::new())
            };
            let pop = variant == "pop";
            let items: Vec<String> =
                (0..5).map(|k| Shop::item_id(usize::try_from((u * 5 + k + day) % 200).unwrap())).collect();
            let rid = format!("history-{day}-{u}");
            let clicks = chance(u, day, 1, if pop { 42 } else { 25 + 5 * (day % 3) });
            let buys = chance(u, day, 2, if pop { 18 } else { 11 });
            let value = 10.0 + f64::from(u32::try_from((u * 13 + day) % 40).unwrap());
            events.extend(events_on(&user, &rid, &items, at_ms + 30_000, clicks, buys, value));
            impressions.push(Impression {
                recommendation_id: rid,
                at_ms,
                placement: "home".to_owned(),
                experiment: experiment.to_owned(),
                unit: if experiment.is_empty() { String::new() } else { user.clone() },
                variant,
                user_id: Some(user),
                model_version,
                covariate: 0.0,
                items: items
                    .into_iter()
                    .zip(0..)
                    .map(|(item, position)| Shown { item, position, propensity: None, team: None })
                    .collect(),
            });
        }
    }
    let n = impressions.len();
    assert_eq!(a.engine.store().log_impressions(impressions).await.unwrap(), n);
    let r = a.post("/v1/events", Value::Array(events)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// The placement `home` with history, the experiment `e1` (control against popular lists) with
/// today's lists for 50 shoppers through the API and their clicks and purchases, and three model
/// versions of which v2 serves.
async fn seed(a: &App) {
    let now = aisle_engine::now_ms();
    let r = a.put("/v1/placements/home", json!({"kind": "user", "n": 5})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = a
        .post(
            "/v1/experiments",
            json!({"id": "e1", "placement": "home", "start_ms": now - EXPERIMENT_DAYS * DAY_MS - 3_600_000,
            "variants": [{"name": "control"}, {"name": "pop", "kind": "popular"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let e1 = a.impact.experiments().get("e1").unwrap();
    history(a, &e1, now).await;
    let mut events = Vec::new();
    for round in 0..2 {
        for u in 0..EXPERIMENT_USERS {
            let user = Shop::user_id(u);
            let r = a.get(&format!("/v1/users/{user}/recommendations?placement=home")).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            let rid = r.body["recommendation_id"].as_str().unwrap().to_owned();
            let pop = e1.assign(&user) == Some(1);
            let k = i64::try_from(u).unwrap();
            let clicks = chance(k, round, 3, if pop { 42 } else { 28 });
            let buys = chance(k, round, 4, if pop { 18 } else { 11 });
            let value = 15.0 + f64::from(u32::try_from(k % 7).unwrap()) * 5.0;
            events.extend(events_on(&user, &rid, &ids(&r), aisle_engine::now_ms(), clicks, buys, value));
        }
    }
    let r = a.post("/v1/events", Value::Array(events)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for params in [json!({"factors": 32}), json!({"factors": 8, "iterations": 3})] {
        let r = a.post("/v1/admin/train", json!({"wait": true, "force": true, "params": params})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let r = a.post("/v1/admin/models/2/activate", json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    a.impact.flush().await.unwrap();
}

/// What the API says, to compare the pages with.
struct Expected {
    impressions: u64,
    verdict: String,
    variants: Vec<String>,
    serving: u64,
    overview: Option<u64>,
}

async fn expected(a: &App) -> Expected {
    let now = aisle_engine::now_ms();
    let r = a
        .get(&format!("/v1/analytics/impact?placement=home&from={}&to={}", now - 7 * DAY_MS, now + 3_600_000))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let impressions = r.body["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["metrics"]["impressions"].as_u64().unwrap())
        .sum();
    let report = a.get("/v1/experiments/e1/report").await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.text);
    let variants = report.body["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect();
    let models = a.get("/v1/models").await;
    let overview = a.get("/v1/analytics/overview").await;
    let overview = match overview.status {
        StatusCode::OK => Some(overview.body["events"].as_u64().expect("overview events")),
        StatusCode::NOT_FOUND => None,
        other => panic!("/v1/analytics/overview: {other} {}", overview.text),
    };
    Expected {
        impressions,
        verdict: report.body["verdict"].as_str().unwrap().to_owned(),
        variants,
        serving: models.body["serving_version"].as_u64().unwrap(),
        overview,
    }
}

/// Waits for `css` to match (the page marks a part `data-ready` when its data is drawn).
async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    match c.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css(css)).await {
        Ok(e) => e,
        Err(e) => {
            let text = c.find(Locator::Css("body")).await.unwrap().text().await.unwrap_or_default();
            panic!("waiting for {css}: {e}; the page says:\n{text}")
        }
    }
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

async fn count(c: &Client, css: &str) -> usize {
    c.find_all(Locator::Css(css)).await.unwrap().len()
}

/// Fails on anything the error hook kept or the browser logged as severe since the last call.
async fn assert_no_errors(c: &Client, driver: &Endpoint, page: &str, overview_missing: bool) {
    let kept = c
        .execute("const e = window.__aisleErrors || []; window.__aisleErrors = []; return e;", vec![])
        .await
        .unwrap();
    assert_eq!(kept, json!([]), "{page}: errors in the page");
    let log = driver.post("se/log", json!({"type": "browser"})).await;
    let severe: Vec<&Value> = log
        .as_array()
        .expect("the browser log")
        .iter()
        .filter(|e| e["level"] == "SEVERE")
        // Until `/v1/analytics/overview` is served, its 404 is expected (the page says so).
        .filter(|e| {
            !(overview_missing && e["message"].as_str().is_some_and(|m| m.contains("/v1/analytics/overview")))
        })
        .collect();
    assert!(severe.is_empty(), "{page}: the browser logged {severe:?}");
}

/// Saves the whole page as `docs/dashboard-{name}.png` when `AISLE_SCREENSHOTS=1` (the viewport
/// stretched to the page's height through DevTools, as WebDriver captures the viewport only).
async fn screenshot(c: &Client, driver: &Endpoint, name: &str) {
    if std::env::var_os("AISLE_SCREENSHOTS").is_none_or(|v| v != "1") {
        return;
    }
    // Twice: the page's height at the new size can differ from its height in the window.
    for _ in 0..2 {
        let height = c.execute("return document.documentElement.scrollHeight", vec![]).await.unwrap();
        let height = height.as_u64().unwrap_or(1000).clamp(600, 8000);
        let metrics = json!({"width": 1400, "height": height, "deviceScaleFactor": 1, "mobile": false});
        driver
            .post("goog/cdp/execute", json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": metrics}))
            .await;
    }
    let png = c.screenshot().await.unwrap();
    driver
        .post("goog/cdp/execute", json!({"cmd": "Emulation.clearDeviceMetricsOverride", "params": {}}))
        .await;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../docs/dashboard-{name}.png"));
    std::fs::write(&path, png).unwrap();
}

async fn pages(c: Client, driver_url: String, base: &str, want: &Expected) {
    let session = c.session_id().await.unwrap().expect("a session");
    let driver = &Endpoint { url: driver_url, session };
    driver
        .post(
            "goog/cdp/execute",
            json!({"cmd": "Page.addScriptToEvaluateOnNewDocument",
        "params": {"source": ERROR_HOOK}}),
        )
        .await;
    let missing = want.overview.is_none();

    c.goto(&format!("{base}/#impact")).await.unwrap();
    wait_for(&c, "#imp-body[data-ready='1']").await;
    c.find(Locator::Css("#imp-placement")).await.unwrap().select_by_value("home").await.unwrap();
    let total = wait_for(&c, "#imp-body[data-ready='1'][data-placement='home'] #imp-total").await;
    let shown = total.attr("data-value").await.unwrap().unwrap();
    assert_eq!(shown, want.impressions.to_string(), "the page's lists served equal the API's");
    assert_eq!(
        want.impressions,
        ((PLACEMENT_DAYS + EXPERIMENT_DAYS) * HISTORY_USERS) as u64 + 2 * EXPERIMENT_USERS as u64
    );
    assert_eq!(
        count(&c, "#imp-body svg path.series").await,
        3 * 4,
        "home, e1/control and e1/pop in each chart"
    );
    let totals = text(&c, "#imp-totals").await;
    for name in ["home", "e1", "control", "pop"] {
        assert!(totals.contains(name), "totals table names {name}: {totals}");
    }
    assert_no_errors(&c, driver, "impact", missing).await;
    screenshot(&c, driver, "impact").await;

    c.find(Locator::Css("#tab-experiments")).await.unwrap().click().await.unwrap();
    wait_for(&c, "#exp-report[data-ready='1'][data-experiment='e1']").await;
    assert!(text(&c, "#exp-list").await.contains("e1"));
    assert_eq!(text(&c, "#exp-verdict").await, want.verdict);
    let variants = text(&c, "#exp-variants").await;
    for v in &want.variants {
        assert!(variants.contains(v.as_str()), "variant {v} in {variants}");
    }
    assert!(text(&c, "#exp-srm").await.contains("χ²"));
    assert!(!text(&c, "#exp-size").await.is_empty());
    assert_eq!(
        count(&c, "table.diff svg").await,
        3,
        "pop against control: CTR, conversion, revenue per unit"
    );
    assert_no_errors(&c, driver, "experiments", missing).await;
    screenshot(&c, driver, "experiments").await;

    c.goto(&format!("{base}/#models")).await.unwrap();
    wait_for(&c, "#mod-chart[data-ready='1'] svg").await;
    assert_eq!(count(&c, "#mod-chart svg circle").await, 3 + 1, "three versions, the serving one ringed");
    assert!(text(&c, "#mod-chart").await.contains(&format!("v{} serving", want.serving)));
    assert_no_errors(&c, driver, "models", missing).await;
    screenshot(&c, driver, "models").await;

    c.goto(&format!("{base}/#shop")).await.unwrap();
    wait_for(&c, "#overview[data-ready='1']").await;
    wait_for(&c, "#stats b").await;
    match want.overview {
        Some(events) => {
            let shown = c.find(Locator::Css("#ov-events")).await.unwrap().attr("data-value").await.unwrap();
            assert_eq!(shown, Some(events.to_string()), "the page's event count equals the API's");
            assert!(count(&c, "#overview svg").await >= 3);
        }
        None => {
            assert!(text(&c, "#overview-missing").await.contains("Not available"));
            // Until the route is served, its rendering runs on a sample of the documented shape.
            let drawn = c.execute(OVERVIEW_SAMPLE, vec![]).await.expect("the overview renders");
            assert_eq!(drawn, json!(3), "events per day, the long tail and shoppers by activity");
        }
    }
    assert_no_errors(&c, driver, "shop", missing).await;
    screenshot(&c, driver, "shop").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_pages_show_the_seeded_figures_without_errors() {
    let Some((chromium, chromedriver)) = browser() else { return };
    let a = app_with(config(), true).await;
    seed(&a).await;
    let want = expected(&a).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = a.router.clone();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let driver = Driver::start(&chromedriver).await;
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), json!({"binary": chromium, "args": CHROME_ARGS}));
    caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a chromedriver session");
    // The checks run as a task so that a failed one still closes the browser below.
    let outcome = {
        let (c, url, want) = (client.clone(), driver.url.clone(), want);
        tokio::spawn(async move { pages(c, url, &base, &want).await }).await
    };
    let _ = client.close().await;
    drop(driver);
    server.abort();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
