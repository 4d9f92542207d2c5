//! Maximal marginal relevance over categories, with a per-category cap.
//!
//! Carbonell & Goldstein, "The use of MMR, diversity-based reranking for reordering documents and
//! producing summaries", SIGIR 1998. Picks are made one at a time by
//!
//! `argmax_{i not picked} λ·rel′(i) − (1 − λ)·max_{j picked} sim(i, j)`
//!
//! where `rel′` is the relevance score min-max normalised to [0, 1] over the valid candidates
//! and `sim(i, j) = 1` when both have the same category and 0 otherwise (no category is similar
//! to nothing). λ = 1 is plain ranking by score; λ = 0 is pure novelty. On top of that, no
//! category contributes more than `max_per_category` items (uncategorised items are uncapped).

use std::collections::HashMap;

/// Re-ranks candidates by MMR and returns at most `n` indexes into `scores`, in pick order.
///
/// `categories[i]` is candidate `i`'s category (a missing entry counts as none). Candidates with
/// a non-finite score are never picked. λ outside [0, 1] is clamped and a NaN λ counts as 1.
/// Ties go to the lower index. When every score is equal, `rel′ = 1` for all.
pub fn diversify(
    scores: &[f64],
    categories: &[Option<u32>],
    n: usize,
    lambda: f64,
    max_per_category: Option<usize>,
) -> Vec<usize> {
    let lambda = if lambda.is_nan() { 1.0 } else { lambda.clamp(0.0, 1.0) };
    let valid = |i: usize| scores[i].is_finite();
    let (min, max) = scores
        .iter()
        .filter(|s| s.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| (lo.min(*s), hi.max(*s)));
    let range = max - min;
    let relevance = |i: usize| if range > 0.0 { (scores[i] - min) / range } else { 1.0 };
    let category = |i: usize| categories.get(i).copied().flatten();

    let mut picked = vec![false; scores.len()];
    let mut per_category: HashMap<u32, usize> = HashMap::new();
    let mut order = Vec::with_capacity(n.min(scores.len()));
    while order.len() < n {
        let mut best: Option<(usize, f64)> = None;
        for i in (0..scores.len()).filter(|&i| !picked[i] && valid(i)) {
            let seen = category(i).map_or(0, |c| per_category.get(&c).copied().unwrap_or(0));
            if max_per_category.is_some_and(|cap| seen >= cap) {
                continue;
            }
            let similarity = if seen > 0 { 1.0 } else { 0.0 };
            let mmr = lambda * relevance(i) - (1.0 - lambda) * similarity;
            if best.is_none_or(|(_, b)| mmr > b) {
                best = Some((i, mmr));
            }
        }
        let Some((i, _)) = best else { break };
        picked[i] = true;
        if let Some(c) = category(i) {
            *per_category.entry(c).or_default() += 1;
        }
        order.push(i);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_one_without_cap_is_plain_ranking() {
        let scores = [0.2, 0.9, 0.5, 0.7, 0.1];
        let categories = [Some(1), Some(1), Some(1), Some(2), None];
        assert_eq!(diversify(&scores, &categories, 3, 1.0, None), vec![1, 3, 2]);
        assert_eq!(diversify(&scores, &categories, 10, 1.0, None), vec![1, 3, 2, 0, 4]);
    }

    #[test]
    fn cap_one_puts_distinct_categories_first() {
        let scores = [0.9, 0.8, 0.7, 0.6, 0.5];
        let categories = [Some(1), Some(1), Some(2), Some(2), Some(3)];
        assert_eq!(diversify(&scores, &categories, 5, 1.0, Some(1)), vec![0, 2, 4]);
        assert_eq!(diversify(&scores, &categories, 5, 1.0, Some(2)), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn uncategorised_items_are_uncapped() {
        let scores = [0.9, 0.8, 0.7];
        assert_eq!(diversify(&scores, &[None, None, None], 3, 1.0, Some(1)), vec![0, 1, 2]);
        // Missing entries count as no category.
        assert_eq!(diversify(&scores, &[], 3, 0.5, Some(1)), vec![0, 1, 2]);
    }

    #[test]
    fn hand_computed_half_lambda() {
        // rel′ = [1, 0.9, 0.5, 0]; categories [1, 1, 2, none]; λ = 0.5.
        // Step 1: 0.5·rel′ → 0.5, 0.45, 0.25, 0 → pick 0.
        // Step 2: item 1 shares category 1: 0.45 − 0.5 = −0.05; item 2: 0.25; item 3: 0 → pick 2.
        // Step 3: item 1: −0.05; item 3: 0 → pick 3. Step 4: item 1.
        let scores = [1.0, 0.9, 0.5, 0.0];
        let categories = [Some(1), Some(1), Some(2), None];
        assert_eq!(diversify(&scores, &categories, 4, 0.5, None), vec![0, 2, 3, 1]);
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        assert!(diversify(&[], &[], 3, 0.5, None).is_empty());
        assert_eq!(diversify(&[f64::NAN, 1.0], &[None, None], 2, 0.5, None), vec![1]);
        assert_eq!(diversify(&[1.0, 1.0], &[Some(1), Some(1)], 2, f64::NAN, Some(0)), Vec::<usize>::new());
        // Equal scores: ties to the lower index.
        assert_eq!(diversify(&[0.3, 0.3, 0.3], &[None, None, None], 2, 2.0, None), vec![0, 1]);
    }
}
