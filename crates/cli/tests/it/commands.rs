//! `aisle generate`, `aisle eval` and `aisle demo` end to end, including their error messages.

use std::path::Path;
use std::process::{Command, Output};

pub fn aisle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aisle")).args(args).output().expect("the aisle binary runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn generate(dir: &Path) {
    generate_shop(dir, true);
}

/// A small generated shop in `dir` (with 1–5 ratings when `ratings`).
pub fn generate_shop(dir: &Path, ratings: bool) {
    let mut args = vec![
        "generate",
        "--users",
        "150",
        "--items",
        "120",
        "--events",
        "6000",
        "--seed",
        "3",
        "--out",
        dir.to_str().unwrap(),
    ];
    if ratings {
        args.push("--ratings");
    }
    let out = aisle(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for f in ["items.jsonl", "users.csv", "events.csv", "truth.jsonl"] {
        assert!(dir.join(f).is_file(), "missing {f}");
    }
}

#[test]
fn eval_on_a_generated_shop_reports_every_model_and_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let events = dir.path().join("events.csv");
    let out = aisle(&[
        "eval",
        "--data",
        events.to_str().unwrap(),
        "--format",
        "csv",
        "--models",
        "user-knn,item-knn",
        "--split",
        "last-k:2",
        "--output",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let models: Vec<&str> =
        report["results"].as_array().unwrap().iter().map(|r| r["model"].as_str().unwrap()).collect();
    assert_eq!(models, ["pop", "user-knn", "item-knn"]);
    assert_eq!(report["results"][0]["added_baseline"], true);
    let ndcg = report["results"][2]["folds"][0]["ranking"]["ndcg"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&ndcg) && ndcg > 0.0, "ndcg {ndcg}");
    // The import summary goes to stderr, so stdout stays parseable.
    assert!(text(&out.stderr).contains("accepted"), "{}", text(&out.stderr));
}

/// `aisle tune` on a next-item protocol scores each setting on the validation cases, as
/// `aisle eval` on the same protocol reports them, and the best one once on the test cases.
#[test]
fn tune_searches_on_the_next_item_validation_cases() {
    let dir = tempfile::tempdir().unwrap();
    generate_shop(dir.path(), false);
    let events = dir.path().join("events.csv");
    let data = ["--data", events.to_str().unwrap(), "--format", "csv"];
    let mut args = vec!["tune", "--model", "sr", "--validation", "leave-last-one", "--search", "grid"];
    args.extend(["--space", "steps=1,10", "--output", "json"]);
    args.extend(data);
    let out = aisle(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let trials = report["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 2);
    let score = |t: &serde_json::Value| t["outcome"]["score"].as_f64().unwrap();
    assert!(score(&trials[0]) >= score(&trials[1]), "best first: {trials:?}");
    assert!(report["test"]["best"].as_f64().unwrap() > 0.0, "{report}");
    for t in trials {
        let steps = t["params"]["steps"].as_u64().unwrap();
        let param = format!("sr.steps={steps}");
        let mut eval = vec!["eval", "--models", "sr", "--param", &param, "--split", "leave-last-one"];
        eval.extend(["--output", "json"]);
        eval.extend(data);
        let out = aisle(&eval);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let rows = r["results"].as_array().unwrap();
        let sr = rows.iter().find(|row| row["model"] == "sr").expect("an sr row");
        let validation = sr["validation"]["ndcg_10"].as_f64().unwrap();
        assert_eq!(score(t), validation, "steps {steps}: tune and eval agree on the validation cases");
    }
    let mut bad = vec!["tune", "--model", "sr", "--validation", "leave-last-one", "--metric", "auc"];
    bad.extend(data);
    let out = aisle(&bad);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("next-item protocols measure"), "{}", text(&out.stderr));
}

#[test]
fn next_item_protocols_evaluate_session_models_against_the_popularity_row() {
    let dir = tempfile::tempdir().unwrap();
    generate_shop(dir.path(), false);
    let events = dir.path().join("events.csv");
    for split in ["leave-last-one", "sessions:0.2"] {
        let out = aisle(&[
            "eval",
            "--data",
            events.to_str().unwrap(),
            "--format",
            "csv",
            "--models",
            "sknn,sr,markov",
            "--split",
            split,
            "--output",
            "json",
        ]);
        assert!(out.status.success(), "{split}: {}", text(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
        let results = report["results"].as_array().unwrap();
        let models: Vec<&str> = results.iter().map(|r| r["model"].as_str().unwrap()).collect();
        assert_eq!(models, ["pop", "sknn", "sr", "markov"], "{split}");
        let cases = results[0]["test"]["cases"].as_u64().unwrap();
        assert!(cases > 0, "{split}: no test cases");
        let hr = |r: &serde_json::Value| r["test"]["hr_20"].as_f64().unwrap();
        // The shop's sessions browse one category: the session model must beat popularity.
        assert!(
            hr(&results[1]) > hr(&results[0]),
            "{split}: sknn {} vs pop {}",
            hr(&results[1]),
            hr(&results[0])
        );
        for r in results {
            assert!((0.0..=1.0).contains(&hr(r)), "{split}: {r}");
        }
    }
    let out = aisle(&[
        "eval",
        "--data",
        events.to_str().unwrap(),
        "--format",
        "csv",
        "--split",
        "leave-last-one",
        "--sampled-negatives",
        "100",
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("do not apply"), "{}", text(&out.stderr));
    let out =
        aisle(&["eval", "--data", events.to_str().unwrap(), "--format", "csv", "--split", "sessions:0.7"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("test_ratio"), "{}", text(&out.stderr));
}

#[test]
fn cross_validation_table_and_markdown_on_ratings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u.data");
    let mut rows = String::new();
    for u in 1..=30 {
        for i in 1..=20 {
            if (u * 7 + i * 3) % 4 != 0 {
                rows += &format!("{u}\t{i}\t{}\t{}\n", 1 + (u + i) % 5, 880000000 + u * 100 + i);
            }
        }
    }
    std::fs::write(&path, rows).unwrap();
    for output in ["table", "markdown"] {
        let out = aisle(&[
            "eval",
            "--data",
            path.to_str().unwrap(),
            "--format",
            "ml-100k",
            "--models",
            "baseline,svd",
            "--cv",
            "3",
            "--k",
            "5",
            "--output",
            output,
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(stdout.contains("RMSE") && stdout.contains("NDCG@5"), "{stdout}");
        assert!(stdout.contains("pop (baseline)") && stdout.contains("svd"), "{stdout}");
        assert!(stdout.contains("±"), "{stdout}");
        if output == "markdown" {
            assert!(stdout.contains("|---|"), "{stdout}");
        }
    }
}

#[test]
fn bad_flags_and_bad_files_get_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    let out = aisle(&["eval", "--data", "/nonexistent/u.data", "--format", "ml-100k"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/u.data"), "{}", text(&out.stderr));

    let out = aisle(&["eval", "--data", "x", "--models", "svd,nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown model \"nope\""), "{}", text(&out.stderr));

    let out = aisle(&["eval", "--data", "x", "--split", "sideways:3"]);
    assert!(!out.status.success());

    let out = aisle(&["eval", "--data", "x", "--k", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--k must be at least 1"), "{}", text(&out.stderr));

    let bad = dir.path().join("bad.data");
    std::fs::write(&bad, "1\t1\t5\t100\n2\tx\n3\t3\tfive\t100\n").unwrap();
    let out = aisle(&["eval", "--data", bad.to_str().unwrap(), "--format", "ml-100k", "--strict"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("line 2"), "{stderr}");
}

#[test]
fn demo_runs_end_to_end_on_a_small_shop() {
    let dir = tempfile::tempdir().unwrap();
    let shop = dir.path().join("shop");
    let out = aisle(&[
        "demo",
        "--dir",
        shop.to_str().unwrap(),
        "--users",
        "120",
        "--items",
        "100",
        "--events",
        "5000",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for model in ["pop", "trending", "user-knn", "item-knn"] {
        assert!(stdout.contains(model), "{model} missing from\n{stdout}");
    }
    assert!(shop.join("events.csv").is_file());
}

#[test]
fn jsonl_events_are_implicit_feedback_with_a_bad_line_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let mut lines = String::new();
    for u in 0..12 {
        for i in 0..6 {
            let kind = ["view", "add_to_cart", "purchase"][(u + i) % 3];
            let ts = 1_700_000_000 + u * 100 + i;
            lines += &format!(
                "{{\"user_id\":\"u{u}\",\"item_id\":\"i{}\",\"type\":\"{kind}\",\"timestamp\":{ts}}}\n",
                (u / 6) * 6 + i
            );
        }
    }
    lines += "{\"user_id\":\"u1\",\"item_id\":\"i1\",\"type\":\"teleport\"}\n";
    std::fs::write(&path, lines).unwrap();
    let out = aisle(&[
        "eval",
        "--data",
        path.to_str().unwrap(),
        "--format",
        "jsonl",
        "--models",
        "item-knn",
        "--split",
        "last-k:1",
        "--output",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["feedback"], "implicit");
    assert_eq!(report["n_users"], 12);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("1 rejected") && stderr.contains("line 73"), "{stderr}");
    assert!(stderr.contains("unknown event type"), "{stderr}");
}

#[test]
fn a_train_test_pair_shares_one_id_space() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = (dir.path().join("train.tsv"), dir.path().join("test.tsv"));
    let mut rows = String::new();
    for u in 1..=20 {
        for i in 1..=8 {
            if (u + i) % 3 != 0 {
                rows += &format!("{u}\t{}\t{}\n", i + 8 * (u % 2), 1 + (u * i) % 5);
            }
        }
    }
    std::fs::write(&train, rows).unwrap();
    // Held-out rows, one of them on an item that is not in the training file at all.
    std::fs::write(&test, "1\t3\t4\n2\t12\t5\n3\t99\t5\n").unwrap();
    let out = aisle(&[
        "eval",
        "--train",
        train.to_str().unwrap(),
        "--test",
        test.to_str().unwrap(),
        "--models",
        "user-knn",
        "--output",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["n_items"], 17, "16 training items and the test-only one");
    assert_eq!(report["results"][1]["summary"]["ranking"]["users"], 3);
    assert_eq!(report["results"][1]["summary"]["rating"]["n"], 3);

    let out = aisle(&["eval", "--train", train.to_str().unwrap()]);
    assert!(!out.status.success(), "--train needs --test");
}
