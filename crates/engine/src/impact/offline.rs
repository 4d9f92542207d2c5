//! Off-policy evaluation data from aisle's own impression log: the lists served under
//! exploration (every slot's propensity logged), their rewards (a click or purchase the shopper
//! made on the slot's item with the list's recommendation id), and what a candidate — a stored
//! model version ranking for the same shopper — would have shown.
//!
//! Slots are scored as in the reward-interaction IPS of McInerney et al. (2020, "Counterfactual
//! evaluation of slate recommendations with sequential reward interactions"): a slot's logging
//! propensity is the product of the logged conditional propensities up to it (the probability of
//! the whole prefix), and the candidate's probability is 1 when its own top list starts with the
//! same prefix, else 0. The rows are the generic `round,position,item,reward,propensity` form, so
//! the same estimators (`aisle_impact::ope`) and report serve both inputs.
//!
//! Caveat, stated in the output: the candidate ranks with what it knows now (its training data
//! and the shopper's events since), which may include events after the logged list was served.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use aisle_core::EventKind;
use aisle_impact::ope::{Logged, Target};
use aisle_store::{ImpactStore, Store};

use super::Impact;
use crate::{EngineError, RecommendRequest, Subject};

/// What counts as a slot's reward.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Reward {
    /// A click on the slot's item with the list's recommendation id.
    Click,
    /// A purchase of it.
    Purchase,
}

/// Which logged lists to evaluate on, and the candidate.
#[derive(Clone, Debug, PartialEq)]
pub struct OpeQuery {
    /// From (Unix ms).
    pub from_ms: i64,
    /// To (Unix ms, exclusive).
    pub to_ms: i64,
    /// Only lists of this placement.
    pub placement: Option<String>,
    /// The candidate: a stored model version.
    pub candidate_version: u64,
    /// The reward.
    pub reward: Reward,
    /// At most this many lists (the newest are not preferred: oldest first).
    pub max_lists: usize,
}

/// Rows for the estimators, and what was left out.
#[derive(Debug)]
pub struct OpeData {
    /// One row per slot of a usable list.
    pub logged: Vec<Logged>,
    /// The candidate's probability of each logged slot.
    pub target: Target,
    /// Lists read.
    pub lists: usize,
    /// Lists left out: no propensities (not explored), or no shopper to rank for.
    pub skipped: usize,
    /// Item ids, by the dense index rows use.
    pub items: Vec<String>,
}

/// Pages of impressions read at once.
const PAGE: usize = 5_000;

impl Impact {
    /// Builds OPE rows from the impression log (see the module docs).
    pub async fn ope_data(&self, q: &OpeQuery) -> Result<OpeData, EngineError> {
        let store = self.engine.store();
        let candidate = self.engine.published(q.candidate_version).await?;
        let mut lists = Vec::new();
        let mut skipped = 0;
        let mut after = None;
        while lists.len() < q.max_lists {
            let page = store.impressions_between(q.from_ms, q.to_ms, after.clone(), PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some((last.at_ms, last.recommendation_id.clone()));
            for imp in page {
                let explored = !imp.items.is_empty() && imp.items.iter().all(|s| s.propensity.is_some());
                let placed = q.placement.as_ref().is_none_or(|p| *p == imp.placement);
                if !placed {
                    continue;
                }
                if explored && imp.user_id.is_some() && lists.len() < q.max_lists {
                    lists.push(imp);
                } else {
                    skipped += 1;
                }
            }
        }
        let wanted: HashSet<&str> = lists.iter().map(|i| i.recommendation_id.as_str()).collect();
        let rewarded = self.rewards(&wanted, q.reward).await?;
        let mut items: Vec<String> = Vec::new();
        let mut index: HashMap<String, u32> = HashMap::new();
        let mut intern = |id: &str| -> u32 {
            if let Some(&k) = index.get(id) {
                return k;
            }
            let k = items.len() as u32;
            items.push(id.to_owned());
            index.insert(id.to_owned(), k);
            k
        };
        let mut logged = Vec::new();
        let mut target_rows = Vec::new();
        for (round, imp) in lists.iter().enumerate() {
            let Some(user) = imp.user_id.clone() else { continue };
            let req = RecommendRequest::new(Subject::User(user), imp.items.len());
            let ranked = self.engine.recommend_with(Some(Arc::clone(&candidate)), &req).await?;
            let mut prefix = 1.0;
            let mut same = true;
            for (k, slot) in imp.items.iter().enumerate() {
                prefix *= slot.propensity.unwrap_or(1.0);
                same &= ranked.items.get(k).is_some_and(|r| r.id == slot.item);
                let item = intern(&slot.item);
                let reward =
                    rewarded.get(imp.recommendation_id.as_str()).is_some_and(|r| r.contains(&slot.item));
                logged.push(Logged {
                    round: round as u64,
                    position: k as u32,
                    item,
                    reward: f64::from(u8::from(reward)),
                    propensity: prefix.max(f64::MIN_POSITIVE),
                });
                target_rows.push((round as u64, k as u32, item, if same { 1.0 } else { 0.0 }));
            }
        }
        let target = Target::new(target_rows).map_err(|e| EngineError::Invalid(e.to_string()))?;
        Ok(OpeData { logged, target, lists: lists.len(), skipped, items })
    }

    /// The items with the reward event, by recommendation id, from one pass over the log.
    async fn rewards(
        &self,
        wanted: &HashSet<&str>,
        reward: Reward,
    ) -> Result<HashMap<String, HashSet<String>>, EngineError> {
        let kind = match reward {
            Reward::Click => EventKind::Click,
            Reward::Purchase => EventKind::Purchase,
        };
        let mut out: HashMap<String, HashSet<String>> = HashMap::new();
        let mut after = 0;
        loop {
            let page = self.engine.store().events_after(after, 50_000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for e in page {
                if e.event.kind != kind {
                    continue;
                }
                if let Some(rid) = e.event.recommendation_id
                    && wanted.contains(rid.as_str())
                {
                    out.entry(rid).or_default().insert(e.event.item_id);
                }
            }
        }
        Ok(out)
    }
}
