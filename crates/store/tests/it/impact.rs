//! The behaviour every `ImpactStore` backend must show: versioned placements, experiments updated
//! by compare-and-swap, an idempotent impression log whose rollups and unit counters move in the
//! same transaction, attribution that counts each event once, and retention that keeps the sums.

use aisle_store::{
    Credit, CreditKind, ExperimentRecord, ImpactStore, Impression, RollupQuery, Shown, hour_bucket,
};

/// Generates one `#[tokio::test]` per check, each on a fresh store from `$fresh`.
macro_rules! impact_conformance {
    ($fresh:path) => {
        $crate::impact::impact_conformance!(@tests $fresh;
            placements_are_versioned, experiments_update_by_compare_and_swap,
            impressions_are_idempotent_and_rolled_up, impressions_page_by_time_and_user,
            attribution_counts_each_step_once, pruning_keeps_the_sums,
        );
    };
    (@tests $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some((_guard, store)) = $fresh().await else { return };
                $crate::impact::$name(&store).await;
            }
        )*
    };
}
pub(crate) use impact_conformance;

const HOUR: i64 = 3_600_000;
const T0: i64 = 1_780_000_000_000;

/// An impression of `items` at `at_ms`; in experiment `exp` when it is not empty.
pub fn impression(id: &str, at_ms: i64, user: &str, exp: &str, variant: &str, items: &[&str]) -> Impression {
    Impression {
        recommendation_id: id.to_owned(),
        at_ms,
        placement: "home".to_owned(),
        experiment: exp.to_owned(),
        variant: variant.to_owned(),
        unit: if exp.is_empty() { String::new() } else { user.to_owned() },
        user_id: Some(user.to_owned()),
        model_version: Some(3),
        covariate: 2.5,
        items: items
            .iter()
            .enumerate()
            .map(|(p, i)| Shown {
                item: (*i).to_owned(),
                position: p as u32,
                propensity: Some(0.1 + 0.2 * p as f64),
                team: Some((p % 2) as u8),
            })
            .collect(),
    }
}

fn credit(
    rec: &str,
    at_ms: i64,
    unit: &str,
    exp: &str,
    variant: &str,
    kind: CreditKind,
    revenue: f64,
) -> Credit {
    Credit {
        bucket_ms: hour_bucket(at_ms),
        placement: "home".to_owned(),
        experiment: exp.to_owned(),
        variant: variant.to_owned(),
        unit: unit.to_owned(),
        recommendation_id: rec.to_owned(),
        kind,
        revenue,
        team: Some(1),
    }
}

fn all() -> RollupQuery {
    RollupQuery { from_ms: 0, to_ms: i64::MAX, ..RollupQuery::default() }
}

pub async fn placements_are_versioned<S: ImpactStore>(store: &S) {
    let v1 = store.put_placement("home".into(), Some("{\"kind\":\"user\"}".into()), 10).await.expect("put");
    assert_eq!(v1.version, 1);
    let v2 =
        store.put_placement("home".into(), Some("{\"kind\":\"popular\"}".into()), 20).await.expect("put");
    assert_eq!(v2.version, 2);
    store.put_placement("cart".into(), Some("{}".into()), 30).await.expect("put");
    let newest = store.placement("home".into(), None).await.expect("get").expect("exists");
    assert_eq!(newest, v2);
    assert_eq!(store.placement("home".into(), Some(1)).await.expect("get"), Some(v1));
    assert_eq!(store.placement("home".into(), Some(9)).await.expect("get"), None);
    let ids: Vec<String> = store.placements().await.expect("list").into_iter().map(|p| p.id).collect();
    assert_eq!(ids, ["cart", "home"]);
    let gone = store.put_placement("home".into(), None, 40).await.expect("delete");
    assert_eq!((gone.version, gone.config), (3, None));
    let ids: Vec<String> = store.placements().await.expect("list").into_iter().map(|p| p.id).collect();
    assert_eq!(ids, ["cart"], "a deleted placement is not listed");
    assert_eq!(store.placement("home".into(), None).await.expect("get").map(|p| p.version), Some(3));
    let again = store.put_placement("home".into(), Some("{}".into()), 50).await.expect("put again");
    assert_eq!(again.version, 4, "versions keep counting after a deletion");
}

pub async fn experiments_update_by_compare_and_swap<S: ImpactStore>(store: &S) {
    let rec = ExperimentRecord { id: "e1".into(), body: "{\"a\":1}".into(), revision: 1, created_at_ms: 5 };
    assert!(store.create_experiment(rec.clone()).await.expect("create"));
    assert!(!store.create_experiment(rec.clone()).await.expect("create twice"), "ids are unique");
    let next = ExperimentRecord { body: "{\"a\":2}".into(), revision: 2, ..rec.clone() };
    assert!(store.update_experiment(next.clone()).await.expect("update"));
    assert!(!store.update_experiment(next.clone()).await.expect("stale update"), "revision 1 is gone");
    let missing = ExperimentRecord { id: "nope".into(), ..next.clone() };
    assert!(!store.update_experiment(missing).await.expect("missing"));
    assert_eq!(store.experiments().await.expect("list"), vec![next]);
}

pub async fn impressions_are_idempotent_and_rolled_up<S: ImpactStore>(store: &S) {
    let batch = vec![
        impression("r1", T0, "u1", "e1", "control", &["a", "b", "c"]),
        impression("r2", T0 + 10, "u1", "e1", "control", &["a"]),
        impression("r3", T0 + HOUR, "u2", "", "", &["b", "c"]),
    ];
    assert_eq!(store.log_impressions(batch.clone()).await.expect("log"), 3);
    assert_eq!(store.log_impressions(batch.clone()).await.expect("resend"), 0, "a resent batch adds nothing");
    assert_eq!(store.impression("r1".into()).await.expect("get"), Some(batch[0].clone()));
    assert_eq!(store.impression("nope".into()).await.expect("get"), None);
    let rollups = store.rollups(all()).await.expect("rollups");
    assert_eq!(rollups.len(), 2);
    assert_eq!((rollups[0].bucket_ms, rollups[0].impressions, rollups[0].shown), (hour_bucket(T0), 2, 4));
    assert_eq!((rollups[0].experiment.as_str(), rollups[0].variant.as_str()), ("e1", "control"));
    assert_eq!((rollups[1].impressions, rollups[1].shown, rollups[1].experiment.as_str()), (1, 2, ""));
    let units = store.experiment_units("e1".into()).await.expect("units");
    assert_eq!(units.len(), 1);
    assert_eq!((units[0].unit.as_str(), units[0].variant.as_str()), ("u1", "control"));
    assert_eq!((units[0].first_ms, units[0].impressions, units[0].covariate), (T0, 2, 2.5));
    // A later batch adds to the unit but keeps its first time and covariate.
    let mut later = impression("r4", T0 + 2 * HOUR, "u1", "e1", "control", &["d"]);
    later.covariate = 9.0;
    store.log_impressions(vec![later]).await.expect("log");
    let units = store.experiment_units("e1".into()).await.expect("units");
    assert_eq!((units[0].first_ms, units[0].impressions, units[0].covariate), (T0, 3, 2.5));
    let filtered = store
        .rollups(RollupQuery { experiment: Some("e1".into()), to_ms: T0 + HOUR, ..all() })
        .await
        .expect("filtered");
    assert_eq!(filtered.len(), 1, "experiment and time filters apply");
}

pub async fn impressions_page_by_time_and_user<S: ImpactStore>(store: &S) {
    let batch: Vec<Impression> = (0..25)
        .map(|i| {
            impression(
                &format!("r{i:02}"),
                T0 + (i / 2) * 1000,
                if i % 2 == 0 { "u1" } else { "u2" },
                "",
                "",
                &["a"],
            )
        })
        .collect();
    store.log_impressions(batch).await.expect("log");
    let mine = store.user_impressions("u1".into(), T0 + 5000, 100).await.expect("user");
    let ids: Vec<&str> = mine.iter().map(|i| i.recommendation_id.as_str()).collect();
    assert_eq!(
        ids,
        ["r24", "r22", "r20", "r18", "r16", "r14", "r12", "r10"],
        "newest first, since the bound"
    );
    assert_eq!(store.user_impressions("u1".into(), 0, 2).await.expect("limit").len(), 2);
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.impressions_between(T0 + 1000, T0 + 10_000, after.clone(), 4).await.expect("page");
        let Some(last) = page.last() else { break };
        after = Some((last.at_ms, last.recommendation_id.clone()));
        seen.extend(page.into_iter().map(|i| i.recommendation_id));
    }
    let want: Vec<String> = (2..20).map(|i| format!("r{i:02}")).collect();
    assert_eq!(seen, want, "keyset pages cover [from, to) once, in order");
}

pub async fn attribution_counts_each_step_once<S: ImpactStore>(store: &S) {
    store.log_impressions(vec![impression("r1", T0, "u1", "e1", "b", &["a", "b"])]).await.expect("log");
    assert_eq!(store.attribution_cursor().await.expect("cursor"), 0);
    let credits = vec![
        credit("r1", T0 + 5, "u1", "e1", "b", CreditKind::Click, 0.0),
        credit("r1", T0 + 6, "u1", "e1", "b", CreditKind::Purchase, 30.0),
        credit("r1", T0 + 7, "u1", "e1", "b", CreditKind::Purchase, 10.0),
    ];
    assert!(store.commit_attribution(0, 10, credits.clone()).await.expect("commit"));
    assert!(
        !store.commit_attribution(0, 10, credits).await.expect("replay"),
        "the cursor moved: a replay is refused"
    );
    assert_eq!(store.attribution_cursor().await.expect("cursor"), 10);
    let r = &store.rollups(all()).await.expect("rollups")[0];
    assert_eq!((r.impressions, r.clicks, r.carts, r.purchases), (1, 1, 0, 2));
    assert_eq!((r.revenue, r.revenue_sq), (40.0, 1000.0));
    let u = &store.experiment_units("e1".into()).await.expect("units")[0];
    assert_eq!((u.clicks, u.purchases, u.revenue), (1, 2, 40.0));
    let outcomes = store.interleave_outcomes("e1".into()).await.expect("outcomes");
    assert_eq!(outcomes.len(), 1);
    assert_eq!((outcomes[0].clicks_a, outcomes[0].clicks_b, outcomes[0].unit.as_str()), (0, 1, "u1"));
    assert!(store.commit_attribution(10, 12, Vec::new()).await.expect("empty step"));
    assert_eq!(store.attribution_cursor().await.expect("cursor"), 12);
}

pub async fn pruning_keeps_the_sums<S: ImpactStore>(store: &S) {
    let batch = vec![
        impression("old", T0, "u1", "e1", "a", &["x"]),
        impression("new", T0 + 10 * HOUR, "u1", "e1", "a", &["x"]),
    ];
    store.log_impressions(batch).await.expect("log");
    assert_eq!(store.prune_impressions(T0 + HOUR).await.expect("prune"), 1);
    assert_eq!(store.impression("old".into()).await.expect("get"), None);
    assert!(store.impression("new".into()).await.expect("get").is_some());
    let total: u64 = store.rollups(all()).await.expect("rollups").iter().map(|r| r.impressions).sum();
    assert_eq!(total, 2, "rollups outlive the impressions they count");
    assert_eq!(store.experiment_units("e1".into()).await.expect("units")[0].impressions, 2);
}
