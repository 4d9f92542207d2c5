//! Exact top-k selection without a full sort.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::ids::ItemIdx;
use crate::recommender::Scored;

/// Heap entry ordered so that the heap's top is the *worst* kept candidate.
#[derive(Copy, Clone, PartialEq)]
struct Worst(Scored);

impl Eq for Worst {}

impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        // The max-heap's top is the greatest entry: make that the worst candidate.
        better(&self.0, &other.0)
    }
}

impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Ordering of the final list: higher score first, then lower item index (deterministic ties).
fn better(a: &Scored, b: &Scored) -> Ordering {
    b.score.total_cmp(&a.score).then(a.item.cmp(&b.item))
}

/// Scores scanned per block by [`top_k`]'s threshold test.
const BLOCK: usize = 64;

/// The `k` best finite scores, best first; ties go to the lower item index. Non-finite scores
/// (NaN, ±∞) are skipped, so setting a score to `-∞` excludes its item.
///
/// Partial selection, no full sort: a heap of the `k` best so far, whose worst score is a
/// threshold once it is full. Scores are scanned in blocks of 64; a block with no score above the
/// threshold (a branch-free count the compiler vectorises) cannot change the result — a tie with
/// the threshold loses to the lower index already kept — and is skipped whole, so after the first
/// few blocks most of the catalog costs one vector compare per 8 or 16 scores. O(n + m log k) for
/// `m` heap updates.
pub fn top_k(scores: &[f32], k: usize) -> Vec<Scored> {
    let mut top = TopK::new(k);
    top.push(scores, 0);
    top.into_sorted()
}

/// [`top_k`] over scores that arrive in parts: the `k` best of everything pushed, with the same
/// order, ties and skipping, whatever the parts (a part scanned whole, or in pieces at their
/// offsets, gives the same list), as long as the parts arrive in ascending item order, as a scan
/// of the whole catalog would see them: a score tied with the worst kept one is passed over
/// because the kept one has the lower index.
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Worst>,
}

impl TopK {
    /// An empty selection of the `k` best.
    pub(crate) fn new(k: usize) -> Self {
        Self { k, heap: BinaryHeap::with_capacity(k + 1) }
    }

    /// Offers `scores`, the scores of items `offset..offset + scores.len()`.
    pub(crate) fn push(&mut self, scores: &[f32], offset: usize) {
        self.offer(scores, |j| ItemIdx((offset + j) as u32));
    }

    /// Offers `scores`, the scores of `items` (ascending, as in a scan of the whole catalog, so
    /// that a tie with the threshold loses to the lower index already kept).
    pub(crate) fn push_items(&mut self, scores: &[f32], items: &[ItemIdx]) {
        debug_assert!(items.windows(2).all(|w| w[0] < w[1]));
        self.offer(&scores[..items.len().min(scores.len())], |j| items[j]);
    }

    /// Offers `scores[j]` as the score of `item(j)`; items ascend with `j`.
    fn offer(&mut self, scores: &[f32], item: impl Fn(usize) -> ItemIdx) {
        let (k, heap) = (self.k, &mut self.heap);
        if k == 0 {
            return;
        }
        // The worst kept score once the selection is full: a score below it cannot enter, and is
        // passed over with one compare (a tie, or ±0, still goes through `better`).
        let mut threshold = (heap.len() == k).then(|| heap.peek().map(|w| w.0.score)).flatten();
        for (b, block) in scores.chunks(BLOCK).enumerate() {
            if let Some(t) = threshold {
                let above: u32 = block.iter().map(|&s| u32::from(s > t)).sum();
                if above == 0 {
                    continue;
                }
            }
            for (j, &score) in block.iter().enumerate() {
                if !score.is_finite() || threshold.is_some_and(|t| score < t) {
                    continue;
                }
                let cand = Scored { item: item(b * BLOCK + j), score };
                if heap.len() < k {
                    heap.push(Worst(cand));
                } else if let Some(mut worst) = heap.peek_mut()
                    && better(&cand, &worst.0) == Ordering::Less
                {
                    *worst = Worst(cand);
                } else {
                    continue;
                }
                if heap.len() == k {
                    threshold = heap.peek().map(|w| w.0.score);
                }
            }
        }
    }

    /// The selection, best first.
    pub(crate) fn into_sorted(self) -> Vec<Scored> {
        let mut out: Vec<Scored> = self.heap.into_iter().map(|w| w.0).collect();
        out.sort_by(better);
        out
    }
}

/// The first `n` positions that `admit` accepts, in the order of their exact scores (higher
/// first, ties to the lower position), when only upper bounds of the scores are at hand and exact
/// scores cost more: exactly what scoring every position exactly, [`top_k`] over all of them and
/// admitting in order would give, with exact scores computed only where they can matter.
///
/// `upper[j] ≥` the exact score of position `j` (not finite: never a candidate, as in [`top_k`]);
/// `exact` writes the exact scores of the positions it is given, in their order. Rounds take the
/// `m` best bounds (`m = 2n + 16`, then four times more each round), score them exactly and admit
/// them in exact order; a round ends the search when its `n`-th admitted score is above every
/// bound it left out, or when nothing is left out. `admit` sees each position once per round,
/// with its exact score. Returns what `admit` returned and how many positions were scored exactly
/// in the last round.
pub fn top_bounded<R, E>(
    upper: &[f32],
    n: usize,
    mut exact: impl FnMut(&[ItemIdx], &mut [f32]) -> Result<(), E>,
    mut admit: impl FnMut(ItemIdx, f32) -> Option<R>,
) -> Result<(Vec<R>, usize), E> {
    let len = upper.len();
    let mut m = (n * 2 + 16).min(len);
    loop {
        let top = top_k(upper, m);
        let at: Vec<ItemIdx> = top.iter().map(|s| s.item).collect();
        let mut scores = vec![0f32; at.len()];
        exact(&at, &mut scores)?;
        let mut ranked: Vec<Scored> = at
            .iter()
            .zip(&scores)
            .filter(|(_, s)| s.is_finite())
            .map(|(&item, &score)| Scored { item, score })
            .collect();
        ranked.sort_by(better);
        let mut out = Vec::with_capacity(n.min(ranked.len()));
        let mut nth = None;
        for s in &ranked {
            if out.len() == n {
                break;
            }
            if let Some(r) = admit(s.item, s.score) {
                out.push(r);
                nth = Some(s.score);
            }
        }
        let everything_scored = top.len() < m || m >= len;
        let left_out_bound = top.last().map_or(f32::NEG_INFINITY, |s| s.score);
        if n == 0 || everything_scored || (out.len() == n && nth.is_some_and(|t| t > left_out_bound)) {
            return Ok((out, at.len()));
        }
        m = (m * 4).min(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_best_sorted_with_index_ties() {
        let s = [0.5, 3.0, f32::NAN, 3.0, f32::NEG_INFINITY, 1.0, 2.0];
        let top = top_k(&s, 3);
        let items: Vec<u32> = top.iter().map(|s| s.item.0).collect();
        assert_eq!(items, [1, 3, 6]);
        assert_eq!(top_k(&s, 0), vec![]);
        assert_eq!(top_k(&s, 100).len(), 5);
    }

    #[test]
    fn pushed_in_parts_the_selection_is_the_same() {
        let s: Vec<f32> =
            (0..5000).map(|i| ((i * 7919) % 613) as f32 * if i % 11 == 0 { f32::NAN } else { 1.0 }).collect();
        for k in [0, 1, 10, 50, 700] {
            for part in [1, 63, 64, 2048, 5000] {
                let mut top = TopK::new(k);
                for (c, chunk) in s.chunks(part).enumerate() {
                    top.push(chunk, c * part);
                }
                assert_eq!(top.into_sorted(), top_k(&s, k), "k {k}, parts of {part}");
            }
        }
    }

    #[test]
    fn skipped_blocks_never_hide_a_better_score_or_win_a_tie() {
        // 1,000 scores of 1.0 except three 2.0s in late blocks and a NaN beside one of them:
        // the early blocks fill the heap with 1.0s at low indexes; later 1.0s tie and must lose.
        let mut s = vec![1.0f32; 1000];
        s[700] = 2.0;
        s[701] = f32::NAN;
        s[999] = 2.0;
        s[130] = 2.0;
        let items: Vec<u32> = top_k(&s, 5).iter().map(|x| x.item.0).collect();
        assert_eq!(items, [130, 700, 999, 0, 1]);
    }

    /// Exact scores, bounds above them by up to `slack` (some equal, some far), an admission rule:
    /// the bounded search gives exactly the full scan's admitted list.
    #[test]
    fn the_bounded_search_is_the_full_scans_list() {
        use crate::rng;
        use rand::Rng;
        let mut rng = rng::seeded(3);
        for round in 0..200 {
            let len = rng.random_range(0..3000);
            let slack = [0.0, 0.01, 0.5, 10.0][round % 4];
            let exact: Vec<f32> = (0..len)
                .map(|j| match j % 50 {
                    0 => f32::NEG_INFINITY,
                    1 => f32::NAN,
                    2 => 1.0,
                    _ => (rng.random_range(0..200) as f32) / 20.0,
                })
                .collect();
            let upper: Vec<f32> = exact
                .iter()
                .map(|&e| if e.is_nan() { f32::MAX } else { e + rng.random_range(0.0..=slack) })
                .collect();
            let n = rng.random_range(0..40);
            let modulus = rng.random_range(1..5u32);
            let admit = |i: ItemIdx, s: f32| (i.0 % modulus != 1).then_some((i, s));
            let full: Vec<(ItemIdx, f32)> =
                top_k(&exact, len).into_iter().filter_map(|s| admit(s.item, s.score)).take(n).collect();
            let (bounded, scored) =
                top_bounded(&upper, n, |at: &[ItemIdx], out: &mut [f32]| gather(&exact, at, out), admit)
                    .unwrap();
            assert_eq!(bounded, full, "round {round}: len {len}, n {n}, slack {slack}");
            assert!(scored <= len);
        }
        // Distinct scores with exact bounds: one round of 2n + 16.
        let exact: Vec<f32> = (0..5000).map(|j| ((j * 7919) % 5000) as f32).collect();
        let (top, scored) =
            top_bounded(&exact, 10, |at, out| gather(&exact, at, out), |i, _| Some(i)).unwrap();
        assert_eq!(top, top_k(&exact, 10).iter().map(|s| s.item).collect::<Vec<_>>());
        assert_eq!(scored, 36);
    }

    fn gather(all: &[f32], at: &[ItemIdx], out: &mut [f32]) -> Result<(), ()> {
        at.iter().zip(out.iter_mut()).for_each(|(i, o)| *o = all[i.index()]);
        Ok(())
    }
}
