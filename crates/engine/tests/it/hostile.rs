//! Faults and floods (issue 11): a client that hangs up half-way, a flood of junk events before a
//! scheduled training, an unreadable active artifact, an old leader that still publishes, a dead
//! letter PostgreSQL cannot store.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aisle_core::EventKind;
use aisle_engine::{
    Engine, EngineConfig, Filters, KafkaSink, PopularRequest, TrainRequest, Window, shop_records,
};
use aisle_ingest::kafka::{Rejected, Sink};
use aisle_ingest::synth::{ShopParams, generate};

use crate::load_shop;
use aisle_store::{AnyStore, EventRecord, ItemRecord, NewModel, Store};

/// A PostgreSQL URL with a schema of its own, when the tests have a server.
fn pg_url(tag: &str) -> Option<String> {
    let base = crate::service_url("AISLE_TEST_POSTGRES_URL")?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}schema={tag}_{}_{nanos}", std::process::id()))
}

fn quick() -> EngineConfig {
    let mut config = EngineConfig::default();
    config.model.name = "ials".into();
    config.model.params.insert("factors".into(), 16.into());
    config.model.params.insert("iterations".into(), 6.into());
    config.popular.cache_ttl_ms = 0;
    config
}

async fn open(url: &str, config: EngineConfig) -> Arc<Engine> {
    Engine::open(AnyStore::open(url).await.unwrap(), config).await.unwrap()
}

fn sqlite(dir: &std::path::Path) -> String {
    format!("sqlite:{}", dir.join("aisle.db").display())
}

/// Polls `fut` once, then drops it: a client that hangs up while its request is in flight.
async fn hang_up<F: Future>(fut: F) {
    let mut fut = std::pin::pin!(fut);
    tokio::select! {
        biased;
        _ = &mut fut => panic!("the request finished on its first poll; nothing was dropped half-way"),
        () = std::future::ready(()) => {}
    }
}

/// Waits (up to a minute) until `done` holds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "never happened: {what}");
}

fn purchase(id: &str, user: &str, item: &str) -> EventRecord {
    EventRecord {
        event_id: Some(id.to_owned()),
        user_id: user.to_owned(),
        item_id: item.to_owned(),
        kind: EventKind::Purchase,
        value: None,
        ts_ms: aisle_engine::now_ms(),
        session_id: None,
        recommendation_id: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_whose_client_hung_up_is_still_applied_once_stored() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(&sqlite(dir.path()), quick()).await;
    let mug = ItemRecord {
        id: "i1".into(),
        title: "Mug".into(),
        description: String::new(),
        categories: Vec::new(),
        tags: Vec::new(),
        brand: None,
        price: None,
        in_stock: true,
        attributes: serde_json::Map::new(),
        updated_at_ms: 0,
    };
    e.put_items(vec![mug]).await.unwrap();
    hang_up(e.ingest(vec![purchase("e1", "u1", "i1")])).await;
    let popular = || {
        let req = PopularRequest { window: Window::Hour, n: 5, filters: Filters::default() };
        e.popular(&req).items.iter().any(|i| i.id == "i1")
    };
    eventually("the stored event reaches the popular list", popular).await;
    // A retry of the same event is a duplicate: it must not be applied a second time either.
    let again = e.ingest(vec![purchase("e1", "u1", "i1")]).await.unwrap();
    assert_eq!((again.inserted, again.duplicates), (0, 1));
    assert_eq!(e.stats().events, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_training_whose_client_hung_up_keeps_its_slot_until_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(&sqlite(dir.path()), quick()).await;
    load_shop(&e, 150, 200, 8_000, 3).await;
    hang_up(e.train(&TrainRequest::default())).await;
    assert!(e.training_status().running_since_ms.is_some(), "the job runs on without its client");
    let second = e.train(&TrainRequest::default()).await;
    assert!(matches!(second, Err(aisle_engine::EngineError::TrainingBusy { .. })), "{second:?}");
    eventually("the abandoned job finishes and publishes", || e.training_status().jobs == 1).await;
    assert_eq!(e.serving().map(|p| p.version()), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_active_artifact_falls_back_to_the_newest_readable_version() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(&sqlite(dir.path()), quick()).await;
    load_shop(&e, 150, 200, 8_000, 3).await;
    e.train(&TrainRequest { model: None, force: true, candidate: false }).await.unwrap();
    e.train(&TrainRequest { model: None, force: true, candidate: false }).await.unwrap();
    // A version from a newer aisle (or a corrupted row) becomes the active one.
    let store = e.store().clone();
    let garbage = NewModel {
        name: "ials".into(),
        params: serde_json::json!({}),
        trained_on_seq: 1,
        metrics: Default::default(),
        created_at_ms: 0,
    };
    let v = store.put_model(garbage, vec![0xff; 64]).await.unwrap();
    store.activate_model(v.version, None).await.unwrap();
    drop(e);
    let e = Engine::open(store, quick()).await.expect("a bad artifact does not stop start-up");
    assert_eq!(e.serving().map(|p| p.version()), Some(2), "the newest version that decodes serves");
    let degraded = e.serving_health().degraded.expect("readiness says serving is degraded");
    assert!(degraded.contains("version 3") && degraded.contains("serving version 2"), "{degraded}");
    // A new version published clears it.
    e.train(&TrainRequest { model: None, force: true, candidate: false }).await.unwrap();
    assert_eq!(e.serving_health().degraded, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_versions_are_pruned_like_published_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = quick();
    config.training.keep_versions = 2;
    let e = open(&sqlite(dir.path()), config).await;
    load_shop(&e, 150, 200, 8_000, 3).await;
    assert!(e.train(&TrainRequest::default()).await.unwrap().published);
    // A model that ranks at random: rejected every time.
    let mut bad = aisle_engine::ModelConfig { name: "bpr".into(), ..Default::default() };
    bad.params.insert("epochs".into(), 1.into());
    bad.params.insert("learning_rate".into(), 1e-6.into());
    for _ in 0..4 {
        let out = e
            .train(&TrainRequest { model: Some(bad.clone()), force: false, candidate: false })
            .await
            .unwrap();
        assert!(!out.published, "{}", out.reason);
    }
    let versions: Vec<u64> = e.models().await.unwrap().iter().map(|m| m.version).collect();
    assert_eq!(versions, vec![5, 4, 1], "the newest two and the serving one are kept");
}

/// A TCP relay to PostgreSQL that can be frozen: it stops passing bytes without closing anything,
/// as a half-open connection (a lost network path) looks to a client.
struct Relay {
    port: u16,
    frozen: Arc<std::sync::atomic::AtomicBool>,
}

impl Relay {
    async fn start(target: std::net::SocketAddr) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let gate = Arc::clone(&frozen);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(target).await else { continue };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pipe(cr, sw, Arc::clone(&gate)));
                tokio::spawn(pipe(sr, cw, Arc::clone(&gate)));
            }
        });
        Relay { port, frozen }
    }

    fn freeze(&self) {
        self.frozen.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let Ok(n) = from.read(&mut buf).await else { return };
        if n == 0 {
            return;
        }
        while frozen.load(std::sync::atomic::Ordering::SeqCst) {
            // Hold the bytes, never answer, never close.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_database_stops_answering_steps_down_within_its_timeout() {
    let Some(url) = pg_url("halfopen") else { return };
    // The test server is on loopback: point this replica at it through the relay.
    let rest = url.split_once('@').map_or(url.as_str(), |(_, r)| r);
    let host_port = rest.split('/').next().unwrap();
    let target: std::net::SocketAddr = host_port.parse().unwrap();
    let relay = Relay::start(target).await;
    let relayed = url.replace(host_port, &format!("127.0.0.1:{}", relay.port));
    let mut config = quick();
    config.training.on_start = false;
    config.replication.leader_check_ms = 200;
    config.replication.poll_ms = 200;
    config.replication.timeout_ms = 1_000;
    let e = open(&relayed, config).await;
    let lease = e.try_lead().await.unwrap();
    assert!(lease.is_some() && e.is_leader());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let follower = tokio::spawn(Arc::clone(&e).run_replication(lease, async {
        let _ = stopped.await;
    }));
    relay.freeze();
    eventually("the leader notices its lease check does not answer", || !e.is_leader()).await;
    let _ = stop.send(());
    let stopping = tokio::time::timeout(Duration::from_secs(30), follower).await;
    assert!(stopping.is_ok(), "replication stops on shutdown even with a database that does not answer");
}

/// The soak that found this: random events (made-up shoppers, random items) poured in after a
/// good model was published, and the next scheduled training published a model scoring 0.0133.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(clippy::print_stderr, reason = "the gate's figures are reported")]
async fn a_flood_of_junk_events_before_a_scheduled_training_is_not_published() {
    let shop = generate(&ShopParams { users: 400, items: 300, events: 30_000, ..ShopParams::default() }, 11)
        .unwrap();
    let end = shop.events.last().unwrap().ts * 1000;
    let (items, users, events) = shop_records(&shop, aisle_engine::now_ms() - end - 60_000);
    let events: Vec<_> = events.collect();
    let cut = events.len() * 7 / 10;
    let (old, recent) = events.split_at(cut);
    let mut config = EngineConfig::default();
    config.training.interval_s = 0;
    // One model throughout: this checks the drift floor, not the choice of model.
    config.model.name = "ials".into();
    let run = |flood: bool| {
        let (items, users, old, recent, config) =
            (items.clone(), users.clone(), old.to_vec(), recent.to_vec(), config.clone());
        async move {
            let dir = tempfile::tempdir().unwrap();
            let e = open(&sqlite(dir.path()), config).await;
            e.load(items, users, old).await.unwrap();
            let first = e.train(&TrainRequest::default()).await.unwrap();
            assert!(first.published, "{}", first.reason);
            if flood {
                let t = recent.first().unwrap().ts_ms;
                let mut state = 0x9e37_79b9_7f4a_7c15u64;
                let mut random = move |n: u64| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state % n
                };
                let kinds = [EventKind::View, EventKind::Click, EventKind::AddToCart, EventKind::Purchase];
                let junk: Vec<EventRecord> = (0..15_000)
                    .map(|k| EventRecord {
                        kind: kinds[random(4) as usize],
                        ts_ms: t,
                        ..purchase(
                            &format!("junk-{k}"),
                            &format!("visitor{}", random(5_000)),
                            &format!("i{}", random(300) + 1),
                        )
                    })
                    .collect();
                e.load(Vec::new(), Vec::new(), junk).await.unwrap();
            } else {
                e.load(Vec::new(), Vec::new(), recent).await.unwrap();
            }
            let next = e.train(&TrainRequest::default()).await.unwrap();
            (next, e.serving().unwrap().version())
        }
    };
    let (clean, serving) = run(false).await;
    eprintln!("gate, genuine events: {}", clean.reason);
    assert!(clean.published, "a genuine retraining publishes: {}", clean.reason);
    assert_eq!(serving, 2);
    let (flooded, serving) = run(true).await;
    eprintln!("gate, junk flood: {}", flooded.reason);
    assert!(!flooded.published, "the flooded model must not publish: {}", flooded.reason);
    assert_eq!(serving, 1, "the clean model keeps serving");
    assert!(flooded.reason.contains("serving model"), "{}", flooded.reason);
    assert!(
        matches!(flooded.comparison, aisle_engine::Comparison::ServingModel { .. }),
        "{:?}",
        flooded.comparison
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_leader_cannot_publish_after_a_new_one_took_over() {
    let Some(url) = pg_url("fence") else { return };
    let mut config = quick();
    config.training.interval_s = 0;
    let a = open(&url, config.clone()).await;
    load_shop(&a, 150, 200, 8_000, 3).await;
    let lease = a.try_lead().await.unwrap().expect("a leads");
    a.train(&TrainRequest { model: None, force: true, candidate: false }).await.unwrap();
    // A's database session ends (a partition, a killed backend): its lock is gone, but A has not
    // noticed yet. B takes over and publishes.
    drop(lease);
    let b = open(&url, config).await;
    let _b_lease = b.try_lead().await.unwrap().expect("b leads once a's session is gone");
    assert!(b.train(&TrainRequest { model: None, force: true, candidate: false }).await.unwrap().published);
    let late = a.train(&TrainRequest { model: None, force: true, candidate: false }).await;
    assert!(!matches!(&late, Ok(o) if o.published), "the old leader published after the new one: {late:?}");
    let active = b.store().active_model().await.unwrap().unwrap();
    assert_eq!(active.version, 2, "the new leader's version stays active");
}

/// Found by `scripts/fault_injection.sh`: on PostgreSQL, events a replica wrote before its
/// replication task started following (the demo seed) were read back from the log and applied a
/// second time: `aisle_events` showed 40,000 for a 20,000-event shop, and popularity counted each
/// purchase twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_written_before_following_starts_are_applied_once() {
    let Some(url) = pg_url("seed_once") else { return };
    let engine = open(&url, quick()).await;
    let events: Vec<EventRecord> =
        (0..30).map(|k| purchase(&format!("once-{k}"), &format!("u{}", k % 3), "hit")).collect();
    engine.ingest(events).await.unwrap();
    assert_eq!(engine.stats().events, 30);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(engine.clone().run_replication(None, async {
        let _ = stopped.await;
    }));
    // A write after following started is seen by the tail too: once it is applied, the tail has
    // read everything before it.
    engine.ingest(vec![purchase("once-late", "u9", "hit")]).await.unwrap();
    eventually("the tail reached the last write", || engine.tail_cursor() >= 31).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(engine.stats().events, 31, "events applied twice");
    // What a replica that read everything from the store once holds is the truth.
    let fresh = open(&url, quick()).await;
    let scores = |e: &Engine| {
        let req = PopularRequest { window: Window::Hour, n: 5, filters: Filters::default() };
        e.popular(&req).items.iter().map(|i| (i.id.clone(), i.score)).collect::<Vec<_>>()
    };
    assert_eq!(fresh.stats().events, 31);
    assert!(!scores(&fresh).is_empty());
    assert_eq!(scores(&engine), scores(&fresh), "popularity counted events twice");
    let _ = stop.send(());
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_whose_reason_holds_a_nul_byte_is_stored() {
    let Some(url) = pg_url("nul") else { return };
    let e = open(&url, quick()).await;
    let sink = KafkaSink::new(Arc::clone(&e));
    let rejected = Rejected {
        partition: 0,
        offset: 7,
        payload: b"{\"user_id\":\"u\",\"x\\u0000y\":1}".to_vec(),
        reason: "invalid event: unknown field `x\0y`".to_owned(),
    };
    sink.write("events", &[], &[rejected]).await.expect("the letter is stored, not retried for ever");
    let letters = e.store().dead_letters_after(0, 10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert!(!letters[0].letter.reason.contains('\0') && letters[0].letter.reason.contains("unknown field"));
}

/// A young shop where nobody has three steps yet: `auto` cannot validate, trains the first
/// candidate with its defaults and says so, instead of failing the training.
#[tokio::test]
async fn auto_without_a_shopper_of_three_steps_trains_the_first_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(&sqlite(dir.path()), EngineConfig::default()).await;
    let events: Vec<EventRecord> = (0..150)
        .flat_map(|u| {
            let user = format!("u{u}");
            [purchase(&format!("a{u}"), &user, &format!("i{}", u % 40)), {
                purchase(&format!("b{u}"), &user, &format!("i{}", (u + 1) % 40))
            }]
        })
        .collect();
    e.load(Vec::new(), Vec::new(), events).await.unwrap();
    let out = e.train(&TrainRequest::default()).await.expect("trains without validation");
    let sel = out.selection.expect("auto says what it did");
    assert_eq!(sel.cases, 0);
    assert_eq!(sel.chosen, "item-knn", "the first default candidate");
    assert_eq!(out.model.model.name, "item-knn");
    assert!(sel.candidates.iter().all(|c| c.ndcg.is_none() && c.settings == 0), "{sel:?}");
    assert!(out.reason.starts_with("not validated: no shopper has three steps"), "{}", out.reason);
}
