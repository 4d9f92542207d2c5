//! Similar-item lists of a catalog too large for the exact all-pairs pass of
//! `neighbours` (whose cost grows with the square of the catalog: a million items would take
//! most of an hour of two cores), from a cluster index built for the purpose and measured
//! against exact lists.
//!
//! - **The index.** The items' directions (vectors over their norms) are clustered by spherical
//!   k-means into about `4√n` clusters: seeded from a sample, refined for 8 rounds on a
//!   sample of 32 items per cluster (sums in a fixed order, so the same vectors
//!   and seed always give the same index), then every item joins its nearest centroid.
//! - **The lists.** An item's candidates are the members of the `probe` clusters whose centroids
//!   are nearest its own cluster's (that one first). Its list is the exact top of those
//!   candidates: the same dot kernel and norms as the one-at-a-time `similar_items`, so each listed
//!   score is `similar_items`' score bit for bit; what the index can do is miss a neighbour
//!   outside the candidates. Items of one cluster share their candidates and are scored in blocks
//!   against tiles of them, as in the exact pass.
//! - **The probe, chosen by validation.** Before the whole catalog is listed, a seeded sample of
//!   items gets its exact lists (a scan of the whole catalog each) and its indexed lists at
//!   probes 32, 64, 128, …; the first probe whose recall@10 reaches [`ListIndex::min_recall`] lists
//!   the catalog, capped at a sixteenth of the clusters or 128, whichever is more (then the
//!   recall reached is what is reported). Recall@10 and recall at the full depth are returned with the lists, so a server
//!   can show how good its lists are on its own catalog.

use rand::seq::SliceRandom;
use rayon::prelude::*;

use super::neighbours::cosine;
use super::simd::score_rows;
use crate::ids::ItemIdx;
use crate::recommender::Scored;
use crate::topk::{TopK, top_k};

/// Items whose lists are computed together, sharing each tile of candidates while it is in cache
/// (and its gathering: 32 spent 15% of the time copying rows).
const QUERIES: usize = 64;

/// Candidates scored per pass over a block's items (as [`super::neighbours`]' tiles).
const TILE: usize = 512;

/// Rounds of k-means on the sample.
const ROUNDS: usize = 8;

/// Sampled items per cluster for k-means.
const SAMPLE_PER_CLUSTER: usize = 32;

/// The list length whose recall chooses the probe.
const RECALL_AT: usize = 10;

/// Clusters per square root of the catalog. On the 1M-item demo shop's iALS vectors, about √n
/// clusters reached a recall@10 of 0.936 at 40,000 candidates per item, 4√n reached 0.973 at
/// 28,000, and 8√n 0.964 at 17,000 but with k-means taking much of the time (docs/benchmarks.md).
const CLUSTERS_PER_ROOT: f64 = 4.0;

/// The first probe tried (doubled from there).
const FIRST_PROBE: usize = 32;

/// How lists are computed from a cluster index, and how good they must be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ListIndex {
    /// The recall@10 against exact lists, on the sample, at which the probe stops widening.
    pub min_recall: f64,
    /// Items whose exact lists measure the recall.
    pub sample: usize,
    /// Seed of the sample and of k-means.
    pub seed: u64,
}

/// Lists from a cluster index, and what their index measured.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexedLists {
    /// Row `i`: item `i`'s list, best first (empty for an item with a zero vector).
    pub lists: Vec<Vec<Scored>>,
    /// Clusters of the index.
    pub clusters: usize,
    /// Clusters whose members were each item's candidates.
    pub probe: usize,
    /// Candidates scored per listed item, on average.
    pub candidates: f64,
    /// Items whose exact lists measured the recall.
    pub sampled: usize,
    /// Share of the sample's exact top 10 found in their indexed top 10.
    pub recall_at_10: f64,
    /// Share of the sample's exact lists (the full depth) found in their indexed lists.
    pub recall_at_depth: f64,
    /// Each probe tried on the sample, with its recall@10, in order.
    pub tried: Vec<(usize, f64)>,
}

/// [`cosine_lists_indexed`] of the rows of a row-major `n × k` matrix, scored by the kernel of
/// every one-at-a-time scan of such a matrix (the factor models through `Latent`, SASRec).
pub(crate) fn cosine_lists_indexed_of_rows(
    rows: &[f32],
    k: usize,
    norms: &[f32],
    depth: usize,
    index: &ListIndex,
) -> IndexedLists {
    let vector = |i: usize| &rows[i * k..(i + 1) * k];
    cosine_lists_indexed(k, norms, vector, depth, index, |q, tile, out| {
        score_rows(tile, vector(q), None, out);
    })
}

/// Every item's `depth` most similar items by cosine, from a cluster index (module doc).
///
/// `norms[i]` is `|vector(i)|`; `dots(i, rows, out)` writes the dot product of item `i` with each
/// of `rows` (a tile of candidates' vectors, gathered side by side) into `out`, exactly as the
/// one-at-a-time path scores each row.
pub(crate) fn cosine_lists_indexed<'v>(
    k: usize,
    norms: &[f32],
    vector: impl Fn(usize) -> &'v [f32] + Sync,
    depth: usize,
    index: &ListIndex,
    dots: impl Fn(usize, &[f32], &mut [f32]) + Sync,
) -> IndexedLists {
    let n = norms.len();
    let live: Vec<ItemIdx> = (0..n).filter(|&i| norms[i] > 0.0).map(|i| ItemIdx(i as u32)).collect();
    let clusters = Clusters::build(k, norms, &vector, &live, index.seed);
    let lister = Lister { k, norms, depth, vector: &vector, dots: &dots };

    // The sample's exact lists, then the narrowest probe that reaches the recall asked for.
    let mut rng = crate::rng::stream(index.seed, 1);
    let mut sample = live.clone();
    let (chosen, _) = sample.partial_shuffle(&mut rng, index.sample.min(live.len()));
    let mut sample = chosen.to_vec();
    sample.sort_unstable();
    let exact: Vec<Vec<Scored>> =
        sample.par_chunks(QUERIES).flat_map_iter(|block| lister.lists(block, &live)).collect();
    let max_probe = (clusters.len() / 16).max(4 * FIRST_PROBE).min(clusters.len()).max(1);
    let mut probe = FIRST_PROBE.min(max_probe);
    let mut tried = Vec::new();
    let (recall_at_10, recall_at_depth) = loop {
        let found: Vec<Vec<Scored>> = sample
            .par_iter()
            .map(|&q| lister.lists(&[q], &clusters.candidates(clusters.of(q), probe)).remove(0))
            .collect();
        let recall = (recall(&exact, &found, RECALL_AT), recall(&exact, &found, depth));
        tried.push((probe, recall.0));
        if recall.0 >= index.min_recall || probe >= max_probe {
            break recall;
        }
        probe = (probe * 2).min(max_probe);
    };

    // Every cluster's members against their shared candidates.
    let per_cluster: Vec<(Vec<Vec<Scored>>, usize)> = (0..clusters.len())
        .into_par_iter()
        .map(|c| {
            let members = &clusters.members[c];
            if members.is_empty() {
                return (Vec::new(), 0);
            }
            let candidates = clusters.candidates(c, probe);
            let lists = members.par_chunks(QUERIES).flat_map_iter(|b| lister.lists(b, &candidates)).collect();
            (lists, candidates.len() * members.len())
        })
        .collect();
    let mut lists = vec![Vec::new(); n];
    let mut scored = 0usize;
    for (c, (found, count)) in per_cluster.into_iter().enumerate() {
        scored += count;
        for (&q, list) in clusters.members[c].iter().zip(found) {
            lists[q.index()] = list;
        }
    }
    IndexedLists {
        lists,
        clusters: clusters.len(),
        probe,
        candidates: if live.is_empty() { 0.0 } else { scored as f64 / live.len() as f64 },
        sampled: sample.len(),
        recall_at_10,
        recall_at_depth,
        tried,
    }
}

/// Share of the exact lists' top `at` found in the indexed lists' top `at` (1 when the exact
/// lists are all empty).
fn recall(exact: &[Vec<Scored>], found: &[Vec<Scored>], at: usize) -> f64 {
    let (mut hits, mut total) = (0usize, 0usize);
    for (e, f) in exact.iter().zip(found) {
        let f = &f[..f.len().min(at)];
        for s in &e[..e.len().min(at)] {
            total += 1;
            hits += usize::from(f.iter().any(|x| x.item == s.item));
        }
    }
    if total == 0 { 1.0 } else { hits as f64 / total as f64 }
}

/// Exact top lists of items among candidates.
struct Lister<'a, V, D> {
    k: usize,
    norms: &'a [f32],
    depth: usize,
    vector: &'a V,
    dots: &'a D,
}

impl<'v, V, D> Lister<'_, V, D>
where
    V: Fn(usize) -> &'v [f32] + Sync,
    D: Fn(usize, &[f32], &mut [f32]) + Sync,
{
    /// Each of `queries`' `depth` best of `candidates` (ascending) by cosine, never itself: the
    /// scores of `similar_items` for the same pairs, bit for bit. Each tile of candidates is
    /// gathered once per block of queries, so the kernel reads contiguous rows (four per pass
    /// where it can) that stay in cache for the block.
    fn lists(&self, queries: &[ItemIdx], candidates: &[ItemIdx]) -> Vec<Vec<Scored>> {
        let k = self.k;
        let mut out = Vec::with_capacity(queries.len());
        let mut scores = vec![0f32; TILE];
        let mut rows = vec![0f32; TILE * k];
        let mut norms = vec![0f32; TILE];
        for block in queries.chunks(QUERIES) {
            let mut tops: Vec<TopK> = block.iter().map(|_| TopK::new(self.depth)).collect();
            for tile in candidates.chunks(TILE) {
                let rows = &mut rows[..tile.len() * k];
                for (row, t) in rows.chunks_exact_mut(k.max(1)).zip(tile) {
                    row.copy_from_slice((self.vector)(t.index()));
                }
                let norms = &mut norms[..tile.len()];
                for (n, t) in norms.iter_mut().zip(tile) {
                    *n = self.norms[t.index()];
                }
                for (top, &q) in tops.iter_mut().zip(block) {
                    let row = &mut scores[..tile.len()];
                    (self.dots)(q.index(), rows, row);
                    let nq = self.norms[q.index()];
                    for (s, &nr) in row.iter_mut().zip(norms.iter()) {
                        *s = cosine(*s, nq, nr);
                    }
                    if let Ok(me) = tile.binary_search(&q) {
                        row[me] = f32::NEG_INFINITY;
                    }
                    top.push_items(row, tile);
                }
            }
            out.extend(tops.into_iter().map(TopK::into_sorted));
        }
        out
    }
}

/// The spherical k-means index: centroids, and each cluster's members in ascending order.
struct Clusters {
    k: usize,
    /// Unit centroids, row-major.
    centroids: Vec<f32>,
    members: Vec<Vec<ItemIdx>>,
    /// Each item's cluster (`u32::MAX` for an item with a zero vector).
    of: Vec<u32>,
}

impl Clusters {
    fn build<'v>(
        k: usize,
        norms: &[f32],
        vector: &(impl Fn(usize) -> &'v [f32] + Sync),
        live: &[ItemIdx],
        seed: u64,
    ) -> Self {
        // Directions of finite vectors only: one infinite component would poison a centroid.
        let unit = |i: ItemIdx| {
            let nv = norms[i.index()];
            vector(i.index()).iter().map(move |x| x / nv)
        };
        let mut pool: Vec<ItemIdx> = live.iter().copied().filter(|i| norms[i.index()].is_finite()).collect();
        let wanted = ((CLUSTERS_PER_ROOT * (pool.len() as f64).sqrt()).round() as usize).max(1);
        let mut rng = crate::rng::stream(seed, 0);
        let (sample, _) = pool.partial_shuffle(&mut rng, wanted * SAMPLE_PER_CLUSTER);
        let sample = sample.to_vec();
        let n_clusters = wanted.min(sample.len()).max(1);
        let mut centroids = vec![0f32; n_clusters * k];
        for (c, &i) in sample.iter().take(n_clusters).enumerate() {
            for (x, u) in centroids[c * k..(c + 1) * k].iter_mut().zip(unit(i)) {
                *x = u;
            }
        }
        for _ in 0..ROUNDS {
            let nearest: Vec<usize> = sample
                .par_iter()
                .map_init(|| vec![0f32; n_clusters], |buf, &i| nearest(&centroids, vector(i.index()), buf))
                .collect();
            let mut sums = vec![0f64; n_clusters * k];
            for (&i, &c) in sample.iter().zip(&nearest) {
                for (s, u) in sums[c * k..(c + 1) * k].iter_mut().zip(unit(i)) {
                    *s += f64::from(u);
                }
            }
            for (centroid, sum) in centroids.chunks_exact_mut(k).zip(sums.chunks_exact(k)) {
                let length = sum.iter().map(|s| s * s).sum::<f64>().sqrt();
                if length > 0.0 && length.is_finite() {
                    for (x, s) in centroid.iter_mut().zip(sum) {
                        *x = (s / length) as f32;
                    }
                }
            }
        }
        let mut of = vec![u32::MAX; norms.len()];
        let joined: Vec<u32> = live
            .par_iter()
            .map_init(
                || vec![0f32; n_clusters],
                |buf, &i| {
                    if norms[i.index()].is_finite() {
                        nearest(&centroids, vector(i.index()), buf) as u32
                    } else {
                        0
                    }
                },
            )
            .collect();
        let mut members = vec![Vec::new(); n_clusters];
        for (&i, &c) in live.iter().zip(&joined) {
            of[i.index()] = c;
            members[c as usize].push(i);
        }
        Self { k, centroids, members, of }
    }

    fn len(&self) -> usize {
        self.members.len()
    }

    fn of(&self, item: ItemIdx) -> usize {
        self.of[item.index()] as usize
    }

    /// The members, ascending, of the `probe` clusters nearest cluster `c` (`c` first).
    fn candidates(&self, c: usize, probe: usize) -> Vec<ItemIdx> {
        let k = self.k;
        let mut dots = vec![0f32; self.len()];
        score_rows(&self.centroids, &self.centroids[c * k..(c + 1) * k], None, &mut dots);
        dots[c] = f32::MAX; // its own cluster first (an infinite score would not be selected)
        let mut out: Vec<ItemIdx> =
            top_k(&dots, probe).iter().flat_map(|s| self.members[s.item.index()].iter().copied()).collect();
        out.sort_unstable();
        out
    }
}

/// The centroid with the largest dot product with `v` (the first of equals).
fn nearest(centroids: &[f32], v: &[f32], buf: &mut [f32]) -> usize {
    score_rows(centroids, v, None, buf);
    let mut best = 0;
    for (c, &s) in buf.iter().enumerate() {
        if s > buf[best] {
            best = c;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;

    /// `n` vectors around `groups` random directions (so that clusters exist to be found), with
    /// a few zero vectors.
    fn grouped(n: usize, k: usize, groups: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng::seeded(seed);
        let centres: Vec<f32> = (0..groups * k).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut rows = Vec::with_capacity(n * k);
        for i in 0..n {
            let g = rng.random_range(0..groups);
            for d in 0..k {
                let x = if i % 997 == 5 { 0.0 } else { centres[g * k + d] + rng.random_range(-0.35..0.35) };
                rows.push(x);
            }
        }
        rows
    }

    fn norms(rows: &[f32], k: usize) -> Vec<f32> {
        rows.chunks_exact(k).map(super::super::linalg::norm).collect()
    }

    #[test]
    fn indexed_lists_hold_exact_scores_and_reach_the_recall_asked_for() {
        let (n, k, depth) = (3000, 12, 20);
        let rows = grouped(n, k, 30, 3);
        let norms = norms(&rows, k);
        let index = ListIndex { min_recall: 0.95, sample: 200, seed: 11 };
        let got = cosine_lists_indexed_of_rows(&rows, k, &norms, depth, &index);
        assert_eq!(got.lists.len(), n);
        assert_eq!(got.clusters, 219, "about 4√n clusters (2,997 non-zero vectors)");
        assert!(got.probe >= FIRST_PROBE && got.probe <= got.clusters, "{got:?}");
        assert!(got.recall_at_10 >= 0.95, "{got:?}");
        assert!(got.candidates > 0.0 && got.candidates < n as f64, "{}", got.candidates);
        assert_eq!(got.sampled, 200);

        // Every listed score is the exact pass's score of that pair, and each list is sorted,
        // without the item itself or a zero vector.
        let exact = super::super::neighbours::cosine_lists_of_rows(&rows, k, &norms, 2 * depth);
        let (mut hits, mut compared) = (0, 0);
        for (i, list) in got.lists.iter().enumerate() {
            if norms[i] == 0.0 {
                assert!(list.is_empty());
                continue;
            }
            assert_eq!(list.len(), depth, "item {i}");
            assert!(list.windows(2).all(|w| w[0].score >= w[1].score));
            for s in list {
                assert_ne!(s.item.index(), i);
                assert!(norms[s.item.index()] > 0.0);
                if let Some(e) = exact[i].iter().find(|e| e.item == s.item) {
                    assert_eq!(e.score.to_bits(), s.score.to_bits(), "item {i} → {:?}", s.item);
                    compared += 1;
                }
            }
            let top: Vec<_> = exact[i].iter().take(10).map(|s| s.item).collect();
            hits += list.iter().take(10).filter(|s| top.contains(&s.item)).count();
        }
        // The recall measured on the sample is close to the whole catalog's.
        let whole = hits as f64 / (10 * got.lists.iter().filter(|l| !l.is_empty()).count()) as f64;
        assert!((whole - got.recall_at_10).abs() < 0.05, "whole {whole} sample {}", got.recall_at_10);
        assert!(whole >= 0.9, "{whole}");
        assert!(compared > n * depth * 9 / 10, "{compared} listed scores compared bit for bit");
    }

    #[test]
    fn the_probe_widens_until_the_recall_is_reached_and_the_lists_are_deterministic() {
        let (n, k) = (3000, 8);
        let rows = grouped(n, k, 1, 5); // one blob: neighbours straddle every cluster boundary
        let norms = norms(&rows, k);
        let loose = ListIndex { min_recall: 0.0, sample: 100, seed: 1 };
        let strict = ListIndex { min_recall: 1.0, ..loose };
        let a = cosine_lists_indexed_of_rows(&rows, k, &norms, 10, &loose);
        let b = cosine_lists_indexed_of_rows(&rows, k, &norms, 10, &strict);
        assert_eq!(a.probe, FIRST_PROBE, "nothing asked, the first probe");
        assert!(b.probe > a.probe && b.recall_at_10 >= a.recall_at_10, "{} {}", a.probe, b.probe);
        assert!(b.candidates > a.candidates);
        assert_eq!(b, cosine_lists_indexed_of_rows(&rows, k, &norms, 10, &strict), "same input, same lists");
    }

    #[test]
    fn tiny_and_empty_catalogs_are_listed_exactly() {
        let k = 4;
        let rows: Vec<f32> = (0..40).map(|x| ((x * 7 % 11) as f32) - 5.0).collect();
        let norms = norms(&rows, k);
        let index = ListIndex { min_recall: 0.95, sample: 50, seed: 2 };
        let got = cosine_lists_indexed_of_rows(&rows, k, &norms, 3, &index);
        let exact = super::super::neighbours::cosine_lists_of_rows(&rows, k, &norms, 3);
        assert_eq!(got.lists, exact, "ten items: a probe of every cluster is the whole catalog");
        assert_eq!(got.recall_at_10, 1.0);
        let none = cosine_lists_indexed_of_rows(&[], k, &[], 3, &index);
        assert!(none.lists.is_empty() && none.sampled == 0 && none.recall_at_10 == 1.0);
        let zeros = cosine_lists_indexed_of_rows(&[0.0; 8], k, &[0.0, 0.0], 3, &index);
        assert_eq!(zeros.lists, vec![Vec::<Scored>::new(); 2]);
    }
}
