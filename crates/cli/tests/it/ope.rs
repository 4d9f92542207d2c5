//! `aisle ope` end to end: hand-computed estimates on a three-round log, and the refusals of bad
//! files with the file, line and field named.

use std::path::{Path, PathBuf};

use crate::commands::{aisle, text};

/// Three rounds, one position, string items. Weights π_e/π₀: 1/0.5 = 2, 0.5/0.25 = 2,
/// 0.25/0.8 = 0.3125; rewards 1, 0, 1.
const LOG: &str = "round,position,item,reward,propensity\n\
                   0,0,apple,1,0.5\n\
                   1,0,pear,0,0.25\n\
                   2,0,apple,1,0.8\n";
const TARGET: &str = "round,position,item,prob\n\
                      0,0,apple,1\n\
                      1,0,apple,0.5\n\
                      1,0,pear,0.5\n\
                      2,0,pear,0.75\n\
                      2,0,apple,0.25\n";
const QHAT: &str = "round,position,item,qhat\n\
                    0,0,apple,0.5\n\
                    0,0,pear,0.1\n\
                    1,0,apple,0.4\n\
                    1,0,pear,0.2\n\
                    2,0,apple,0.3\n\
                    2,0,pear,0.6\n";

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("writes");
    path
}

/// Runs `aisle ope` on the given log and target (and q̂) with extra flags.
fn ope(log: &str, target: &str, qhat: Option<&str>, extra: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = write(dir.path(), "log.csv", log);
    let target = write(dir.path(), "target.csv", target);
    let mut args = vec!["ope".to_owned(), "--log".into(), path(&log), "--target".into(), path(&target)];
    if let Some(qhat) = qhat {
        args.extend(["--qhat".to_owned(), path(&write(dir.path(), "qhat.csv", qhat))]);
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    aisle(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn path(p: &Path) -> String {
    p.to_str().expect("UTF-8 temp path").to_owned()
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn close(value: &serde_json::Value, expected: f64) {
    let got = value.as_f64().unwrap_or_else(|| panic!("a number, not {value}"));
    assert!((got - expected).abs() < 1e-12, "got {got}, expected {expected}");
}

/// Asserts a refusal: exit code 2 and `expected` in the message.
fn refused(out: &std::process::Output, expected: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(expected), "expected {expected:?} in {stderr:?}");
    assert!(out.stdout.is_empty(), "no report on a refusal");
}

#[test]
fn three_round_log_gives_hand_computed_ips_snips_and_dr() {
    let report = json(&ope(LOG, TARGET, Some(QHAT), &["--format", "json", "--resamples", "300"]));
    // Σ r·w = 2 + 0 + 0.3125 over 3 rows; Σw = 4.3125; Σw² = 8.09765625.
    close(&report["estimates"]["ips"]["estimate"], 2.3125 / 3.0);
    close(&report["estimates"]["snips"]["estimate"], 2.3125 / 4.3125);
    // DR rows: Σ_a π_e·q̂ + w·(r − q̂(a)):
    //   1·0.5 + 2·(1 − 0.5) = 1.5;  0.5·0.4 + 0.5·0.2 + 2·(0 − 0.2) = −0.1;
    //   0.25·0.3 + 0.75·0.6 + 0.3125·(1 − 0.3) = 0.74375.
    close(&report["estimates"]["dr"]["estimate"], (1.5 - 0.1 + 0.74375) / 3.0);
    assert_eq!(report["rows"], 3);
    assert_eq!(report["rounds"], 3);
    close(&report["ess"], 4.3125 * 4.3125 / 8.09765625);
    close(&report["max_weight"], 2.0);
    assert_eq!(report["reward_model"], "given");
    for name in ["ips", "snips", "dr"] {
        let e = &report["estimates"][name];
        let (low, high) = (e["low"].as_f64().expect("low"), e["high"].as_f64().expect("high"));
        assert!(low <= high, "{name}: {e}");
    }
    assert!(report["estimates"].get("ips_clipped").is_none(), "only with --clip");
}

#[test]
fn without_qhat_dr_fits_item_position_means_and_says_so() {
    let report = json(&ope(LOG, TARGET, None, &["--format", "json", "--estimators", "dr", "--clip", "1"]));
    // q̂(apple) = 1 (two clicks), q̂(pear) = 0: rows 1 + 0, 0.5 + 0, 0.25 + 0 (all residuals 0).
    close(&report["estimates"]["dr"]["estimate"], 1.75 / 3.0);
    assert_eq!(report["reward_model"], "item_position_mean");
    assert!(report["estimates"].get("ips").is_none(), "only the estimators asked for");
    // Weights clipped at 1: r·min(w, 1) = 1 + 0 + 0.3125.
    close(&report["estimates"]["ips_clipped"]["estimate"], 1.3125 / 3.0);
    let table = ope(LOG, TARGET, None, &[]);
    assert!(table.status.success(), "{}", text(&table.stderr));
    let table = text(&table.stdout);
    assert!(table.contains("fitted on this log") && table.contains("SNIPS"), "{table}");
}

#[test]
fn bad_propensity_is_refused_naming_file_line_and_field() {
    let log = LOG.replace("1,0,pear,0,0.25", "1,0,pear,0,0");
    refused(&ope(&log, TARGET, None, &[]), "log.csv line 3, propensity: 0 is not in (0, 1]");
}

#[test]
fn target_summing_over_one_is_refused_naming_round_and_position() {
    let target = TARGET.replace("1,0,pear,0.5", "1,0,pear,0.7");
    refused(
        &ope(LOG, &target, None, &[]),
        "target.csv: round 1 position 0: target probabilities sum to 1.2 > 1",
    );
}

#[test]
fn unknown_column_is_refused() {
    let log = LOG.replacen("propensity\n", "propensity,user\n", 1).replace(",0.5\n", ",0.5,u1\n");
    refused(&ope(&log, TARGET, None, &[]), "log.csv: unknown column `user`");
}

#[test]
fn missing_target_and_repeated_slot_are_refused() {
    refused(&aisle(&["ope", "--log", "log.csv"]), "needs --log LOG.csv and --target TARGET.csv");
    let log = LOG.replace("2,0,apple", "1,0,apple");
    refused(&ope(&log, TARGET, None, &[]), "round 1 position 0 is logged more than once");
}

/// The store mode: lists served under exploration by `aisle serve --demo`, clicks sent back with
/// their recommendation ids, then `aisle ope --candidate-version` on the same store.
#[test]
fn the_store_mode_evaluates_a_stored_version_on_the_exploration_log() {
    use std::time::{Duration, Instant};

    use crate::server::{free_port, http};
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aisle"))
        .args([
            "serve",
            "--demo",
            "--demo-users",
            "60",
            "--demo-items",
            "80",
            "--demo-events",
            "3000",
            "--data-dir",
        ])
        .arg(dir.path())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("AISLE_LOG__LEVEL", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !http(port, "GET", "/v1/models", "").is_some_and(|(s, b)| s == 200 && b.contains("\"version\":1")) {
        assert!(Instant::now() < deadline, "the demo server never served a model");
        std::thread::sleep(Duration::from_millis(200));
    }
    let placement = r#"{"kind":"user","n":4,"exploration":{"policy":"plackett_luce","temperature":0.3}}"#;
    assert_eq!(http(port, "PUT", "/v1/placements/home", placement).unwrap().0, 200);
    let mut clicks = Vec::new();
    for u in 1..=40 {
        let (status, body) =
            http(port, "GET", &format!("/v1/users/u{u}/recommendations?placement=home"), "").unwrap();
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let item = &v["items"][u % 4]["id"];
        clicks.push(format!(
            r#"{{"user_id":"u{u}","item_id":{item},"type":"click","recommendation_id":"{}"}}"#,
            v["recommendation_id"].as_str().unwrap()
        ));
    }
    assert_eq!(http(port, "POST", "/v1/events", &format!("[{}]", clicks.join(","))).unwrap().0, 200);
    // Impressions are written within impact.flush_ms; wait until the report counts them all.
    while !http(port, "GET", "/v1/analytics/impact?placement=home", "")
        .is_some_and(|(_, b)| b.contains("\"impressions\":40"))
    {
        assert!(Instant::now() < deadline, "the impressions were never written");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aisle"))
        .args(["ope", "--candidate-version", "1", "--resamples", "50", "--format", "json", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rows"], 160, "40 lists × 4 slots: {v}");
    assert_eq!(v["rounds"], 40);
    assert!(v["estimates"].get("dr").is_none(), "DR needs a distribution the store mode does not have");
    for e in ["ips", "snips"] {
        let x = v["estimates"][e]["estimate"].as_f64().unwrap();
        assert!(x.is_finite() && x >= 0.0, "{e}: {v}");
    }
    // The serving version explored around its own ranking, so the candidate (the same version)
    // matches many logged prefixes: some weight is non-zero.
    assert!(v["max_weight"].as_f64().unwrap() > 0.0, "{v}");
    // Both modes at once are refused.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aisle"))
        .args(["ope", "--candidate-version", "1", "--log", "x.csv", "--target", "y.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("leave out --log"));
}
