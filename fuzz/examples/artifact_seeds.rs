//! Writes the seed corpus of the `artifact` fuzz target: every kind of model aisle knows, trained
//! through aisle-core on a tiny synthetic shop (`aisle_ingest::synth`), wrapped in an
//! `aisle_engine::Artifact` as the engine stores it, encoded with postcard.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example artifact_seeds -- fuzz/corpus/artifact
//! ```

use std::path::PathBuf;

use aisle_core::models::registry::ModelSpec;
use aisle_core::{EventWeights, Feedback, FitContext, Interaction, Interactions, ItemIdx, SideInfo, UserIdx};
use aisle_engine::{ARTIFACT_FORMAT, Artifact};
use aisle_ingest::synth::{self, Shop, ShopParams};
use serde_json::json;

/// A model name (`ModelSpec::from_str`) and the parameters that keep it small.
fn specs() -> Vec<(&'static str, serde_json::Value)> {
    let knn = json!({"k": 5, "max_neighbors": 8});
    vec![
        ("pop", json!({})),
        ("trending", json!({})),
        ("baseline", json!({})),
        ("user-knn", knn.clone()),
        ("item-knn", knn.clone()),
        ("knn-baseline", knn),
        ("svd", json!({"factors": 3, "epochs": 3})),
        ("svdpp", json!({"factors": 3, "epochs": 3})),
        ("ials", json!({"factors": 3, "iterations": 2})),
        ("bpr", json!({"factors": 3, "epochs": 2, "fold_in_epochs": 3})),
        ("ease", json!({})),
        ("content", json!({})),
        ("hybrid", json!({"components": 3, "epochs": 2, "fold_in_epochs": 3})),
        (
            "blend",
            json!({
                "weights": {"ials": 1.0, "item-knn": 0.5},
                "params": {"ials": {"factors": 3, "iterations": 2}, "item-knn": {"k": 5, "max_neighbors": 8}}
            }),
        ),
    ]
}

/// A shop of `users` × `items` with `events` events, as interactions (implicit, as the engine
/// trains, or explicit ratings) and side information.
struct Data {
    shop: Shop,
    implicit: Interactions,
    explicit: Interactions,
    side: SideInfo,
}

fn data(users: usize, items: usize, events: usize, seed: u64) -> Data {
    let params = ShopParams {
        users,
        items,
        events,
        categories: 3,
        brands: 3,
        favourites: 1,
        dims: 3,
        ratings: true,
        ..ShopParams::default()
    };
    let shop = synth::generate(&params, seed).expect("valid shop parameters");
    let weights = EventWeights::default();
    let entries = |explicit: bool| -> Vec<Interaction> {
        shop.events
            .iter()
            .filter_map(|e| {
                let value = if explicit {
                    (e.kind == aisle_core::EventKind::Rating).then_some(e.value)?
                } else {
                    let w = weights.weight(e.kind, e.value);
                    (w != 0.0).then_some(w.min(50.0))?
                };
                Some(Interaction { user: UserIdx(e.user), item: ItemIdx(e.item), value, ts: e.ts })
            })
            .collect()
    };
    let implicit =
        Interactions::new(users, items, Feedback::Implicit, entries(false)).expect("implicit data");
    let explicit = Interactions::new(users, items, Feedback::Explicit, entries(true)).expect("explicit data");
    let side = SideInfo {
        items: (0..items).map(|i| Some(shop.item_record(i).model_attributes())).collect(),
        users: (0..users)
            .map(|u| {
                let u = &shop.users[u];
                vec![format!("segment={}", u.segment), format!("region={}", u.region)]
            })
            .collect(),
    };
    Data { shop, implicit, explicit, side }
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus/artifact".to_owned()));
    std::fs::create_dir_all(&out).expect("output directory");
    let shops = [("small", data(12, 16, 300, 7)), ("tiny", data(3, 5, 40, 11))];
    let mut written = 0;
    for (shop_name, d) in &shops {
        for (name, over) in specs() {
            let mut spec: ModelSpec = name.parse().expect("known model");
            spec.merge(&over).unwrap_or_else(|e| panic!("{name}: {e}"));
            let explicit_too = matches!(name, "baseline" | "svd" | "svdpp" | "knn-baseline" | "user-knn");
            let variants = [("implicit", &d.implicit)]
                .into_iter()
                .chain(explicit_too.then_some(("explicit", &d.explicit)));
            for (feedback, interactions) in variants {
                let ctx = FitContext::seeded(42).with_side(&d.side);
                let model = match spec.fit(interactions, &ctx) {
                    Ok(m) => m,
                    Err(e) => {
                        eprintln!("skipped {name} on the {shop_name} {feedback} shop: {e}");
                        continue;
                    }
                };
                let artifact = Artifact {
                    format: ARTIFACT_FORMAT,
                    model,
                    users: (0..d.shop.users.len()).map(Shop::user_id).collect(),
                    items: (0..d.shop.items.len()).map(Shop::item_id).collect(),
                    history: Default::default(),
                    bought_together: Default::default(),
                };
                let bytes = artifact.encode().expect("encodable");
                let path = out.join(format!("{name}-{shop_name}-{feedback}.bin"));
                std::fs::write(&path, &bytes).expect("write seed");
                println!("{} {} bytes", path.display(), bytes.len());
                written += 1;
            }
        }
    }
    println!("{written} seeds in {}", out.display());
}
