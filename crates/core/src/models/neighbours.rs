//! Every item's nearest items by cosine at once, for the models whose similar items are the cosine
//! of two vectors (the factor models and SASRec's item embeddings): what a server precomputes when
//! it publishes a model, so that a similar-items request is a lookup.
//!
//! One item at a time, a list costs a scan of the whole item matrix (100,000 × 64 floats, 25 MB:
//! memory-bound, about 1 ms of a core). Here blocks of [`QUERIES`] items are scored together
//! against tiles of [`TILE`] items, so each tile is read from memory once per block and stays in
//! cache for the block's queries; blocks run in parallel on rayon. Each score is the very dot
//! product the one-at-a-time path computes (the caller passes its kernel), divided by the same
//! norms, and each query's tiles feed one running selection that picks exactly what
//! [`crate::topk::top_k`] picks from a whole row: the lists are those of `similar_items`, bit for
//! bit. No row of a whole catalog's scores is ever held (at 32 queries × 100,000 items that was
//! 12.8 MB a block, written and read back from memory).

use rayon::prelude::*;

use super::simd::score_rows;
use crate::recommender::Scored;
use crate::topk::TopK;

/// Items whose lists are computed together, sharing each tile while it is in cache.
const QUERIES: usize = 32;

/// Items scored per pass over a block's queries (128 KB of 64-factor rows: well inside a core's L2,
/// which also holds the block's selections; 2,048 was measured 10% slower).
const TILE: usize = 512;

/// The cosine of two vectors from their dot product and norms, as every similar-items path
/// computes it: `−∞` (never similar) when either vector is zero.
#[inline]
pub(crate) fn cosine(dot: f32, nq: f32, nr: f32) -> f32 {
    if nq > 0.0 && nr > 0.0 { dot / (nq * nr) } else { f32::NEG_INFINITY }
}

/// Row `i` is item `i`'s `depth` most similar items: cosine `dot(i, j) / (|i| |j|)` best first,
/// never `i` itself nor an item with a zero norm (nor anything, for a zero item `i`).
///
/// `norms[i]` is `|i|`; `dots(i, tile, out)` writes the dot product of item `i` with each item of
/// the range `tile` into `out` (as long as the range), exactly as the one-at-a-time path scores.
pub(crate) fn cosine_lists(
    norms: &[f32],
    depth: usize,
    dots: impl Fn(usize, std::ops::Range<usize>, &mut [f32]) + Sync,
) -> Vec<Vec<Scored>> {
    let n = norms.len();
    let blocks: Vec<Vec<Vec<Scored>>> = (0..n.div_ceil(QUERIES))
        .into_par_iter()
        .map(|b| {
            let queries = b * QUERIES..n.min((b + 1) * QUERIES);
            // Each query's scores of one tile at a time (a tile's worth per query: the block
            // stays in cache), normalised, then offered to that query's running selection.
            let mut tops: Vec<TopK> = queries.clone().map(|_| TopK::new(depth)).collect();
            let mut scores = vec![0f32; TILE];
            for start in (0..n).step_by(TILE) {
                let tile = start..n.min(start + TILE);
                let row_norms = &norms[tile.clone()];
                for (top, q) in tops.iter_mut().zip(queries.clone()) {
                    let row = &mut scores[..tile.len()];
                    dots(q, tile.clone(), row);
                    let nq = norms[q];
                    for (s, &nr) in row.iter_mut().zip(row_norms) {
                        *s = cosine(*s, nq, nr);
                    }
                    if tile.contains(&q) {
                        row[q - start] = f32::NEG_INFINITY;
                    }
                    top.push(row, start);
                }
            }
            tops.into_iter().map(TopK::into_sorted).collect()
        })
        .collect();
    blocks.into_iter().flatten().collect()
}

/// [`cosine_lists`] of the rows of a row-major `n × k` matrix, scored by the kernel every
/// one-at-a-time scan of such a matrix uses ([`score_rows`]): the lists of the models that rank
/// similar items that way (iALS, BPR and the hybrid through `Latent`, SASRec's embeddings).
pub(crate) fn cosine_lists_of_rows(rows: &[f32], k: usize, norms: &[f32], depth: usize) -> Vec<Vec<Scored>> {
    cosine_lists(norms, depth, |q, tile, out| {
        score_rows(&rows[tile.start * k..tile.end * k], &rows[q * k..(q + 1) * k], None, out);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ItemIdx;

    #[test]
    fn lists_are_the_nearest_by_cosine_across_blocks_and_tiles() {
        // Items on a circle at i tenths of a degree (item 0 has a zero vector): the nearest of
        // item i are i ± 1, i ± 2, … by angle. 3,000 items span six tiles and many blocks.
        let n = 3000;
        let rows: Vec<[f32; 2]> = (0..n)
            .map(|i| {
                if i == 0 {
                    [0.0, 0.0]
                } else {
                    let a = (i as f32 * 0.1).to_radians();
                    [a.cos() * (1 + i % 3) as f32, a.sin() * (1 + i % 3) as f32]
                }
            })
            .collect();
        let norms: Vec<f32> = rows.iter().map(|r| r[0].hypot(r[1])).collect();
        let lists = cosine_lists(&norms, 4, |q, tile, out| {
            for (o, j) in out.iter_mut().zip(tile) {
                *o = rows[q][0] * rows[j][0] + rows[q][1] * rows[j][1];
            }
        });
        assert_eq!(lists.len(), n);
        assert!(lists[0].is_empty(), "a zero vector is similar to nothing");
        let items = |i: usize| lists[i].iter().map(|s| s.item.0).collect::<Vec<_>>();
        assert_eq!(
            items(1500)[..2].iter().copied().collect::<std::collections::BTreeSet<_>>(),
            [1499, 1501].into()
        );
        assert!(items(1).iter().all(|&j| j != 0 && j != 1), "{:?}", items(1));
        assert_eq!(items(2999)[0], 2998);
        assert!(lists.iter().skip(1).all(|l| l.len() == 4 && l.windows(2).all(|w| w[0].score >= w[1].score)));
        assert!(lists[1500].iter().all(|s| s.item != ItemIdx(1500)));
    }

    #[test]
    fn the_factor_models_lists_are_their_similar_items_bit_for_bit() {
        use rand::Rng;
        // 2,100 items: five tiles (the last of 52) and a last block of 20; a few zero vectors,
        // and duplicated vectors so that ties must break by index as `similar` breaks them.
        let (n, k) = (2100, 8);
        let mut rng = crate::rng::seeded(7);
        let mut items: Vec<f32> = (0..n * k).map(|_| rng.random_range(-1.0..1.0)).collect();
        for i in [3, 500, 2099] {
            items[i * k..(i + 1) * k].fill(0.0);
        }
        let copy = items[10 * k..11 * k].to_vec();
        items[1999 * k..2000 * k].copy_from_slice(&copy);
        let mut latent = crate::models::latent::Latent::new(k, vec![0.0; k], items, Vec::new());
        latent.finish();
        let lists = latent.similar_lists(25);
        assert_eq!(lists.len(), n);
        for (i, list) in lists.iter().enumerate() {
            let one = latent.similar(ItemIdx(i as u32), 25, &[]);
            let bits = |l: &[Scored]| l.iter().map(|s| (s.item, s.score.to_bits())).collect::<Vec<_>>();
            assert_eq!(bits(list), bits(&one), "item {i}");
        }
        assert!(lists[3].is_empty() && lists[10].iter().any(|s| s.item == ItemIdx(1999)));
    }
}
