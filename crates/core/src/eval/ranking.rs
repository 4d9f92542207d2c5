//! Top-K ranking evaluation of a [`Recommender`] over a test set.
//!
//! The honest protocol, and the default, ranks the full catalog minus the user's training items
//! (Cremonesi, Koren & Turrin 2010): sampled-negative protocols overstate quality (Krichene &
//! Rendle 2020, "On sampled metrics for item recommendation"), so they run only when asked for and
//! the result says so in [`RankingMetrics::candidates`]. Each user is scored once with
//! [`Recommender::score_user`] and every metric comes from that one score vector; the per-user
//! formulas are those of [`super::metrics::UserMetrics`], averaged over evaluated users.

use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::metrics::{USER_CHUNK, self_information, user_metrics_sorted};
use crate::data::Interactions;
use crate::ids::UserIdx;
use crate::recommender::{ModelError, Recommender};
use crate::rng;

/// Which items a user's test items are ranked against.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Candidates {
    /// Every item except the user's training items (the default, and the honest protocol).
    FullCatalog,
    /// The user's relevant test items plus `n` items drawn uniformly without replacement from the
    /// items that are neither in the user's training items nor relevant (all of them if fewer).
    /// The draw for user `u` uses [`crate::rng::stream`]`(seed, u)`.
    SampledNegatives {
        /// Negatives per user, ≥ 1.
        n: usize,
        /// Seed of the draws.
        seed: u64,
    },
    /// Cold start: only the items with no training interaction are ranked, and only the user's
    /// relevant test items among them count (see [`crate::eval::SplitStrategy::ColdItems`]).
    ColdItems,
}

/// How to evaluate a ranking. Default: `k = 10`, every test item relevant, full catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RankingOptions {
    /// Cut-off of the top-K list, ≥ 1.
    pub k: usize,
    /// A test item is relevant when its value is ≥ this; `None` = every test item is relevant.
    pub relevance_threshold: Option<f32>,
    /// What the relevant items are ranked against.
    pub candidates: Candidates,
}

impl Default for RankingOptions {
    fn default() -> Self {
        Self { k: 10, relevance_threshold: None, candidates: Candidates::FullCatalog }
    }
}

/// Ranking quality averaged over the evaluated users.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RankingMetrics {
    /// The cut-off K.
    pub k: usize,
    /// Users evaluated: those with ≥ 1 relevant test item whom the model knows.
    pub users: usize,
    /// Users with ≥ 1 relevant test item whom the model does not know (not in the averages).
    pub skipped_users: usize,
    /// Mean precision@K.
    pub precision: f64,
    /// Mean recall@K.
    pub recall: f64,
    /// Mean of the per-user F1@K.
    pub f1: f64,
    /// Mean NDCG@K.
    pub ndcg: f64,
    /// MAP@K: mean average precision.
    pub map: f64,
    /// MRR: mean reciprocal rank of the first relevant item in the full ranking.
    pub mrr: f64,
    /// HitRate@K: share of users with a relevant item in their top K.
    pub hit_rate: f64,
    /// Mean AUC over users with ≥ 1 non-relevant candidate (NaN if there is none).
    pub auc: f64,
    /// Catalog coverage `|∪_u topK(u)| / n_items`.
    pub coverage: f64,
    /// Mean over users (with a non-empty list) of the mean [`self_information`] of their top-K
    /// items, with popularity counted in training users.
    pub novelty: f64,
    /// The relevance threshold used.
    pub relevance_threshold: Option<f32>,
    /// The candidate protocol used, so that reports label sampled metrics as such.
    pub candidates: Candidates,
}

/// Why a ranking evaluation could not run.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The model failed on a user it knows.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// `k` is zero.
    #[error("k must be at least 1")]
    ZeroK,
    /// Sampled negatives with `n = 0`.
    #[error("sampled negatives need n ≥ 1")]
    ZeroNegatives,
    /// Train, test and model do not share one catalog, or train and test one user space.
    #[error(
        "shape mismatch: train {train_users}×{train_items}, test {test_users}×{test_items}, \
         model items {model_items}"
    )]
    ShapeMismatch {
        /// Users in train.
        train_users: usize,
        /// Items in train.
        train_items: usize,
        /// Users in test.
        test_users: usize,
        /// Items in test.
        test_items: usize,
        /// Items the model scores.
        model_items: usize,
    },
    /// No user has a relevant test item the model could rank.
    #[error("no user to evaluate: {skipped_users} users with relevant test items are unknown to the model")]
    NoUsers {
        /// Users with relevant test items whom the model does not know.
        skipped_users: usize,
    },
}

/// Ranks every test user's candidates with `model` and averages [`super::metrics::UserMetrics`] over users with
/// ≥ 1 relevant test item that the model knows (a user past `model.n_users()`, or for whom
/// `score_user` answers [`ModelError::UnknownUser`], is counted in `skipped_users`). Training
/// items are never candidates; relevant items that are also training items stay in the relevant
/// set and count as misses. Runs on rayon with one score buffer per task; the result does not
/// depend on the number of threads.
pub fn evaluate_ranking(
    model: &dyn Recommender,
    train: &Interactions,
    test: &Interactions,
    opts: &RankingOptions,
) -> Result<RankingMetrics, EvalError> {
    check(model, train, test, opts)?;
    let pop = train.item_counts();
    let active = train.user_counts().iter().filter(|&&c| c > 0).count();
    let info: Vec<f64> = pop.iter().map(|&p| self_information(p, active)).collect();
    let cold = match opts.candidates {
        Candidates::ColdItems => pop.iter().map(|&c| c == 0).collect(),
        Candidates::FullCatalog | Candidates::SampledNegatives { .. } => Vec::new(),
    };
    let ctx = Ctx { model, train, test, opts, info, cold };
    let n_items = model.n_items();
    let chunks: Vec<Partial> = (0..test.n_users().div_ceil(USER_CHUNK))
        .into_par_iter()
        .map_init(|| Scratch::new(n_items), |scratch, c| ctx.chunk(scratch, c))
        .collect::<Result<_, EvalError>>()?;
    let mut total = Total { covered: vec![false; n_items], ..Total::default() };
    for part in chunks {
        total.add(part);
    }
    total.finish(opts, n_items)
}

fn check(
    model: &dyn Recommender,
    train: &Interactions,
    test: &Interactions,
    opts: &RankingOptions,
) -> Result<(), EvalError> {
    if opts.k == 0 {
        return Err(EvalError::ZeroK);
    }
    if let Candidates::SampledNegatives { n: 0, .. } = opts.candidates {
        return Err(EvalError::ZeroNegatives);
    }
    let items = model.n_items();
    if train.n_items() != items || test.n_items() != items || train.n_users() != test.n_users() {
        return Err(EvalError::ShapeMismatch {
            train_users: train.n_users(),
            train_items: train.n_items(),
            test_users: test.n_users(),
            test_items: test.n_items(),
            model_items: items,
        });
    }
    Ok(())
}

/// Per-task buffers, reused across the users of a task.
struct Scratch {
    scores: Vec<f32>,
    rel: Vec<u32>,
    pool: Vec<u32>,
    keep: Vec<bool>,
}

impl Scratch {
    fn new(n_items: usize) -> Self {
        Self { scores: vec![0.0; n_items], rel: Vec::new(), pool: Vec::new(), keep: Vec::new() }
    }
}

/// Sums over the users of one chunk.
#[derive(Default)]
struct Partial {
    users: usize,
    skipped: usize,
    /// precision, recall, f1, ndcg, ap, rr, hit rate, auc, novelty.
    sums: [f64; 9],
    auc_users: usize,
    novelty_users: usize,
    /// Items recommended to some user of the chunk, sorted and unique.
    covered: Vec<u32>,
}

struct Ctx<'a> {
    model: &'a dyn Recommender,
    train: &'a Interactions,
    test: &'a Interactions,
    opts: &'a RankingOptions,
    /// Self-information of each item.
    info: Vec<f64>,
    /// For [`Candidates::ColdItems`]: which items have no training interaction (else empty).
    cold: Vec<bool>,
}

impl Ctx<'_> {
    fn chunk(&self, s: &mut Scratch, c: usize) -> Result<Partial, EvalError> {
        let mut part = Partial::default();
        for u in c * USER_CHUNK..((c + 1) * USER_CHUNK).min(self.test.n_users()) {
            self.relevant(u, &mut s.rel);
            if s.rel.is_empty() {
                continue;
            }
            if !self.score(u, s)? {
                part.skipped += 1;
                continue;
            }
            let (m, top) = user_metrics_sorted(&s.scores, &s.rel, self.opts.k);
            let auc = m.auc.unwrap_or(0.0);
            part.auc_users += usize::from(m.auc.is_some());
            let nov = if top.is_empty() {
                0.0
            } else {
                part.novelty_users += 1;
                top.iter().map(|t| self.info[t.item.index()]).sum::<f64>() / top.len() as f64
            };
            let vals = [m.precision, m.recall, m.f1, m.ndcg, m.ap, m.rr, m.hit_rate, auc, nov];
            for (sum, v) in part.sums.iter_mut().zip(vals) {
                *sum += v;
            }
            part.users += 1;
            part.covered.extend(top.iter().map(|t| t.item.0));
        }
        part.covered.sort_unstable();
        part.covered.dedup();
        Ok(part)
    }

    /// The user's relevant test items (sorted, as the test row is).
    fn relevant(&self, u: usize, rel: &mut Vec<u32>) {
        rel.clear();
        let row = self.test.user(UserIdx(u as u32));
        let threshold = self.opts.relevance_threshold;
        rel.extend(row.iter().filter(|&(_, v)| threshold.is_none_or(|t| v >= t)).map(|(i, _)| i));
        if !self.cold.is_empty() {
            rel.retain(|&i| self.cold[i as usize]);
        }
    }

    /// Fills `s.scores` with the user's candidate scores (non-candidates at −∞); false when the
    /// model does not know the user.
    fn score(&self, u: usize, s: &mut Scratch) -> Result<bool, EvalError> {
        if u >= self.model.n_users() {
            return Ok(false);
        }
        match self.model.score_user(UserIdx(u as u32), &mut s.scores) {
            Ok(()) => {}
            Err(ModelError::UnknownUser { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        for &i in self.train.user(UserIdx(u as u32)).indices {
            s.scores[i as usize] = f32::NEG_INFINITY;
        }
        match self.opts.candidates {
            Candidates::SampledNegatives { n, seed } => sample_candidates(s, n, seed, u as u64),
            Candidates::ColdItems => {
                for (score, &cold) in s.scores.iter_mut().zip(&self.cold) {
                    if !cold {
                        *score = f32::NEG_INFINITY;
                    }
                }
            }
            Candidates::FullCatalog => {}
        }
        Ok(true)
    }
}

/// Keeps the relevant items and `n` random other candidates; every other score becomes −∞.
fn sample_candidates(s: &mut Scratch, n: usize, seed: u64, user: u64) {
    s.pool.clear();
    let mut rel = s.rel.iter().peekable();
    for (j, &score) in s.scores.iter().enumerate() {
        while rel.next_if(|&&r| (r as usize) < j).is_some() {}
        let relevant = rel.peek().is_some_and(|&&r| r as usize == j);
        if score.is_finite() && !relevant {
            s.pool.push(j as u32);
        }
    }
    // `partial_shuffle` returns the drawn items as its first slice (rand 0.9 moves them to the
    // end of the pool, so slicing the pool's front would bias the draw toward low indexes).
    let (drawn, _) = s.pool.partial_shuffle(&mut rng::stream(seed, user), n);
    s.keep.clear();
    s.keep.resize(s.scores.len(), false);
    for &j in drawn.iter().chain(&s.rel) {
        if let Some(k) = s.keep.get_mut(j as usize) {
            *k = true;
        }
    }
    for (score, &keep) in s.scores.iter_mut().zip(&s.keep) {
        if !keep {
            *score = f32::NEG_INFINITY;
        }
    }
}

/// Chunk sums added in chunk order.
#[derive(Default)]
struct Total {
    part: Partial,
    covered: Vec<bool>,
}

impl Total {
    fn add(&mut self, p: Partial) {
        self.part.users += p.users;
        self.part.skipped += p.skipped;
        self.part.auc_users += p.auc_users;
        self.part.novelty_users += p.novelty_users;
        for (sum, v) in self.part.sums.iter_mut().zip(p.sums) {
            *sum += v;
        }
        for i in p.covered {
            self.covered[i as usize] = true;
        }
    }

    fn finish(self, opts: &RankingOptions, n_items: usize) -> Result<RankingMetrics, EvalError> {
        let p = self.part;
        if p.users == 0 {
            return Err(EvalError::NoUsers { skipped_users: p.skipped });
        }
        let mean = |sum: f64, n: usize| if n == 0 { f64::NAN } else { sum / n as f64 };
        let s = p.sums;
        Ok(RankingMetrics {
            k: opts.k,
            users: p.users,
            skipped_users: p.skipped,
            precision: mean(s[0], p.users),
            recall: mean(s[1], p.users),
            f1: mean(s[2], p.users),
            ndcg: mean(s[3], p.users),
            map: mean(s[4], p.users),
            mrr: mean(s[5], p.users),
            hit_rate: mean(s[6], p.users),
            auc: mean(s[7], p.auc_users),
            coverage: self.covered.iter().filter(|&&c| c).count() as f64 / n_items as f64,
            novelty: mean(s[8], p.novelty_users),
            relevance_threshold: opts.relevance_threshold,
            candidates: opts.candidates,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::fixture::{Fixed, close, matrix};

    /// 6 items; the model knows users 0..3, the data has 4 users.
    /// User 0 scores strictly decreasing and has no train item; user 1 has item 1 in train (score
    /// 0.95, masked) and also in test, a tie at 0.5 between items 2 and 3.
    fn fixture() -> (Fixed, Interactions, Interactions) {
        let model = Fixed::new(vec![
            vec![0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
            vec![0.2, 0.95, 0.5, 0.5, 0.1, 0.3],
            vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        ]);
        let train = matrix(4, 6, &[(1, 1, 5.0)]);
        let test = matrix(
            4,
            6,
            &[
                (0, 1, 5.0),
                (0, 4, 4.0),
                (0, 2, 1.0),
                (1, 1, 5.0),
                (1, 3, 4.0),
                (1, 4, 3.0),
                (2, 0, 2.0),
                (3, 5, 5.0),
            ],
        );
        (model, train, test)
    }

    fn opts(k: usize) -> RankingOptions {
        RankingOptions { k, relevance_threshold: Some(3.0), candidates: Candidates::FullCatalog }
    }

    #[test]
    fn golden_full_catalog() {
        let (model, train, test) = fixture();
        let m = evaluate_ranking(&model, &train, &test, &opts(3)).unwrap();
        // Relevant (value ≥ 3): user 0 {1, 4}, user 1 {1, 3, 4}; user 2 has none (value 2);
        // user 3 {5} is unknown to the model → skipped.
        assert_eq!((m.k, m.users, m.skipped_users), (3, 2, 1));
        // User 0 top 3 = [0, 1, 2]: P 1/3, R 1/2, F1 2/5, NDCG (1/log2 3)/(1 + 1/log2 3), AP 1/4,
        // RR 1/2, AUC 4/8. User 1 (item 1 masked) top 3 = [2, 3, 5]: P 1/3, R 1/3, F1 1/3,
        // NDCG (1/log2 3)/(1 + 1/log2 3 + 1/2), AP 1/6, RR 1/2, AUC 2.5/9.
        close(m.precision, 1.0 / 3.0);
        close(m.recall, (0.5 + 1.0 / 3.0) / 2.0); // 5/12
        close(m.f1, (0.4 + 1.0 / 3.0) / 2.0); // 11/30
        let l3 = 1.0 / 3f64.log2();
        close(m.ndcg, (l3 / (1.0 + l3) + l3 / (1.5 + l3)) / 2.0); // 0.3414673591002034
        close(m.map, (0.25 + 1.0 / 6.0) / 2.0); // 5/24
        close(m.mrr, 0.5);
        close(m.hit_rate, 1.0);
        close(m.auc, (0.5 + 2.5 / 9.0) / 2.0); // 7/18
        close(m.coverage, 5.0 / 6.0); // {0, 1, 2} ∪ {2, 3, 5}
        // One active train user, item 1 has pop 1 → −log2(2/2) = 0, other items −log2(1/2) = 1.
        // User 0: (1 + 0 + 1)/3; user 1: (1 + 1 + 1)/3 → (2/3 + 1)/2.
        close(m.novelty, 5.0 / 6.0);
        assert_eq!(m.candidates, Candidates::FullCatalog);
        assert_eq!(m.relevance_threshold, Some(3.0));
    }

    #[test]
    fn mrr_is_not_cut_at_k_and_threshold_none_takes_every_test_item() {
        let (model, train, test) = fixture();
        let m = evaluate_ranking(&model, &train, &test, &opts(1)).unwrap();
        // Top 1: user 0 [0], user 1 [2]: no hit, but both first relevant items are at rank 2.
        assert_eq!((m.precision, m.hit_rate), (0.0, 0.0));
        close(m.mrr, 0.5);
        let all = RankingOptions { relevance_threshold: None, ..opts(3) };
        let m = evaluate_ranking(&model, &train, &test, &all).unwrap();
        assert_eq!((m.users, m.skipped_users), (3, 1)); // user 2's item 0 now counts
    }

    #[test]
    fn sampled_negatives_are_seeded_labelled_and_inflate() {
        let (model, train, test) = fixture();
        let full = evaluate_ranking(&model, &train, &test, &opts(3)).unwrap();
        // With more negatives than exist, sampling keeps every candidate: same numbers.
        let every = Candidates::SampledNegatives { n: 100, seed: 1 };
        let m = evaluate_ranking(&model, &train, &test, &RankingOptions { candidates: every, ..opts(3) })
            .unwrap();
        assert_eq!(m, RankingMetrics { candidates: every, ..full.clone() });
        // One negative: user 0 ranks {1, 4, x}, user 1 {3, 4, y} (1 is masked): with K = 3 both
        // rank all their candidates, so P = 2/3 and R = (1 + 2/3)/2 whatever was drawn.
        let one = RankingOptions { candidates: Candidates::SampledNegatives { n: 1, seed: 7 }, ..opts(3) };
        let m = evaluate_ranking(&model, &train, &test, &one).unwrap();
        close(m.precision, 2.0 / 3.0);
        close(m.recall, 5.0 / 6.0);
        assert!(m.precision > full.precision);
        assert_eq!(m.candidates, one.candidates);
        assert_eq!(evaluate_ranking(&model, &train, &test, &one).unwrap(), m);
        let aucs: Vec<f64> = (0..20)
            .map(|seed| {
                let o = RankingOptions { candidates: Candidates::SampledNegatives { n: 1, seed }, ..opts(3) };
                evaluate_ranking(&model, &train, &test, &o).unwrap().auc
            })
            .collect();
        assert!(aucs.iter().any(|&a| a != aucs[0]), "different seeds draw different negatives");
    }

    #[test]
    fn sampled_auc_is_unbiased_over_seeds() {
        // AUC over a uniform draw of negatives estimates the full-catalog AUC without bias (7/18
        // here). Per draw, user 0's AUC is 0, ½, ½ or 1 (negative 0, 2, 3 or 5), user 1's 1/3, 1/6
        // or 1/3: the mean over 400 seeds has a standard deviation near 0.009.
        let (model, train, test) = fixture();
        let mean = (0..400u64)
            .map(|seed| {
                let o = RankingOptions { candidates: Candidates::SampledNegatives { n: 1, seed }, ..opts(3) };
                evaluate_ranking(&model, &train, &test, &o).unwrap().auc
            })
            .sum::<f64>()
            / 400.0;
        assert!((mean - 7.0 / 18.0).abs() < 0.04, "mean sampled AUC {mean}");
    }

    #[test]
    fn cold_items_rank_only_items_without_training_interactions() {
        let (model, train, test) = fixture();
        // Train holds only (1, 1): items 0, 2, 3, 4, 5 are cold. User 0's relevant {1, 4} keeps
        // 4; its cold candidates by score are 0 (0.9), 2, 3, 4 (0.5), 5: item 4 ranks 4th of 5.
        // User 1's relevant {1, 3, 4} keeps {3, 4}; cold scores 0 (0.2), 2 (0.5), 3 (0.5),
        // 4 (0.1), 5 (0.3): 3 ranks 2nd (tie with 2 broken by index), 4 last.
        let cold = RankingOptions { candidates: Candidates::ColdItems, ..opts(3) };
        let m = evaluate_ranking(&model, &train, &test, &cold).unwrap();
        assert_eq!(m.users, 2);
        // AUC: user 0: item 4 beats only 5 of its 4 negatives → 1/4; user 1: of its 6 (relevant,
        // negative) pairs, 3 beats 0 and 5 and ties 2 (½), 4 beats none → 2.5/6. Mean 1/3.
        close(m.auc, (0.25 + 2.5 / 6.0) / 2.0);
        close(m.recall, (0.0 + 0.5) / 2.0);
        assert_eq!(m.candidates, Candidates::ColdItems);
    }

    #[test]
    fn bad_options_and_model_errors_are_typed() {
        let (mut model, train, test) = fixture();
        let run = |model: &Fixed, o: &RankingOptions| evaluate_ranking(model, &train, &test, o);
        assert_eq!(run(&model, &opts(0)), Err(EvalError::ZeroK));
        let zero = RankingOptions { candidates: Candidates::SampledNegatives { n: 0, seed: 0 }, ..opts(3) };
        assert_eq!(run(&model, &zero), Err(EvalError::ZeroNegatives));
        let high = RankingOptions { relevance_threshold: Some(6.0), ..opts(3) };
        assert_eq!(run(&model, &high), Err(EvalError::NoUsers { skipped_users: 0 }));
        let narrow = matrix(4, 5, &[(0, 1, 5.0)]);
        let err = evaluate_ranking(&model, &train, &narrow, &opts(3)).unwrap_err();
        assert!(matches!(err, EvalError::ShapeMismatch { test_items: 5, model_items: 6, .. }));
        model.fail_user = Some(1);
        assert!(matches!(run(&model, &opts(3)), Err(EvalError::Model(ModelError::Unsupported { .. }))));
    }
}
