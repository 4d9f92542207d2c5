//! `aisle serve` as a real process: acknowledged events survive a kill -9, and the store reopens.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One HTTP/1.1 request; returns (status, body).
pub(crate) fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    Some((status, out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()))
}

fn start(dir: &std::path::Path, port: u16) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aisle"))
        .args(["serve", "--data-dir"])
        .arg(dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("AISLE_TRAINING__ON_START", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if http(port, "GET", "/health/ready", "").is_some_and(|(s, _)| s == 200) {
            return child;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("aisle serve did not become ready");
}

#[test]
fn every_acknowledged_event_survives_a_kill_and_the_store_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = start(dir.path(), port);
    let mut acked = 0;
    for batch in 0..20 {
        let events: Vec<String> = (0..100)
            .map(|k| {
                format!(
                    r#"{{"event_id":"e{batch}-{k}","user_id":"u{k}","item_id":"i{}","type":"view"}}"#,
                    k % 7
                )
            })
            .collect();
        let (status, body) = http(port, "POST", "/v1/events", &format!("[{}]", events.join(","))).unwrap();
        assert_eq!(status, 200, "{body}");
        acked += 100;
    }
    child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    child.wait().unwrap();

    let mut child = start(dir.path(), port);
    let (status, body) = http(port, "GET", "/metrics", "").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains(&format!("aisle_events {acked}")), "all {acked} acknowledged events are back");
    // Re-sending after the restart stores nothing twice: the event ids were durable too.
    let (_, body) = http(
        port,
        "POST",
        "/v1/events",
        r#"{"event_id":"e0-0","user_id":"u0","item_id":"i0","type":"view"}"#,
    )
    .unwrap();
    assert!(body.contains(r#""duplicates":1"#), "{body}");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A stop signal ends the server while a training runs on the blocking pool: the training holds
/// nothing that must be written (its version is stored when it ends), so shutdown does not wait
/// for it. Here the training is a SASRec fit of a million epochs, which would run for hours.
#[test]
fn a_stop_signal_ends_the_server_while_a_training_runs() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = start(dir.path(), port);
    for batch in 0..4 {
        let events: Vec<String> = (0..500)
            .map(|k| {
                let (u, i) = (k % 100, (k * 7 + batch) % 50);
                format!(r#"{{"event_id":"e{batch}-{k}","user_id":"u{u}","item_id":"i{i}","type":"view"}}"#)
            })
            .collect();
        let (status, body) = http(port, "POST", "/v1/events", &format!("[{}]", events.join(","))).unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let train = r#"{"model":"sasrec","params":{"epochs":1000000,"validation":"none","hidden":16,"blocks":1},"force":true}"#;
    let (status, body) = http(port, "POST", "/v1/admin/train", train).unwrap();
    assert_eq!(status, 202, "{body}");
    let running = || {
        let (_, body) = http(port, "GET", "/v1/models", "").unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        (v["training_since_ms"].is_i64(), v["last_training_error"].clone())
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !running().0 {
        assert!(Instant::now() < deadline, "the training never started: {:?}", running().1);
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    assert!(running().0, "the training is still running when the signal is sent: {:?}", running().1);
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("aisle serve was still running 60 s after SIGTERM, waiting for the training");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "a stop signal is a clean exit: {status}");
}

/// The impact report's totals for placement `home`: (impressions, clicks).
fn home_totals(port: u16) -> (u64, u64) {
    let (status, body) = http(port, "GET", "/v1/analytics/impact?placement=home", "").unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let m = &v["totals"][0]["metrics"];
    (m["impressions"].as_u64().unwrap_or(0), m["clicks"].as_u64().unwrap_or(0))
}

/// Waits until the rollups show `want` (they trail the queue by `impact.flush_ms`).
fn wait_for_totals(port: u16, want: (u64, u64)) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while home_totals(port) != want {
        assert!(Instant::now() < deadline, "the rollups never reached {want:?}: {:?}", home_totals(port));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn impressions_and_rollups_survive_a_kill_and_count_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = start(dir.path(), port);
    let (status, body) = http(port, "PUT", "/v1/placements/home", r#"{"kind":"popular","n":3}"#).unwrap();
    assert_eq!(status, 200, "{body}");
    let seed: Vec<String> = (0..5)
        .map(|k| format!(r#"{{"event_id":"seed{k}","user_id":"s","item_id":"i{k}","type":"purchase"}}"#))
        .collect();
    assert_eq!(http(port, "POST", "/v1/events", &format!("[{}]", seed.join(","))).unwrap().0, 200);
    let mut clicks = Vec::new();
    for u in 0..40 {
        let (status, body) =
            http(port, "GET", &format!("/v1/popular?placement=home&user_id=u{u}"), "").unwrap();
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let rid = v["recommendation_id"].as_str().unwrap().to_owned();
        let item = v["items"][0]["id"].as_str().unwrap().to_owned();
        clicks.push(format!(
            r#"{{"event_id":"c{u}","user_id":"u{u}","item_id":"{item}","type":"click","recommendation_id":"{rid}"}}"#
        ));
    }
    assert_eq!(http(port, "POST", "/v1/events", &format!("[{}]", clicks.join(","))).unwrap().0, 200);
    wait_for_totals(port, (40, 40));
    child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    child.wait().unwrap();

    let mut child = start(dir.path(), port);
    assert_eq!(home_totals(port), (40, 40), "written impressions and credited events survived the kill");
    // Re-sent clicks are duplicates (not credited again); attribution resumes from its cursor.
    assert_eq!(http(port, "POST", "/v1/events", &format!("[{}]", clicks.join(","))).unwrap().0, 200);
    let (_, body) = http(port, "GET", "/v1/popular?placement=home&user_id=late", "").unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let late = format!(
        r#"{{"event_id":"late","user_id":"late","item_id":"{}","type":"click","recommendation_id":"{}"}}"#,
        v["items"][0]["id"].as_str().unwrap(),
        v["recommendation_id"].as_str().unwrap()
    );
    assert_eq!(http(port, "POST", "/v1/events", &late).unwrap().0, 200);
    wait_for_totals(port, (41, 41));
    child.kill().unwrap();
    child.wait().unwrap();
}
