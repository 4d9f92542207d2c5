use rand::Rng;

use super::train::{Batch, Corpus, Setup, Vars};
use super::*;
use crate::data::{Feedback, Interaction, Interactions};
use crate::eval::NextCase;
use crate::recommender::{FitContext, ModelParams};
use crate::rng;

fn setup(heads: usize, max_len: usize) -> Setup {
    Setup {
        hidden: 8,
        heads,
        blocks: 2,
        max_len,
        dropout: 0.0,
        learning_rate: 1e-3,
        weight_decay: 0.0,
        batch_size: 4,
        negatives: None,
    }
}

/// The training graph's outputs (eval mode) for `windows` of `corpus`, one row per slot.
fn graph_outputs(vars: &Vars, corpus: &Corpus, windows: &[usize], max_len: usize) -> (usize, Vec<Vec<f32>>) {
    let batch = Batch::new(corpus, windows, max_len).unwrap();
    let out = vars.forward(&batch, &mut None).unwrap();
    let rows: Vec<Vec<f32>> = out.to_vec2::<f32>().unwrap();
    (rows.len() / windows.len(), rows)
}

fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol * (1.0 + x.abs()))
}

#[test]
fn a_step_never_sees_later_steps_and_padding_changes_nothing() {
    for heads in [1, 2] {
        let vars = Vars::init(setup(heads, 6), 10, &mut rng::seeded(1)).unwrap();
        // Inputs are each sequence but its last step: [1 2 3 4 5], [1 2 7 8 9], [6 5].
        let corpus =
            Corpus::new([&[1, 2, 3, 4, 5, 0][..], &[1, 2, 7, 8, 9, 0], &[6, 5, 0]].into_iter(), 6, 1);
        let (len, rows) = graph_outputs(&vars, &corpus, &[0, 1, 2], 6);
        assert_eq!(len, 5);
        // The first two steps agree; the third differs.
        for t in 0..2 {
            assert!(close(&rows[t], &rows[len + t], 1e-5), "heads {heads}, step {t}");
        }
        assert!(!close(&rows[2], &rows[len + 2], 1e-3));
        // The short window, padded to 5 here, gives what it gives alone.
        let (_, alone) = graph_outputs(&vars, &corpus, &[2], 6);
        assert!(close(&rows[2 * len + 3], &alone[0], 1e-5));
        assert!(close(&rows[2 * len + 4], &alone[1], 1e-5));
    }
}

#[test]
fn the_written_out_forward_pass_is_the_graphs() {
    for heads in [1, 2] {
        let vars = Vars::init(setup(heads, 8), 12, &mut rng::seeded(2)).unwrap();
        let net = vars.export().unwrap();
        net.check().unwrap();
        let seqs: [&[u32]; 3] = [&[3, 1, 4, 1, 5, 9, 2, 6, 5], &[2, 7], &[11, 0, 3, 8]];
        let corpus = Corpus::new(seqs.into_iter(), 8, 1);
        let (len, rows) = graph_outputs(&vars, &corpus, &[0, 1, 2], 8);
        for (w, s) in seqs.iter().enumerate() {
            let input = &s[..s.len() - 1];
            let written = net.encode(input);
            let graph = &rows[w * len + len - 1];
            assert!(close(&written, graph, 1e-4), "heads {heads}, sequence {w}: {written:?} vs {graph:?}");
        }
    }
}

#[test]
fn an_epoch_trains_the_newest_window_and_draws_older_ones_afresh() {
    // 40 inputs in windows of 5: 8 windows, newest first (0..8); a short sequence's one (8).
    let long: Vec<u32> = (0..41).collect();
    let corpus = Corpus::new([&long[..], &[1, 2, 3]].into_iter(), 5, 3);
    assert_eq!(corpus.batches_per_epoch(1), 4);
    let mut r = rng::seeded(3);
    let mut seen = [0usize; 9];
    for _ in 0..40 {
        let chosen = corpus.epoch_windows(&mut r);
        assert_eq!(chosen.len(), 4);
        assert!(chosen.contains(&0) && chosen.contains(&8), "{chosen:?}");
        for w in chosen {
            seen[w] += 1;
        }
    }
    assert_eq!((seen[0], seen[8]), (40, 40));
    // Every older window is drawn over the epochs, and none every time.
    assert!(seen[1..8].iter().all(|&n| n > 0 && n < 40), "{seen:?}");
}

/// Users walking a fixed cycle over `n` items (`i → i + 7 mod n`) from random starts.
fn cycle_data(users: u32, n: u32, seed: u64) -> Interactions {
    let mut r = rng::seeded(seed);
    let mut entries = Vec::new();
    for u in 0..users {
        let (mut i, steps) = (r.random_range(0..n), r.random_range(6..14));
        for t in 0..steps {
            entries.push(Interaction { user: UserIdx(u), item: ItemIdx(i), value: 1.0, ts: i64::from(t) });
            i = (i + 7) % n;
        }
    }
    Interactions::new(users as usize, n as usize, Feedback::Implicit, entries).unwrap()
}

fn small() -> SasrecParams {
    SasrecParams {
        hidden: 16,
        blocks: 1,
        max_len: 16,
        dropout: 0.1,
        learning_rate: 0.01,
        batch_size: 16,
        epochs: 40,
        validation: SasrecValidation::None,
        ..SasrecParams::default()
    }
}

#[test]
fn learns_a_next_item_rule_popularity_cannot() {
    let n = 30;
    let data = cycle_data(80, n, 3);
    let model = small().fit(&data, &FitContext::seeded(4)).unwrap();
    let counts = data.item_counts();
    let mut r = rng::seeded(5);
    let (mut sasrec, mut popular) = (0, 0);
    let trials = 100;
    for _ in 0..trials {
        let mut i = r.random_range(0..n);
        let mut history = Vec::new();
        for _ in 0..4 {
            history.push((ItemIdx(i), 1.0));
            i = (i + 7) % n;
        }
        let seen: Vec<ItemIdx> = history.iter().map(|h| h.0).collect();
        let top = model.recommend_history(&history, 1, &seen).unwrap();
        sasrec += usize::from(top[0].item == ItemIdx(i));
        let best =
            (0..n).filter(|j| !seen.contains(&ItemIdx(*j))).max_by_key(|&j| counts[j as usize]).unwrap();
        popular += usize::from(best == i);
    }
    assert!(sasrec >= 90, "SASRec got the next item {sasrec} times in {trials}");
    assert!(popular <= 20, "popularity got it {popular} times");
}

#[test]
fn same_seed_same_model_and_it_round_trips() {
    let data = cycle_data(30, 20, 6);
    let p = SasrecParams { epochs: 3, validation: SasrecValidation::LastItem, ..small() };
    let a = p.fit(&data, &FitContext::seeded(7)).unwrap();
    let b = p.fit(&data, &FitContext::seeded(7)).unwrap();
    assert_eq!(a, b);
    let c = p.fit(&data, &FitContext::seeded(8)).unwrap();
    assert_ne!(a, c);
    a.check().unwrap();
    let bytes = postcard::to_allocvec(&a).unwrap();
    let back: SasrecModel = postcard::from_bytes(&bytes).unwrap();
    back.check().unwrap();
    let scores = |m: &SasrecModel| {
        let mut s = vec![0f32; 20];
        m.score_user(UserIdx(3), &mut s).unwrap();
        s.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    };
    assert_eq!(scores(&a), scores(&back));
    // The sampled softmax trains too, and differs from the full one.
    let sampled = SasrecParams { loss: SasrecLoss::Sampled, negatives: 5, ..p.clone() };
    assert_ne!(sampled.fit(&data, &FitContext::seeded(7)).unwrap(), a);
}

#[test]
fn corrupt_shapes_are_refused() {
    let data = cycle_data(10, 12, 1);
    let m = SasrecParams { epochs: 1, ..small() }.fit(&data, &FitContext::seeded(1)).unwrap();
    let mut bad = m.clone();
    bad.net.items.pop();
    assert!(bad.check().is_err());
    let mut bad = m.clone();
    bad.net.blocks[0].ffn1.b.push(0.0);
    assert!(bad.check().is_err());
    let mut bad = m.clone();
    bad.user_items[0] = 12;
    assert!(bad.check().is_err());
    let mut bad = m.clone();
    bad.net.heads = 3;
    assert!(bad.check().is_err());
    let mut bad = m;
    bad.user_ptr.push(usize::MAX);
    assert!(bad.check().is_err());
}

#[test]
fn histories_are_read_newest_last_with_repeats_collapsed() {
    let data = cycle_data(20, 15, 2);
    let m = SasrecParams { epochs: 2, max_len: 4, ..small() }.fit(&data, &FitContext::seeded(1)).unwrap();
    let scores = |h: &[u32]| {
        let h: Vec<(ItemIdx, f32)> = h.iter().map(|&i| (ItemIdx(i), 1.0)).collect();
        let mut s = vec![0f32; 15];
        m.score_history(&h, &mut s).unwrap();
        s
    };
    // Only the newest four steps count, and a repeated step is one step.
    assert_eq!(scores(&[9, 8, 1, 2, 3, 4]), scores(&[1, 2, 3, 4]));
    assert_eq!(scores(&[1, 2, 2, 3, 4]), scores(&[1, 2, 3, 4]));
    assert_ne!(scores(&[4, 3, 2, 1]), scores(&[1, 2, 3, 4]));
    assert_eq!(scores(&[]), vec![0.0; 15]);
}

#[test]
fn validation_names_the_field() {
    let ok = SasrecParams::default();
    assert_eq!(ok.validate(), Ok(()));
    for (p, field) in [
        (SasrecParams { hidden: 0, ..ok.clone() }, "hidden"),
        (SasrecParams { blocks: 0, ..ok.clone() }, "blocks"),
        (SasrecParams { heads: 3, ..ok.clone() }, "heads"),
        (SasrecParams { max_len: 0, ..ok.clone() }, "max_len"),
        (SasrecParams { max_windows: 0, ..ok.clone() }, "max_windows"),
        (SasrecParams { batch_size: 0, ..ok.clone() }, "batch_size"),
        (SasrecParams { epochs: 0, ..ok.clone() }, "epochs"),
        (SasrecParams { negatives: 0, ..ok.clone() }, "negatives"),
        (SasrecParams { dropout: 1.0, ..ok.clone() }, "dropout"),
        (SasrecParams { learning_rate: f32::NAN, ..ok.clone() }, "learning_rate"),
        (SasrecParams { weight_decay: -1.0, ..ok.clone() }, "weight_decay"),
    ] {
        assert_eq!(p.validate().unwrap_err().field, field);
    }
    let data = Interactions::new(2, 3, Feedback::Implicit, vec![]).unwrap();
    assert!(matches!(ok.fit(&data, &FitContext::seeded(0)), Err(crate::FitError::EmptyData { .. })));
}

/// With the caller's validation cases (a next-item split's), no step is held out: every user's
/// last step is learnt from. Here each of 30 users walks 0 → 1 → 2 over a catalog of 40, so
/// 1 → 2 is only ever a last step.
#[test]
fn given_validation_cases_hold_no_step_out() {
    let entries = (0..30u32)
        .flat_map(|u| {
            (0..3u32).map(move |t| Interaction {
                user: UserIdx(u),
                item: ItemIdx(t),
                value: 1.0,
                ts: i64::from(t),
            })
        })
        .collect();
    let data = Interactions::new(30, 40, Feedback::Implicit, entries).unwrap();
    let p = SasrecParams { epochs: 30, patience: 30, validation: SasrecValidation::LastItem, ..small() };
    let top_after_0_1 = |m: &SasrecModel| {
        let history = [(ItemIdx(0), 1.0), (ItemIdx(1), 1.0)];
        m.recommend_history(&history, 1, &[ItemIdx(0), ItemIdx(1)]).unwrap()[0].item
    };
    let cases = vec![NextCase { user: UserIdx(0), history: vec![(ItemIdx(0), 1.0)], target: ItemIdx(1) }];
    let given = p.fit(&data, &FitContext::seeded(3).with_validation(&cases)).unwrap();
    assert_eq!(top_after_0_1(&given), ItemIdx(2), "the last step was learnt from");
    let held = p.fit(&data, &FitContext::seeded(3)).unwrap();
    assert_ne!(top_after_0_1(&held), ItemIdx(2), "its own validation holds the last step out");
    // Cases it cannot use (an item outside the catalog, a repeat) leave it to its own.
    let unusable = vec![
        NextCase { user: UserIdx(0), history: vec![(ItemIdx(0), 1.0)], target: ItemIdx(40) },
        NextCase { user: UserIdx(1), history: vec![(ItemIdx(1), 1.0)], target: ItemIdx(1) },
    ];
    assert_eq!(p.fit(&data, &FitContext::seeded(3).with_validation(&unusable)).unwrap(), held);
    // Without validation the cases are ignored.
    let none = SasrecParams { validation: SasrecValidation::None, ..p };
    assert_eq!(
        none.fit(&data, &FitContext::seeded(3).with_validation(&cases)).unwrap(),
        none.fit(&data, &FitContext::seeded(3)).unwrap()
    );
}

#[test]
fn patience_counts_optimiser_steps_so_short_epochs_wait_longer() {
    let p = SasrecParams { patience: 5, patience_steps: 1_000, ..SasrecParams::default() };
    assert_eq!(p.patience_epochs(19), 53, "ML-100k's 19 batches an epoch: 1,000 steps are 53 epochs");
    assert_eq!(p.patience_epochs(400), 5, "long epochs: the epoch floor");
    assert_eq!(p.patience_epochs(0), 1_000, "no batch counts as one");
    let never = SasrecParams { patience: 0, patience_steps: 0, ..p.clone() };
    assert_eq!(never.patience_epochs(19), 0, "both 0: never stop early");
    let epochs_only = SasrecParams { patience: 30, patience_steps: 0, ..p.clone() };
    assert_eq!(epochs_only.patience_epochs(1), 30);
    let too_many = SasrecParams { patience_steps: MAX_PATIENCE_STEPS + 1, ..p };
    let err = too_many.validate().unwrap_err().to_string();
    assert!(err.contains("patience_steps"), "{err}");
}
