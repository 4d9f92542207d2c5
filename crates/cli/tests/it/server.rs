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
