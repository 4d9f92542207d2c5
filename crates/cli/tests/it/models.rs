//! The implicit, content and hybrid models through the CLI: every one in `aisle eval`, the
//! cold-start protocol, `aisle tune` and its config file read back, and `aisle bench fit`.

use std::path::Path;

use crate::commands::{aisle, generate_shop, text};

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn every_new_model_evaluates_with_the_catalog_and_users() {
    let dir = tempfile::tempdir().unwrap();
    generate_shop(dir.path(), false);
    let d = dir.path();
    let report = json(&aisle(&[
        "eval",
        "--data",
        path(&d.join("events.csv")),
        "--format",
        "csv",
        "--items",
        path(&d.join("items.jsonl")),
        "--users",
        path(&d.join("users.csv")),
        "--models",
        "ials,bpr,ease,content,hybrid,blend",
        "--param",
        "hybrid.epochs=5",
        "--split",
        "last-k:1",
        "--output",
        "json",
    ]));
    let results = report["results"].as_array().unwrap();
    let models: Vec<&str> = results.iter().map(|r| r["model"].as_str().unwrap()).collect();
    assert_eq!(models, ["pop", "ials", "bpr", "ease", "content", "hybrid", "blend"]);
    for r in results {
        let ndcg = r["summary"]["ranking"]["ndcg"]["mean"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&ndcg), "{}: {ndcg}", r["model"]);
    }
    // The collaborative models learn the shop: iALS beats popularity.
    let ndcg = |m: &str| {
        results.iter().find(|r| r["model"] == m).unwrap()["summary"]["ranking"]["ndcg"]["mean"]
            .as_f64()
            .unwrap()
    };
    assert!(ndcg("ials") > ndcg("pop"), "ials {} vs pop {}", ndcg("ials"), ndcg("pop"));
    assert_eq!(results[5]["params"]["epochs"], 5);
}

#[test]
fn cold_items_rank_only_held_out_items_and_content_beats_pure_cf() {
    let dir = tempfile::tempdir().unwrap();
    generate_shop(dir.path(), false);
    let d = dir.path();
    let report = json(&aisle(&[
        "eval",
        "--data",
        path(&d.join("events.csv")),
        "--format",
        "csv",
        "--items",
        path(&d.join("items.jsonl")),
        "--models",
        "ials,content",
        "--split",
        "cold-items:0.2",
        "--output",
        "json",
    ]));
    let r = report["results"].as_array().unwrap();
    assert_eq!(r[1]["summary"]["ranking"]["candidates"]["kind"], "cold_items");
    let auc = |k: usize| r[k]["summary"]["ranking"]["auc"]["mean"].as_f64().unwrap();
    // iALS has nothing on items nobody touched: they all tie, AUC exactly ½.
    assert_eq!(auc(1), 0.5);
    assert!(auc(2) > 0.6, "content AUC {}", auc(2));
    // Content without a catalog is refused with the flag to use.
    let out = aisle(&[
        "eval",
        "--data",
        path(&d.join("events.csv")),
        "--format",
        "csv",
        "--models",
        "content",
        "--split",
        "last-k:1",
    ]);
    assert!(!out.status.success() && text(&out.stderr).contains("--items"), "{}", text(&out.stderr));
}

#[test]
fn tune_writes_the_best_setting_and_eval_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    generate_shop(dir.path(), false);
    let d = dir.path();
    let events = d.join("events.csv");
    let best = d.join("best.toml");
    let report = json(&aisle(&[
        "tune",
        "--data",
        path(&events),
        "--format",
        "csv",
        "--model",
        "ials",
        "--search",
        "grid",
        "--space",
        "factors=4,16",
        "--space",
        "reg=0.5",
        "--param",
        "ials.iterations=6",
        "--validation",
        "last-k:1",
        "--write",
        path(&best),
        "--output",
        "json",
    ]));
    let trials = report["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 2);
    assert!(trials[0]["outcome"]["score"].as_f64() >= trials[1]["outcome"]["score"].as_f64(), "best first");
    // Early stopping recorded a best iteration and the config carries it.
    let step = trials[0]["outcome"]["best_step"].as_u64().expect("iALS shows checkpoints");
    let config = std::fs::read_to_string(&best).unwrap();
    assert!(config.contains("[models.ials]"), "{config}");
    assert!(config.contains(&format!("iterations = {step}")), "{config}");
    let factors = trials[0]["params"]["factors"].as_u64().unwrap();
    let eval = json(&aisle(&[
        "eval",
        "--data",
        path(&events),
        "--format",
        "csv",
        "--models",
        "pop",
        "--config",
        path(&best),
        "--split",
        "last-k:1",
        "--output",
        "json",
    ]));
    let ials = &eval["results"][1];
    assert_eq!(ials["model"], "ials");
    assert_eq!(ials["params"]["factors"].as_u64(), Some(factors));
    assert_eq!(ials["params"]["iterations"].as_u64(), Some(step));
    // A continuous dimension cannot be a grid; a bad dimension names itself.
    for (space, needle) in [("reg=log:0.1..1", "continuous"), ("reg", "PATH=VALUES")] {
        let out = aisle(&[
            "tune",
            "--data",
            path(&events),
            "--format",
            "csv",
            "--model",
            "ials",
            "--search",
            "grid",
            "--space",
            space,
        ]);
        assert!(
            !out.status.success() && text(&out.stderr).contains(needle),
            "{space}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn bench_fit_reads_a_dense_matrix_and_names_a_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.tsv");
    let rows: String = (0..40u32)
        .flat_map(|u| (0..5u32).map(move |k| format!("{u}\t{}\t1\n", (u * 3 + k * 7) % 30)))
        .collect();
    std::fs::write(&m, rows).unwrap();
    let report = json(&aisle(&[
        "bench",
        "fit",
        "--matrix",
        path(&m),
        "--models",
        "ials",
        "--param",
        "ials.factors=4",
        "--recommend-users",
        "10",
        "--output",
        "json",
    ]));
    assert_eq!(report[0]["model"], "ials");
    assert!(report[0]["median_fit_s"].as_f64().unwrap() > 0.0);
    std::fs::write(&m, "0\t1\n1\tx\n").unwrap();
    let out = aisle(&["bench", "fit", "--matrix", path(&m)]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("line 2, field item"), "{}", text(&out.stderr));
}
