//! The impact part on a shared store: two replicas (two engines on one PostgreSQL schema) assign
//! every unit to the same variant, log impressions under one unit row, and attribute each event
//! once although both follow the log.

use std::sync::Arc;
use std::time::Duration;

use aisle_core::EventKind;
use aisle_engine::impact::{ExperimentConfig, Impact, Placed, PlacementConfig, Query};
use aisle_engine::{Engine, EngineConfig, RecommendRequest, Subject, now_ms};
use aisle_store::{AnyStore, EventRecord, ImpactStore, RollupQuery};

fn pg_url() -> Option<String> {
    let base = crate::service_url("AISLE_TEST_POSTGRES_URL")?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}schema=impact_{}_{nanos}", std::process::id()))
}

async fn replica(url: &str) -> (Arc<Engine>, Arc<Impact>) {
    let mut config = EngineConfig::default();
    config.impact.flush_ms = 20;
    let engine = Engine::open(AnyStore::open(url).await.unwrap(), config).await.unwrap();
    let impact = Impact::start(Arc::clone(&engine)).await.unwrap();
    (engine, impact)
}

fn placed(user: &str) -> Placed {
    Placed {
        placement: Some("home".into()),
        n: Some(3),
        query: Query::Personal(RecommendRequest::new(Subject::User(user.into()), 3)),
        user_id: None,
        session_id: None,
        log: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_assign_alike_log_one_unit_and_attribute_once() {
    let Some(url) = pg_url() else { return };
    let (ea, a) = replica(&url).await;
    let (_eb, b) = replica(&url).await;
    let seed: Vec<EventRecord> = (0..6)
        .map(|k| EventRecord {
            event_id: Some(format!("s{k}")),
            user_id: "seed".into(),
            item_id: format!("i{k}"),
            kind: EventKind::Purchase,
            value: None,
            ts_ms: now_ms() - 1000,
            session_id: None,
            recommendation_id: None,
        })
        .collect();
    ea.ingest(seed).await.unwrap();
    let config: PlacementConfig = serde_json::from_value(serde_json::json!({"kind": "user"})).unwrap();
    a.put_placement("home", config).await.unwrap();
    let exp: ExperimentConfig = serde_json::from_value(serde_json::json!({"id": "e", "placement": "home",
        "variants": [{"name": "control"}, {"name": "trend", "kind": "trending"}]}))
    .unwrap();
    let created = a.create_experiment(exp).await.unwrap();
    // The other replica follows the store (its worker rereads every 2 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let seen = loop {
        if let Some(e) = b.experiments().get("e") {
            break e;
        }
        assert!(std::time::Instant::now() < deadline, "replica b never saw the experiment");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(seen.salt, created.salt);
    for u in 0..200 {
        let unit = format!("u{u}");
        assert_eq!(seen.assign(&unit), created.assign(&unit), "{unit} gets one variant on both");
    }
    // Both replicas serve the same shoppers; clicks come in through replica a.
    let mut clicks = Vec::new();
    for u in 0..30 {
        let user = format!("u{u}");
        let first = a.serve(placed(&user)).await.unwrap();
        b.serve(placed(&user)).await.unwrap();
        clicks.push(EventRecord {
            event_id: Some(format!("c{u}")),
            user_id: user,
            item_id: first.items[0].id.clone(),
            kind: EventKind::Click,
            value: None,
            ts_ms: now_ms(),
            session_id: None,
            recommendation_id: Some(first.recommendation_id),
        });
    }
    a.flush().await.unwrap();
    b.flush().await.unwrap();
    ea.ingest(clicks).await.unwrap();
    let store = ea.store();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        a.flush().await.unwrap();
        b.flush().await.unwrap();
        let rows = store
            .rollups(RollupQuery { from_ms: 0, to_ms: i64::MAX, ..RollupQuery::default() })
            .await
            .unwrap();
        let clicked: u64 = rows.iter().map(|r| r.clicks).sum();
        let shown: u64 = rows.iter().map(|r| r.impressions).sum();
        assert_eq!(shown, 60);
        if clicked == 30 {
            break;
        }
        assert!(clicked < 30, "an event was credited twice: {clicked}");
        assert!(std::time::Instant::now() < deadline, "attribution stalled at {clicked}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let units = store.experiment_units("e".into()).await.unwrap();
    assert_eq!(units.len(), 30, "one row per unit, whichever replica served it");
    for u in &units {
        assert_eq!(u.impressions, 2);
        let k = created.config.variants.iter().position(|v| v.name == u.variant);
        assert_eq!(k, created.assign(&u.unit));
    }
    let clicked: u64 = units.iter().map(|u| u.clicks).sum();
    assert_eq!(clicked, 30);
}
