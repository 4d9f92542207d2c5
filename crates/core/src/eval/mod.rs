//! Offline evaluation: splits, rating and ranking metrics, next-item protocols (`next`), and
//! summaries over folds.
//!
//! Pure like the rest of the core: no I/O and no clock (the caller times fits). The protocol is
//! the honest one by default: ranking metrics rank the full catalog minus each user's training
//! items; sampled negatives run only when asked for and are labelled in the result.

#[cfg(test)]
mod fixture;
pub mod metrics;
pub mod next;
pub mod ranking;
pub mod split;
pub mod summary;

pub use metrics::{RatingMetrics, UserMetrics, evaluate_ratings, self_information, user_metrics};
pub use next::{
    NextCase, NextError, NextMetrics, NextProtocol, NextSplit, evaluate_next, leave_last_split, next_split,
};
pub use ranking::{Candidates, EvalError, RankingMetrics, RankingOptions, evaluate_ranking};
pub use split::{Split, SplitError, SplitStrategy, split};
pub use summary::{
    MeanStd, RankingSummary, RatingSummary, SummaryError, mean_std, summarize_ranking, summarize_ratings,
};
