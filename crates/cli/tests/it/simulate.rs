//! `aisle simulate` against `aisle serve --demo` on a small demo shop: what it reports sending is
//! exactly what the server stored and attributed, and the same seed against a fresh identical
//! server gives the same tallies.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::commands::text;
use crate::server::{free_port, http};

/// The small demo shop both sides use (`serve --demo-*`, `simulate --users/--items`).
const USERS: &str = "150";
const ITEMS: &str = "200";
const EVENTS: &str = "6000";

struct DemoServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `aisle serve --demo` on a fresh store; returns once it is ready (it trains first).
fn start_demo() -> DemoServer {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_aisle"))
        .args(["serve", "--demo", "--demo-users", USERS, "--demo-items", ITEMS, "--demo-events", EVENTS])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        // No scheduled training during the test: the served model stays the one trained at start.
        .env("AISLE_TRAINING__INTERVAL_S", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = DemoServer { child, port, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(120);
    while !http(port, "GET", "/health/ready", "")
        .is_some_and(|(s, b)| s == 200 && b.contains(r#""serving_version":1"#))
    {
        assert!(Instant::now() < deadline, "aisle serve --demo did not become ready with a model");
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

/// The server's stored event count (`aisle_events` of /metrics).
fn stored_events(port: u16) -> u64 {
    let (status, body) = http(port, "GET", "/metrics", "").unwrap();
    assert_eq!(status, 200);
    body.lines()
        .find_map(|l| l.strip_prefix("aisle_events "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("aisle_events in /metrics") as u64
}

/// `aisle simulate --json` with 30 shoppers and `seed`; the parsed report.
fn simulate(port: u16, seed: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_aisle"))
        .args(["simulate", "--url", &format!("http://127.0.0.1:{port}"), "--shoppers", "30", "--seed", seed])
        .args(["--users", USERS, "--items", ITEMS, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn count(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// The impact report's totals for lists served without a placement: (lists, clicks, carts,
/// purchases).
fn impact_totals(port: u16) -> (u64, u64, u64, u64) {
    let (status, body) = http(port, "GET", "/v1/analytics/impact?placement=none", "").unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let m = &v["totals"][0]["metrics"];
    let n = |k: &str| m[k].as_u64().unwrap_or(0);
    (n("impressions"), n("clicks"), n("carts"), n("purchases"))
}

#[test]
fn simulate_sends_what_it_reports_and_the_server_stores_and_credits_exactly_that() {
    let server = start_demo();
    let before = stored_events(server.port);
    let r = simulate(server.port, "7");
    let total = &r["total"];
    assert_eq!((count(&r, "shoppers"), count(total, "lists")), (30, 150), "{r}");
    assert_eq!(count(&r, "failed_requests"), 0, "{r}");
    let (clicks, carts, purchases) =
        (count(total, "clicks"), count(total, "carts"), count(total, "purchases"));
    assert!(clicks > 0, "the shoppers clicked: {r}");
    assert!(carts <= clicks && purchases <= carts, "{r}");
    let sent = count(&r, "events_sent");
    assert_eq!(sent, clicks + carts + purchases, "{r}");
    assert_eq!(count(&r, "events_inserted"), sent, "{r}");
    assert_eq!(stored_events(server.port) - before, sent, "the server stored exactly what was sent");

    // Every list and every event is credited to the lists (by recommendation_id), once.
    let want = (150, clicks, carts, purchases);
    let deadline = Instant::now() + Duration::from_secs(30);
    while impact_totals(server.port) != want {
        assert!(Instant::now() < deadline, "impact never reached {want:?}: {:?}", impact_totals(server.port));
        std::thread::sleep(Duration::from_millis(50));
    }

    // The truth: personal lists fit better than the catalog on average, and not beyond the best.
    let (shown, best, catalog) = (
        total["mean_affinity"].as_f64().unwrap(),
        r["best_affinity"].as_f64().unwrap(),
        r["catalog_affinity"].as_f64().unwrap(),
    );
    assert!(0.0 < catalog && catalog < shown && shown <= best && best <= 1.0, "{r}");
    assert_eq!(r["placements"][0]["placement"], "none");
}

#[test]
fn the_same_seed_against_a_fresh_identical_server_gives_the_same_tallies() {
    let (a, b) = (start_demo(), start_demo());
    let mut first = simulate(a.port, "11");
    let mut second = simulate(b.port, "11");
    for r in [&mut first, &mut second] {
        r.as_object_mut().unwrap().remove("url");
    }
    assert!(count(&first["total"], "clicks") > 0, "{first}");
    assert_eq!(first, second);
}
