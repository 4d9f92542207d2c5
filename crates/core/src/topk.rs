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

/// The `k` best finite scores, best first; ties go to the lower item index. Non-finite scores
/// (NaN, ±∞) are skipped, so setting a score to `-∞` excludes its item. O(n log k).
pub fn top_k(scores: &[f32], k: usize) -> Vec<Scored> {
    if k == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Worst> = BinaryHeap::with_capacity(k + 1);
    for (i, &score) in scores.iter().enumerate() {
        if !score.is_finite() {
            continue;
        }
        let cand = Scored { item: ItemIdx(i as u32), score };
        if heap.len() < k {
            heap.push(Worst(cand));
        } else if let Some(mut worst) = heap.peek_mut()
            && better(&cand, &worst.0) == Ordering::Less
        {
            *worst = Worst(cand);
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
}
