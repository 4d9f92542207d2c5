//! Rating metrics (RMSE, MAE) and the per-user ranking metrics every ranking report averages.
//!
//! Ranking definitions follow the usual top-N protocol (Cremonesi, Koren & Turrin 2010; Järvelin &
//! Kekäläinen 2002 for NDCG) and match `topk_metrics` of the peer benchmarks
//! (`bench/common.py`) for precision, recall and NDCG: binary relevance, ranks counted from 1,
//! ties in score broken by the lower item index (as [`crate::top_k`] does). A score that is not
//! finite (e.g. `−∞` for a training item) marks an item that is not a candidate: it is never
//! recommended and never ranked.

use std::cmp::Ordering;

use rayon::prelude::*;
use serde::Serialize;

use crate::data::Interactions;
use crate::ids::{ItemIdx, UserIdx};
use crate::recommender::{Recommender, Scored};
use crate::topk::top_k;

/// Users handled by one rayon task; results are summed per chunk, then chunks in order, so the
/// totals do not depend on the number of threads.
pub(crate) const USER_CHUNK: usize = 256;

/// Rating prediction error over a test set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RatingMetrics {
    /// `√(Σ (r̂ − r)² / n)` over the predicted pairs; NaN when `n = 0`.
    pub rmse: f64,
    /// `Σ |r̂ − r| / n` over the predicted pairs; NaN when `n = 0`.
    pub mae: f64,
    /// Test pairs the model predicted (a finite value).
    pub n: usize,
    /// Test pairs the model could not predict (an error, e.g. an unknown user, or a non-finite
    /// value); not part of `rmse`/`mae`, reported so that they are not silently dropped.
    pub unpredicted: usize,
}

/// Predicts every (user, item, rating) of `test` and returns
/// `RMSE = √(Σ (r̂ − r)² / n)` and `MAE = Σ |r̂ − r| / n` over the `n` pairs the model predicted;
/// pairs it could not predict are counted in [`RatingMetrics::unpredicted`]. Runs on rayon;
/// the result does not depend on the number of threads.
pub fn evaluate_ratings(model: &dyn Recommender, test: &Interactions) -> RatingMetrics {
    let n_users = test.n_users();
    let chunks: Vec<[f64; 4]> = (0..n_users.div_ceil(USER_CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut acc = [0.0; 4]; // squared error, absolute error, predicted, unpredicted
            for u in c * USER_CHUNK..((c + 1) * USER_CHUNK).min(n_users) {
                let user = UserIdx(u as u32);
                for (item, rating) in test.user(user).iter() {
                    match model.predict(user, ItemIdx(item)) {
                        Ok(p) if p.is_finite() => {
                            let err = f64::from(p) - f64::from(rating);
                            acc[0] += err * err;
                            acc[1] += err.abs();
                            acc[2] += 1.0;
                        }
                        Ok(_) | Err(_) => acc[3] += 1.0,
                    }
                }
            }
            acc
        })
        .collect();
    let mut tot = [0.0; 4];
    for acc in chunks {
        for (t, a) in tot.iter_mut().zip(acc) {
            *t += a;
        }
    }
    let n = tot[2];
    let (rmse, mae) = if n > 0.0 { ((tot[0] / n).sqrt(), tot[1] / n) } else { (f64::NAN, f64::NAN) };
    RatingMetrics { rmse, mae, n: n as usize, unpredicted: tot[3] as usize }
}

/// One user's ranking metrics, for a ranked list cut at `K` against a relevant set `rel`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserMetrics {
    /// `hits / K`, where hits = relevant items among the top K.
    pub precision: f64,
    /// `hits / |rel|`.
    pub recall: f64,
    /// `2·P·R / (P + R)`, 0 when both are 0.
    pub f1: f64,
    /// `DCG / IDCG` with `DCG = Σ_{r ≤ K, item r relevant} 1 / log2(r + 1)` and IDCG the same sum
    /// over ranks `1..=min(|rel|, K)`.
    pub ndcg: f64,
    /// Average precision `(1 / min(|rel|, K)) · Σ_{r ≤ K, item r relevant} P@r`.
    pub ap: f64,
    /// Reciprocal rank `1 / r` of the first relevant item in the full ranking of candidates (not
    /// cut at K); 0 when no relevant item is a candidate.
    pub rr: f64,
    /// 1 when the top K hold a relevant item, else 0.
    pub hit_rate: f64,
    /// Fraction of (relevant, non-relevant candidate) pairs where the relevant item scores higher,
    /// ties counting ½; a relevant item that is not a candidate counts as ranked below every
    /// candidate. `None` when there is no non-relevant candidate.
    pub auc: Option<f64>,
}

/// Every ranking metric of one user from one score vector (`scores[i]` for item `i`; non-finite
/// = not a candidate), the items in `relevant` (order and duplicates do not matter; indexes past
/// the vector count as relevant items that cannot be ranked) and the cut-off `k`. `None` when
/// `relevant` is empty or `k = 0`, where precision or recall are undefined. O(n log K + n).
pub fn user_metrics(scores: &[f32], relevant: &[ItemIdx], k: usize) -> Option<UserMetrics> {
    let mut rel: Vec<u32> = relevant.iter().map(|i| i.0).collect();
    rel.sort_unstable();
    rel.dedup();
    if rel.is_empty() || k == 0 {
        return None;
    }
    Some(user_metrics_sorted(scores, &rel, k).0)
}

/// [`user_metrics`] for a non-empty, strictly increasing `rel` and `k ≥ 1`; also returns the
/// top-K list.
pub(crate) fn user_metrics_sorted(scores: &[f32], rel: &[u32], k: usize) -> (UserMetrics, Vec<Scored>) {
    let top = top_k(scores, k);
    let (mut hits, mut dcg, mut ap_sum) = (0usize, 0.0, 0.0);
    for (r0, s) in top.iter().enumerate() {
        if rel.binary_search(&s.item.0).is_ok() {
            hits += 1;
            dcg += discount(r0 + 1);
            ap_sum += hits as f64 / (r0 + 1) as f64;
        }
    }
    let ideal = rel.len().min(k);
    let idcg: f64 = (1..=ideal).map(discount).sum();
    let precision = hits as f64 / k as f64;
    let recall = hits as f64 / rel.len() as f64;
    let f1 = if hits == 0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    let metrics = UserMetrics {
        precision,
        recall,
        f1,
        ndcg: dcg / idcg,
        ap: ap_sum / ideal as f64,
        rr: reciprocal_rank(scores, rel),
        hit_rate: if hits > 0 { 1.0 } else { 0.0 },
        auc: auc(scores, rel),
    };
    (metrics, top)
}

/// `1 / log2(rank + 1)`, rank counted from 1.
fn discount(rank: usize) -> f64 {
    1.0 / ((rank + 1) as f64).log2()
}

/// Whether item `a` (score `sa`) ranks before item `b`: higher score, then lower index, as
/// [`crate::top_k`] orders (`total_cmp`, so the order is total).
fn ranks_before(a: usize, sa: f32, b: usize, sb: f32) -> bool {
    match sa.total_cmp(&sb) {
        Ordering::Greater => true,
        Ordering::Equal => a < b,
        Ordering::Less => false,
    }
}

/// `1 / rank` of the best-ranked relevant candidate among all candidates, 0 if none. O(n).
fn reciprocal_rank(scores: &[f32], rel: &[u32]) -> f64 {
    let mut best: Option<(usize, f32)> = None;
    for &i in rel {
        let i = i as usize;
        let Some(&s) = scores.get(i) else { continue };
        if s.is_finite() && best.is_none_or(|(b, sb)| ranks_before(i, s, b, sb)) {
            best = Some((i, s));
        }
    }
    let Some((b, sb)) = best else { return 0.0 };
    let ahead =
        scores.iter().enumerate().filter(|&(j, &s)| s.is_finite() && ranks_before(j, s, b, sb)).count();
    1.0 / (ahead + 1) as f64
}

/// Pairwise AUC without the O(n²) loop: the relevant candidates' scores are sorted once, then
/// each non-relevant candidate finds by binary search how many relevant scores beat or tie it.
/// O(n log |rel|). Relevant items that are not candidates add pairs but never a win.
fn auc(scores: &[f32], rel: &[u32]) -> Option<f64> {
    let mut rel_scores: Vec<f32> =
        rel.iter().filter_map(|&i| scores.get(i as usize).copied()).filter(|s| s.is_finite()).collect();
    rel_scores.sort_unstable_by(f32::total_cmp);
    // Twice the number of correctly ordered pairs, so that a tie's ½ stays an integer.
    let (mut twice_correct, mut negatives) = (0u64, 0u64);
    let mut next_rel = rel.iter().peekable();
    for (j, &s) in scores.iter().enumerate() {
        // `rel` is sorted: walk it alongside `j` to know whether `j` is relevant.
        while next_rel.next_if(|&&r| (r as usize) < j).is_some() {}
        if next_rel.peek().is_some_and(|&&r| r as usize == j) || !s.is_finite() {
            continue;
        }
        let below = rel_scores.partition_point(|x| x.total_cmp(&s) == Ordering::Less);
        let not_above = rel_scores.partition_point(|x| x.total_cmp(&s) != Ordering::Greater);
        twice_correct += 2 * (rel_scores.len() - not_above) as u64 + (not_above - below) as u64;
        negatives += 1;
    }
    if negatives == 0 {
        return None;
    }
    Some(twice_correct as f64 / (2 * rel.len() as u64 * negatives) as f64)
}

/// Self-information of an item, `−log2((pop + 1) / (n_users + 1))`, where `pop` is the number of
/// training users with the item and `n_users` the number of training users with any item. The
/// `+1`s (add-one smoothing) keep unseen items finite: an item no one had scores
/// `log2(n_users + 1)`, one everyone had scores 0.
pub fn self_information(pop: u32, n_users: usize) -> f64 {
    -((f64::from(pop) + 1.0) / (n_users as f64 + 1.0)).log2()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::fixture::{Fixed, close, matrix};

    const NEG: f32 = f32::NEG_INFINITY;

    fn items(ix: &[u32]) -> Vec<ItemIdx> {
        ix.iter().map(|&i| ItemIdx(i)).collect()
    }

    /// User A: strictly decreasing scores over 6 items, relevant {1, 4}, K = 3.
    #[test]
    fn golden_user_a() {
        let s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
        let m = user_metrics(&s, &items(&[4, 1]), 3).unwrap();
        // Top 3 = [0, 1, 2]; one hit (item 1) at rank 2.
        close(m.precision, 1.0 / 3.0); // 1 / 3
        close(m.recall, 0.5); // 1 / 2
        close(m.f1, 0.4); // 2 · (1/3) · (1/2) / (1/3 + 1/2) = (1/3) / (5/6)
        // DCG = 1/log2(3) = 0.6309297535714575; IDCG over min(2, 3) = 2 ranks = 1 + 1/log2(3).
        close(m.ndcg, 0.6309297535714575 / 1.6309297535714575);
        close(m.ap, 0.25); // (1 / min(2, 3)) · P@2 = (1/2) · (1/2)
        close(m.rr, 0.5); // first relevant at rank 2
        close(m.hit_rate, 1.0);
        // Negatives 0 (.9), 2 (.7), 3 (.6), 5 (.4): item 1 (.8) beats 2, 3, 5; item 4 (.5) beats 5.
        close(m.auc.unwrap(), 4.0 / 8.0);
    }

    /// User B: item 1 is relevant but excluded (−∞, e.g. a training item), a tie at 0.5, K = 3.
    #[test]
    fn golden_user_b_with_exclusion_and_ties() {
        let s = [0.2, NEG, 0.5, 0.5, 0.1, 0.3];
        let m = user_metrics(&s, &items(&[1, 3, 4]), 3).unwrap();
        // Ranking of candidates: 2 (.5), 3 (.5, tie → higher index later), 5 (.3), 0 (.2), 4 (.1).
        // Top 3 = [2, 3, 5]; one hit (item 3) at rank 2; |rel| = 3.
        close(m.precision, 1.0 / 3.0);
        close(m.recall, 1.0 / 3.0);
        close(m.f1, 1.0 / 3.0); // 2 · (1/9) / (2/3)
        // IDCG over 3 ranks = 1 + 1/log2(3) + 1/log2(4) = 2.1309297535714578.
        close(m.ndcg, 0.6309297535714575 / 2.1309297535714578);
        close(m.ap, 1.0 / 6.0); // (1/3) · P@2 = (1/3) · (1/2)
        close(m.rr, 0.5); // item 3 at rank 2 (item 2 ties and has the lower index)
        close(m.hit_rate, 1.0);
        // Negatives 0 (.2), 2 (.5), 5 (.3). Item 3: beats 0 and 5, ties 2 → 2.5; item 4 (.1): 0;
        // item 1 (excluded): 0. AUC = 2.5 / (3 · 3).
        close(m.auc.unwrap(), 2.5 / 9.0);
    }

    #[test]
    fn mrr_looks_past_k_and_misses_give_zero() {
        let s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
        let m = user_metrics(&s, &items(&[4]), 2).unwrap();
        // Top 2 = [0, 1]: no hit, but item 4 is at rank 5 of the full ranking.
        assert_eq!((m.precision, m.recall, m.ndcg, m.ap, m.hit_rate, m.f1), (0.0, 0.0, 0.0, 0.0, 0.0, 0.0));
        close(m.rr, 0.2);
        close(m.auc.unwrap(), 1.0 / 5.0); // beats only item 5 of 5 negatives
        let none = user_metrics(&[NEG, 1.0, f32::NAN], &items(&[0, 2, 9]), 2).unwrap();
        assert_eq!((none.rr, none.auc), (0.0, Some(0.0)));
    }

    #[test]
    fn perfect_ranking_scores_one() {
        let s = [0.1, 0.9, 0.2, 0.8, 0.7];
        let m = user_metrics(&s, &items(&[1, 3, 4]), 3).unwrap();
        for v in [m.precision, m.recall, m.f1, m.ndcg, m.ap, m.rr, m.hit_rate, m.auc.unwrap()] {
            close(v, 1.0);
        }
        // K larger than |rel|: precision = 3/5, recall, NDCG and AP stay 1.
        let m = user_metrics(&s, &items(&[1, 3, 4]), 5).unwrap();
        close(m.precision, 0.6);
        close(m.ndcg, 1.0);
        close(m.ap, 1.0);
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(user_metrics(&[1.0, 2.0], &[], 2), None);
        assert_eq!(user_metrics(&[1.0, 2.0], &items(&[0]), 0), None);
        // Every candidate relevant: no negative pair, AUC undefined.
        assert_eq!(user_metrics(&[1.0, 2.0, NEG], &items(&[0, 1]), 1).unwrap().auc, None);
    }

    #[test]
    fn self_information_is_add_one_smoothed() {
        close(self_information(0, 1), 1.0); // −log2(1/2)
        close(self_information(1, 1), 0.0); // −log2(2/2)
        close(self_information(1, 7), 2.0); // −log2(2/8)
    }

    #[test]
    fn rating_metrics_count_unpredicted_pairs() {
        let model = Fixed::new(vec![vec![3.0, 4.0, 5.0], vec![2.0, 2.0, f32::NAN]]);
        let test = matrix(3, 3, &[(0, 0, 4.0), (0, 2, 5.0), (1, 1, 5.0), (1, 2, 3.0), (2, 0, 1.0)]);
        let m = evaluate_ratings(&model, &test);
        // Errors −1, 0, −3; (1, 2) predicts NaN and user 2 is unknown → 2 unpredicted.
        close(m.rmse, (10.0f64 / 3.0).sqrt()); // √((1 + 0 + 9) / 3)
        close(m.mae, 4.0 / 3.0); // (1 + 0 + 3) / 3
        assert_eq!((m.n, m.unpredicted), (3, 2));
        let empty = evaluate_ratings(&model, &matrix(3, 3, &[]));
        assert!(empty.rmse.is_nan() && empty.mae.is_nan() && empty.n == 0);
    }
}
