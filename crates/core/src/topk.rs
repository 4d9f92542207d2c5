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
    if k == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Worst> = BinaryHeap::with_capacity(k + 1);
    for (b, block) in scores.chunks(BLOCK).enumerate() {
        if heap.len() == k
            && let Some(worst) = heap.peek()
        {
            let threshold = worst.0.score;
            let above: u32 = block.iter().map(|&s| u32::from(s > threshold)).sum();
            if above == 0 {
                continue;
            }
        }
        for (j, &score) in block.iter().enumerate() {
            if !score.is_finite() {
                continue;
            }
            let cand = Scored { item: ItemIdx((b * BLOCK + j) as u32), score };
            if heap.len() < k {
                heap.push(Worst(cand));
            } else if let Some(mut worst) = heap.peek_mut()
                && better(&cand, &worst.0) == Ordering::Less
            {
                *worst = Worst(cand);
            }
        }
    }
    let mut out: Vec<Scored> = heap.into_iter().map(|w| w.0).collect();
    out.sort_by(better);
    out
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
}
