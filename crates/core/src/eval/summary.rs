//! Summaries of metrics over cross-validation folds: field-wise mean and population standard
//! deviation, as `numpy.mean` / `numpy.std` (ddof = 0) and Surprise's `cross_validate` report them.

use serde::Serialize;

use super::metrics::RatingMetrics;
use super::ranking::{Candidates, RankingMetrics};

/// Mean and population standard deviation of one metric over folds.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct MeanStd {
    /// `Σ x / n`.
    pub mean: f64,
    /// `√(Σ (x − mean)² / n)` (population, ddof = 0).
    pub std: f64,
}

/// `mean = Σ x / n` and `std = √(Σ (x − mean)² / n)` (two passes, as numpy); both NaN when
/// `values` is empty.
pub fn mean_std(values: &[f64]) -> MeanStd {
    if values.is_empty() {
        return MeanStd { mean: f64::NAN, std: f64::NAN };
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    MeanStd { mean, std: var.sqrt() }
}

/// Why folds cannot be summarised together.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SummaryError {
    /// No fold was given.
    #[error("no folds to summarise")]
    Empty,
    /// Folds were evaluated with different K, relevance threshold or candidates.
    #[error("folds were evaluated with different options")]
    MixedOptions,
}

/// Rating metrics over folds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RatingSummary {
    /// Number of folds.
    pub folds: usize,
    /// RMSE over folds.
    pub rmse: MeanStd,
    /// MAE over folds.
    pub mae: MeanStd,
    /// Predicted pairs, summed over folds.
    pub n: usize,
    /// Unpredicted pairs, summed over folds.
    pub unpredicted: usize,
}

/// Field-wise [`mean_std`] of RMSE and MAE, and summed counts.
pub fn summarize_ratings(folds: &[RatingMetrics]) -> Result<RatingSummary, SummaryError> {
    if folds.is_empty() {
        return Err(SummaryError::Empty);
    }
    let field = |f: fn(&RatingMetrics) -> f64| mean_std(&folds.iter().map(f).collect::<Vec<_>>());
    Ok(RatingSummary {
        folds: folds.len(),
        rmse: field(|m| m.rmse),
        mae: field(|m| m.mae),
        n: folds.iter().map(|m| m.n).sum(),
        unpredicted: folds.iter().map(|m| m.unpredicted).sum(),
    })
}

/// Ranking metrics over folds evaluated with the same options.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RankingSummary {
    /// Number of folds.
    pub folds: usize,
    /// The cut-off K.
    pub k: usize,
    /// Evaluated users, summed over folds.
    pub users: usize,
    /// Skipped users, summed over folds.
    pub skipped_users: usize,
    /// Precision@K.
    pub precision: MeanStd,
    /// Recall@K.
    pub recall: MeanStd,
    /// F1@K.
    pub f1: MeanStd,
    /// NDCG@K.
    pub ndcg: MeanStd,
    /// MAP@K.
    pub map: MeanStd,
    /// MRR.
    pub mrr: MeanStd,
    /// HitRate@K.
    pub hit_rate: MeanStd,
    /// AUC.
    pub auc: MeanStd,
    /// Catalog coverage.
    pub coverage: MeanStd,
    /// Novelty.
    pub novelty: MeanStd,
    /// The relevance threshold of every fold.
    pub relevance_threshold: Option<f32>,
    /// The candidate protocol of every fold.
    pub candidates: Candidates,
}

/// Field-wise [`mean_std`] of every metric, and summed user counts. Folds must share K,
/// relevance threshold and candidates.
pub fn summarize_ranking(folds: &[RankingMetrics]) -> Result<RankingSummary, SummaryError> {
    let first = folds.first().ok_or(SummaryError::Empty)?;
    let same = |m: &RankingMetrics| {
        m.k == first.k
            && m.relevance_threshold == first.relevance_threshold
            && m.candidates == first.candidates
    };
    if !folds.iter().all(same) {
        return Err(SummaryError::MixedOptions);
    }
    let field = |f: fn(&RankingMetrics) -> f64| mean_std(&folds.iter().map(f).collect::<Vec<_>>());
    Ok(RankingSummary {
        folds: folds.len(),
        k: first.k,
        users: folds.iter().map(|m| m.users).sum(),
        skipped_users: folds.iter().map(|m| m.skipped_users).sum(),
        precision: field(|m| m.precision),
        recall: field(|m| m.recall),
        f1: field(|m| m.f1),
        ndcg: field(|m| m.ndcg),
        map: field(|m| m.map),
        mrr: field(|m| m.mrr),
        hit_rate: field(|m| m.hit_rate),
        auc: field(|m| m.auc),
        coverage: field(|m| m.coverage),
        novelty: field(|m| m.novelty),
        relevance_threshold: first.relevance_threshold,
        candidates: first.candidates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rating(rmse: f64, mae: f64) -> RatingMetrics {
        RatingMetrics { rmse, mae, n: 10, unpredicted: 1 }
    }

    #[test]
    fn mean_std_is_numpy_population_std() {
        // numpy.std([2, 4, 4, 4, 5, 5, 7, 9]) = 2.0 (mean 5, squared deviations sum to 32, 32 / 8 = 4).
        let m = mean_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(m, MeanStd { mean: 5.0, std: 2.0 });
        assert_eq!(mean_std(&[3.5]), MeanStd { mean: 3.5, std: 0.0 });
        let e = mean_std(&[]);
        assert!(e.mean.is_nan() && e.std.is_nan());
    }

    #[test]
    fn ratings_summarise_field_wise() {
        let s = summarize_ratings(&[rating(1.0, 0.5), rating(3.0, 1.5)]).unwrap();
        assert_eq!(s.rmse, MeanStd { mean: 2.0, std: 1.0 });
        assert_eq!(s.mae, MeanStd { mean: 1.0, std: 0.5 });
        assert_eq!((s.folds, s.n, s.unpredicted), (2, 20, 2));
        assert_eq!(summarize_ratings(&[]), Err(SummaryError::Empty));
    }

    fn ranking(ndcg: f64, k: usize) -> RankingMetrics {
        RankingMetrics {
            k,
            users: 5,
            skipped_users: 1,
            precision: 0.1,
            recall: 0.2,
            f1: 0.3,
            ndcg,
            map: 0.4,
            mrr: 0.5,
            hit_rate: 0.6,
            auc: 0.7,
            coverage: 0.8,
            novelty: 9.0,
            relevance_threshold: None,
            candidates: Candidates::FullCatalog,
        }
    }

    #[test]
    fn ranking_summarises_field_wise_and_refuses_mixed_options() {
        let s = summarize_ranking(&[ranking(0.25, 10), ranking(0.75, 10)]).unwrap();
        assert_eq!(s.ndcg, MeanStd { mean: 0.5, std: 0.25 });
        assert_eq!(s.precision, MeanStd { mean: 0.1, std: 0.0 });
        assert_eq!(s.novelty.mean, 9.0);
        assert_eq!((s.folds, s.k, s.users, s.skipped_users), (2, 10, 10, 2));
        assert_eq!(summarize_ranking(&[ranking(0.2, 10), ranking(0.2, 5)]), Err(SummaryError::MixedOptions));
        let mut sampled = ranking(0.2, 10);
        sampled.candidates = Candidates::SampledNegatives { n: 100, seed: 1 };
        assert_eq!(summarize_ranking(&[ranking(0.2, 10), sampled]), Err(SummaryError::MixedOptions));
        assert_eq!(summarize_ranking(&[]), Err(SummaryError::Empty));
    }
}
