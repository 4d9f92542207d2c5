//! The commands under hostile input (issue 11): an import run twice, ids with control
//! characters, a store URL with a password, a server asked to listen openly on every address.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aisle_store::{AnyStore, Store};

use crate::commands::{aisle, text};

fn event_count(dir: &std::path::Path) -> u64 {
    let url = format!("sqlite:{}", dir.join("aisle.db").display());
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { AnyStore::open(&url).await.unwrap().counts().await.unwrap().events })
}

#[test]
fn an_import_run_twice_stores_each_event_once_and_refuses_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.csv");
    // No event ids, no timestamps: nothing in the rows themselves tells a re-run apart.
    std::fs::write(
        &file,
        "user_id,item_id,type\nu1,i1,view\nu1,i1,view\nu2,i2,purchase\nu\u{1}3,i3,view\nu4,i\u{7f}4,view\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let run = || {
        let out =
            aisle(&["import", "--data-dir", data.to_str().unwrap(), "--events", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stderr)
    };
    let first = run();
    assert!(
        first.contains("control characters"),
        "ids with control characters are rejected by name: {first}"
    );
    // The repeated row is dropped as an exact duplicate within the file (as `aisle eval` does).
    assert_eq!(event_count(&data), 2, "{first}");
    assert!(first.contains("2 new events (0 stored before)"), "{first}");
    let second = run();
    assert_eq!(event_count(&data), 2, "a second run stores nothing twice: {second}");
    assert!(second.contains("0 new events (2 stored before)"), "{second}");
    // The same file with a line appended: only that line is new.
    let mut more = std::fs::read_to_string(&file).unwrap();
    more.push_str("u5,i5,view\n");
    std::fs::write(&file, more).unwrap();
    let third = run();
    assert_eq!(event_count(&data), 3, "{third}");
}

/// A file's `session_id` column reaches the store: sequential models and the session split read
/// it back from there.
#[test]
fn an_import_keeps_each_events_session() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.csv");
    std::fs::write(
        &file,
        "user_id,item_id,type,timestamp,session_id\nu1,i1,view,1700000000,s-a\nu1,i2,view,1700000060,s-a\n\
         u1,i3,view,1700090000,s-b\nu2,i1,view,1700000100,\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let out = aisle(&["import", "--data-dir", data.to_str().unwrap(), "--events", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let url = format!("sqlite:{}", data.join("aisle.db").display());
    let events = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { AnyStore::open(&url).await.unwrap().events_after(0, 10).await.unwrap() });
    let sessions: Vec<(&str, &str, Option<&str>)> = events
        .iter()
        .map(|e| (e.event.user_id.as_str(), e.event.item_id.as_str(), e.event.session_id.as_deref()))
        .collect();
    assert_eq!(
        sessions,
        [("u1", "i1", Some("s-a")), ("u1", "i2", Some("s-a")), ("u1", "i3", Some("s-b")), ("u2", "i1", None)]
    );
}

#[test]
fn a_store_url_never_shows_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.csv");
    std::fs::write(&file, "user_id,item_id,type\nu1,i1,view\n").unwrap();
    let out = aisle(&[
        "import",
        "--store-url",
        "postgres://shop:hunter2@127.0.0.1:1/aisle",
        "--events",
        file.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains("hunter2"), "{all}");
    assert!(all.contains("shop:***@127.0.0.1:1"), "the URL is still named, without its password: {all}");
}

#[test]
fn serve_refuses_to_listen_on_every_address_without_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_aisle"))
        .args(["serve", "--data-dir", dir.path().to_str().unwrap(), "--listen", "0.0.0.0:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if status.is_none() {
        child.kill().unwrap();
        child.wait().unwrap();
        panic!("aisle serve listened on 0.0.0.0 with every route open");
    }
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(!status.unwrap().success());
    assert!(err.contains("auth.open"), "{err}");
}

/// `--strict` stops an import at the first bad row, naming its line and field; the rows before it
/// are stored (nothing accepted is lost), and once the row is fixed a second run stores only the
/// rows that were not stored yet.
#[test]
fn a_strict_import_stops_at_the_bad_row_and_a_fixed_rerun_stores_the_rest_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.csv");
    let rows = |value: &str| {
        format!(
            "user_id,item_id,type,value\nu1,i1,view,\nu2,i2,purchase,3\nu3,i3,rating,{value}\nu4,i4,view,\n"
        )
    };
    std::fs::write(&file, rows("lots")).unwrap();
    let data = dir.path().join("data");
    let import = || {
        aisle(&[
            "import",
            "--strict",
            "--data-dir",
            data.to_str().unwrap(),
            "--events",
            file.to_str().unwrap(),
        ])
    };
    let failed = import();
    let said = text(&failed.stderr);
    assert!(!failed.status.success(), "{said}");
    assert!(said.contains("line 4") && said.contains("field value"), "{said}");
    assert_eq!(event_count(&data), 2, "the two rows before the bad one are stored: {said}");
    std::fs::write(&file, rows("4")).unwrap();
    let fixed = import();
    let said = text(&fixed.stderr);
    assert!(fixed.status.success(), "{said}");
    assert!(said.contains("2 new events (2 stored before)"), "{said}");
    assert_eq!(event_count(&data), 4);
}
