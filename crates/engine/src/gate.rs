//! The publication gate's decision: whether a trained candidate replaces the serving model, and
//! why, in a sentence for people (the log, `POST /v1/admin/train`, `GET /v1/models`).
//!
//! The comparison itself is made in `train` (on events neither model was trained on); this module
//! only judges it: not worse than what serves (minus `training.tolerance`), unless the serving
//! model itself collapsed on the newest events (`training.drift_floor`: the events look unlike
//! what it learned from, so nothing trained on them is trusted without `force`), and never
//! blocked for ever by a gate that cannot evaluate ([`MAX_UNEVALUATED`]).

use serde::Serialize;

use crate::config::{Gate, TrainingConfig};

/// Fewer events new to the serving version than this, and the gate compares configurations
/// instead of scoring the serving version itself.
pub const MIN_GATE_EVENTS: usize = 50;

/// Fewer users than this in the gate's holdout, and the data-quality floor is not judged.
pub const MIN_DRIFT_USERS: u64 = 30;

/// After this many trainings in a row whose gate could not evaluate, the next such one publishes
/// (saying why), so that a gate that cannot evaluate never keeps the serving model stale for
/// ever.
pub const MAX_UNEVALUATED: u32 = 3;

/// What the publication gate compared a candidate with, with the figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Comparison {
    /// No model served: nothing to compare with.
    NothingServing,
    /// The serving version itself, scored on the newest events it was never trained on (the
    /// candidate was fitted without them too).
    ServingModel {
        /// The serving version.
        version: u64,
        /// Events in the holdout.
        holdout_events: u64,
        /// Users evaluated.
        users: u64,
        /// The candidate's NDCG@10 there.
        candidate_ndcg: f64,
        /// The serving version's NDCG@10 there.
        serving_ndcg: f64,
        /// The serving version's own holdout NDCG@10, recorded when it was trained.
        serving_recorded_ndcg: Option<f64>,
    },
    /// Too few events new to the serving version to score it ([`MIN_GATE_EVENTS`]): its
    /// configuration was fitted on the candidate's split instead.
    ServingConfiguration {
        /// The serving version.
        version: u64,
        /// Events since it was trained.
        new_events: u64,
        /// Whether that configuration is the candidate's own (then there is nothing to compare).
        identical: bool,
        /// The candidate's NDCG@10.
        candidate_ndcg: f64,
        /// The serving configuration's NDCG@10 on the same split.
        serving_ndcg: f64,
    },
    /// A slow candidate of `auto` (a follow-up job) and the setting it followed, both fitted on
    /// every shopper's steps but their newest few and scored on the next-item validation cases.
    Validation {
        /// The version the follow-up came after.
        version: u64,
        /// Next-item validation cases scored.
        cases: u64,
        /// The candidate's NDCG@10.
        candidate_ndcg: f64,
        /// The followed setting's NDCG@10 on the same cases (`None`: it could not be scored on
        /// this snapshot, while the candidate could).
        serving_ndcg: Option<f64>,
    },
    /// Nothing could be evaluated.
    Unevaluable {
        /// Why.
        reason: String,
    },
}

impl Comparison {
    /// The stable name of the comparison (a metric label).
    pub fn kind(&self) -> &'static str {
        match self {
            Comparison::NothingServing => "nothing_serving",
            Comparison::ServingModel { .. } => "serving_model",
            Comparison::ServingConfiguration { .. } => "serving_configuration",
            Comparison::Validation { .. } => "validation",
            Comparison::Unevaluable { .. } => "unevaluable",
        }
    }

    /// The NDCG@10 of what the candidate was compared with.
    pub fn serving_ndcg(&self) -> Option<f64> {
        match self {
            Comparison::ServingModel { serving_ndcg, .. }
            | Comparison::ServingConfiguration { serving_ndcg, .. } => Some(*serving_ndcg),
            Comparison::Validation { serving_ndcg, .. } => *serving_ndcg,
            Comparison::NothingServing | Comparison::Unevaluable { .. } => None,
        }
    }
}

/// Whether the gate lets `comparison` publish, and why. `unevaluated_before` counts the trainings
/// just before this one whose gate could not evaluate.
pub(crate) fn decide(
    t: &TrainingConfig,
    force: bool,
    comparison: &Comparison,
    unevaluated_before: u32,
) -> (bool, String) {
    if force {
        return (true, "forced".to_owned());
    }
    if t.gate == Gate::Always {
        return (true, "gate is `always`".to_owned());
    }
    match comparison {
        Comparison::NothingServing => (true, "no model was serving".to_owned()),
        Comparison::ServingModel { .. } => against_serving_model(t, comparison),
        Comparison::ServingConfiguration { .. } => against_configuration(t, comparison),
        Comparison::Validation { version, cases, candidate_ndcg, serving_ndcg } => match serving_ndcg {
            Some(serving) => {
                let why = format!(
                    "validation NDCG@10 {candidate_ndcg:.4} vs {serving:.4} of v{version}'s setting, both fitted \
                     on the same split and scored on its {cases} next-item cases"
                );
                (candidate_ndcg + t.tolerance >= *serving, why)
            }
            None => {
                let why = format!(
                    "validation NDCG@10 {candidate_ndcg:.4} on {cases} next-item cases; v{version}'s setting could not \
                     be scored on the same split"
                );
                (true, why)
            }
        },
        Comparison::Unevaluable { reason } => {
            let in_a_row = unevaluated_before + 1;
            if in_a_row >= MAX_UNEVALUATED {
                let why = format!(
                    "the gate could not evaluate ({reason}) {in_a_row} trainings in a row: published so that serving \
                     does not go stale"
                );
                (true, why)
            } else {
                let why = format!(
                    "the gate could not evaluate: {reason} ({in_a_row} in a row; the {MAX_UNEVALUATED}th publishes)"
                );
                (false, why)
            }
        }
    }
}

fn against_serving_model(t: &TrainingConfig, c: &Comparison) -> (bool, String) {
    let Comparison::ServingModel {
        version,
        holdout_events,
        users,
        candidate_ndcg,
        serving_ndcg,
        serving_recorded_ndcg,
    } = c
    else {
        return (false, "not a comparison with the serving model".to_owned());
    };
    let measured = format!(
        "holdout NDCG@10 {candidate_ndcg:.4} vs {serving_ndcg:.4} of the serving model v{version}, on the newest \
         {holdout_events} events neither was trained on ({users} users)"
    );
    let floor = t.drift_floor;
    match serving_recorded_ndcg {
        Some(then) if *users >= MIN_DRIFT_USERS && *serving_ndcg < floor * then => {
            let why = format!(
                "{measured}; the serving model scored {then:.4} when it was trained, so the newest events look \
                 unlike what it learned from (below training.drift_floor = {floor} of it: junk, a broken \
                 tracker, or a sudden change): nothing trained on them is published without force"
            );
            (false, why)
        }
        _ => (candidate_ndcg + t.tolerance >= *serving_ndcg, measured),
    }
}

fn against_configuration(t: &TrainingConfig, c: &Comparison) -> (bool, String) {
    let Comparison::ServingConfiguration { version, new_events, identical, candidate_ndcg, serving_ndcg } = c
    else {
        return (false, "not a comparison with the serving configuration".to_owned());
    };
    if *identical {
        let why = format!(
            "holdout NDCG@10 {candidate_ndcg:.4}; only {new_events} events since the serving model v{version} was \
             trained (fewer than {MIN_GATE_EVENTS} to score it on), and its configuration is this one: nothing to \
             compare, published as a retrain on more data"
        );
        return (true, why);
    }
    let why = format!(
        "holdout NDCG@10 {candidate_ndcg:.4} vs {serving_ndcg:.4} of the serving configuration (v{version}) refitted \
         on the same split; only {new_events} events since v{version} was trained, fewer than {MIN_GATE_EVENTS} to \
         score the serving model itself on"
    );
    (candidate_ndcg + t.tolerance >= *serving_ndcg, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serving(candidate: f64, serving: f64, recorded: Option<f64>, users: u64) -> Comparison {
        Comparison::ServingModel {
            version: 3,
            holdout_events: 500,
            users,
            candidate_ndcg: candidate,
            serving_ndcg: serving,
            serving_recorded_ndcg: recorded,
        }
    }

    #[test]
    fn the_candidate_must_not_be_worse_than_the_serving_model() {
        let t = TrainingConfig::default();
        assert!(decide(&t, false, &serving(0.30, 0.29, Some(0.3), 100), 0).0);
        let (ok, why) = decide(&t, false, &serving(0.28, 0.29, Some(0.3), 100), 0);
        assert!(!ok && why.contains("serving model v3"), "{why}");
        let lenient = TrainingConfig { tolerance: 0.02, ..TrainingConfig::default() };
        assert!(decide(&lenient, false, &serving(0.28, 0.29, Some(0.3), 100), 0).0);
        assert!(decide(&t, true, &serving(0.0, 0.29, None, 100), 0).0, "force publishes");
        let always = TrainingConfig { gate: Gate::Always, ..TrainingConfig::default() };
        assert!(decide(&always, false, &serving(0.0, 0.29, None, 100), 0).0);
    }

    #[test]
    fn a_serving_model_that_collapsed_on_the_newest_events_stops_publication() {
        let t = TrainingConfig::default();
        // The candidate is "better" on junk, but the serving model fell from 0.30 to 0.02.
        let (ok, why) = decide(&t, false, &serving(0.03, 0.02, Some(0.30), 500), 0);
        assert!(!ok && why.contains("drift_floor"), "{why}");
        assert!(decide(&t, false, &serving(0.03, 0.02, Some(0.30), 10), 0).0, "too few users to judge");
        assert!(decide(&t, false, &serving(0.03, 0.02, None, 500), 0).0, "nothing recorded to judge by");
        let off = TrainingConfig { drift_floor: 0.0, ..TrainingConfig::default() };
        assert!(decide(&off, false, &serving(0.03, 0.02, Some(0.30), 500), 0).0);
    }

    #[test]
    fn configurations_are_compared_and_an_identical_one_says_so() {
        let t = TrainingConfig::default();
        let same = Comparison::ServingConfiguration {
            version: 2,
            new_events: 7,
            identical: true,
            candidate_ndcg: 0.2,
            serving_ndcg: 0.2,
        };
        let (ok, why) = decide(&t, false, &same, 0);
        assert!(ok && why.contains("only 7 events") && why.contains("nothing to compare"), "{why}");
        let other = Comparison::ServingConfiguration {
            version: 2,
            new_events: 7,
            identical: false,
            candidate_ndcg: 0.2,
            serving_ndcg: 0.25,
        };
        let (ok, why) = decide(&t, false, &other, 0);
        assert!(!ok && why.contains("serving configuration"), "{why}");
    }

    #[test]
    fn a_follow_up_is_judged_on_its_validation_cases() {
        let t = TrainingConfig::default();
        let c = |candidate| Comparison::Validation {
            version: 4,
            cases: 1886,
            candidate_ndcg: candidate,
            serving_ndcg: Some(0.10),
        };
        let (ok, why) = decide(&t, false, &c(0.11), 0);
        assert!(ok && why.contains("v4's setting") && why.contains("1886 next-item cases"), "{why}");
        assert!(!decide(&t, false, &c(0.09), 0).0);
        assert_eq!(c(0.11).kind(), "validation");
        assert_eq!(c(0.11).serving_ndcg(), Some(0.10));
        // A followed setting that could not be scored is said so, not read as 0.
        let unscored =
            Comparison::Validation { version: 4, cases: 1886, candidate_ndcg: 0.09, serving_ndcg: None };
        let (ok, why) = decide(&t, false, &unscored, 0);
        assert!(ok && why.contains("could not be scored") && !why.contains("0.0000"), "{why}");
        assert_eq!(unscored.serving_ndcg(), None);
    }

    #[test]
    fn a_gate_that_cannot_evaluate_publishes_on_the_third_time_in_a_row() {
        let t = TrainingConfig::default();
        let c = Comparison::Unevaluable { reason: "no user could be scored".into() };
        let (ok, why) = decide(&t, false, &c, 0);
        assert!(!ok && why.contains("1 in a row"), "{why}");
        assert!(!decide(&t, false, &c, 1).0);
        let (ok, why) = decide(&t, false, &c, 2);
        assert!(ok && why.contains("3 trainings in a row"), "{why}");
    }
}
