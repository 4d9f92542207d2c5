//! Attribution: clicks, cart adds and purchases credited to the placement and variant that
//! showed the item — directly by the event's `recommendation_id`, else by last touch (the newest
//! impression that showed the item to the same shopper within `impact.window_days` before the
//! event). It follows the event log from a cursor kept in the store and moves the cursor in the
//! transaction that adds the credits (compare-and-swap), so each event counts once, after a
//! kill and across replicas.

use std::collections::HashMap;

use aisle_core::EventKind;
use aisle_store::{Credit, CreditKind, ImpactStore, Impression, Store, StoredEvent, hour_bucket};

use crate::{Engine, EngineError};

/// Most events one step reads.
pub(crate) const STEP_EVENTS: usize = 5_000;
/// Most of a shopper's impressions one step looks through.
const USER_IMPRESSIONS: usize = 200;

/// What an event is credited as, if anything.
pub(crate) fn credit_kind(kind: EventKind) -> Option<CreditKind> {
    match kind {
        EventKind::Click => Some(CreditKind::Click),
        EventKind::AddToCart => Some(CreditKind::Cart),
        EventKind::Purchase => Some(CreditKind::Purchase),
        EventKind::View
        | EventKind::Rating
        | EventKind::Like
        | EventKind::Dislike
        | EventKind::Impression => None,
    }
}

/// How much later than an event's own time the list its recommendation id names may have been
/// served: the id proves the shopper saw the list, and the shop's clock (which stamped the event)
/// and aisle's (which stamped the list) may differ by this much.
pub(crate) const BY_ID_SKEW_MS: i64 = 300_000;

/// The impression an event is credited to: the one its recommendation id names if that showed
/// the item to this shopper (or to nobody in particular) no later than [`BY_ID_SKEW_MS`] after
/// the event; else the newest of the shopper's impressions that showed the item within
/// `[ts − window, ts]`.
pub(crate) fn touch<'a>(
    event: &aisle_store::EventRecord,
    named: Option<&'a Impression>,
    recent: &'a [Impression],
    window_ms: i64,
) -> Option<&'a Impression> {
    let shows = |i: &Impression| i.items.iter().any(|s| s.item == event.item_id);
    if let Some(i) = named
        && shows(i)
        && i.at_ms <= event.ts_ms.saturating_add(BY_ID_SKEW_MS)
        && i.user_id.as_deref().is_none_or(|u| u == event.user_id)
    {
        return Some(i);
    }
    let since = event.ts_ms.saturating_sub(window_ms);
    recent.iter().filter(|i| i.at_ms >= since && i.at_ms <= event.ts_ms && shows(i)).max_by_key(|i| i.at_ms)
}

/// The revenue of a credited event: a purchase's value, else the item's catalog price; 0 for
/// clicks and cart adds.
pub(crate) fn revenue(engine: &Engine, event: &aisle_store::EventRecord, kind: CreditKind) -> f64 {
    if kind != CreditKind::Purchase {
        return 0.0;
    }
    match event.value.map(f64::from).filter(|v| v.is_finite() && *v > 0.0) {
        Some(v) => v,
        None => engine.catalog().read().get(event.item_id.as_str()).and_then(|i| i.price).unwrap_or(0.0),
    }
}

/// Attributes the events after the store's cursor (one step, at most [`STEP_EVENTS`], none
/// beyond sequence number `upto` when given); returns how many events it read (0 when caught
/// up).
pub(crate) async fn step(engine: &Engine, window_ms: i64, upto: Option<u64>) -> Result<usize, EngineError> {
    let store = engine.store();
    let cursor = store.attribution_cursor().await?;
    let mut events: Vec<StoredEvent> = store.events_after(cursor, STEP_EVENTS).await?;
    if let Some(upto) = upto {
        events.retain(|e| e.seq <= upto);
    }
    let Some(last) = events.last().map(|e| e.seq) else { return Ok(0) };
    let mut recent: HashMap<&str, Vec<Impression>> = HashMap::new();
    let mut named: HashMap<&str, Option<Impression>> = HashMap::new();
    let mut credits = Vec::new();
    for e in &events {
        let Some(kind) = credit_kind(e.event.kind) else { continue };
        let user = e.event.user_id.as_str();
        if !recent.contains_key(user) {
            let since = e.event.ts_ms.saturating_sub(window_ms);
            let list = store.user_impressions(user.to_owned(), since, USER_IMPRESSIONS).await?;
            recent.insert(user, list);
        }
        if let Some(rid) = e.event.recommendation_id.as_deref()
            && !named.contains_key(rid)
        {
            let found = match recent[user].iter().find(|i| i.recommendation_id == rid) {
                Some(i) => Some(i.clone()),
                None => store.impression(rid.to_owned()).await?,
            };
            named.insert(rid, found);
        }
        let by_id = e.event.recommendation_id.as_deref().and_then(|r| named.get(r)).and_then(Option::as_ref);
        let Some(imp) = touch(&e.event, by_id, &recent[user], window_ms) else { continue };
        let team = imp.items.iter().find(|s| s.item == e.event.item_id).and_then(|s| s.team);
        credits.push(Credit {
            bucket_ms: hour_bucket(e.event.ts_ms),
            placement: imp.placement.clone(),
            experiment: imp.experiment.clone(),
            variant: imp.variant.clone(),
            unit: imp.unit.clone(),
            recommendation_id: imp.recommendation_id.clone(),
            kind,
            revenue: revenue(engine, &e.event, kind),
            team,
        });
    }
    let n = credits.len() as u64;
    if store.commit_attribution(cursor, last, credits).await? {
        metrics::counter!("aisle_attributed_events_total").increment(n);
    }
    Ok(events.len())
}

#[cfg(test)]
mod tests {
    use aisle_store::{EventRecord, Shown};

    use super::*;

    const DAY: i64 = 86_400_000;

    fn imp(id: &str, at_ms: i64, user: Option<&str>, items: &[&str]) -> Impression {
        Impression {
            recommendation_id: id.to_owned(),
            at_ms,
            placement: "home".to_owned(),
            experiment: String::new(),
            variant: String::new(),
            unit: String::new(),
            user_id: user.map(str::to_owned),
            model_version: None,
            covariate: 0.0,
            items: items
                .iter()
                .enumerate()
                .map(|(p, i)| Shown {
                    item: (*i).to_owned(),
                    position: p as u32,
                    propensity: None,
                    team: None,
                })
                .collect(),
        }
    }

    fn click(item: &str, ts_ms: i64, rid: Option<&str>) -> EventRecord {
        EventRecord {
            event_id: None,
            user_id: "u".to_owned(),
            item_id: item.to_owned(),
            kind: EventKind::Click,
            value: None,
            ts_ms,
            session_id: None,
            recommendation_id: rid.map(str::to_owned),
        }
    }

    #[test]
    fn by_id_when_the_list_showed_the_item() {
        let named = imp("r1", 100, Some("u"), &["a", "b"]);
        let recent = [imp("r2", 150, Some("u"), &["a"])];
        let got = touch(&click("a", 200, Some("r1")), Some(&named), &recent, 7 * DAY);
        assert_eq!(got.map(|i| i.recommendation_id.as_str()), Some("r1"), "the id wins over a newer touch");
        // The named list did not show the item: last touch decides.
        let third = [imp("r3", 120, Some("u"), &["c"])];
        let got = touch(&click("c", 200, Some("r1")), Some(&named), &third, DAY);
        assert_eq!(got.map(|i| i.recommendation_id.as_str()), Some("r3"));
        // Another shopper's list is not theirs to credit.
        let other = imp("r9", 100, Some("v"), &["a"]);
        assert!(touch(&click("a", 200, Some("r9")), Some(&other), &[], DAY).is_none());
        // A list served after the event cannot have caused it — beyond the clocks' skew.
        let later = imp("r8", 200 + BY_ID_SKEW_MS + 1, Some("u"), &["a"]);
        assert!(touch(&click("a", 200, Some("r8")), Some(&later), &[], DAY).is_none());
        let skewed = imp("r7", 200 + BY_ID_SKEW_MS, Some("u"), &["a"]);
        let got = touch(&click("a", 200, Some("r7")), Some(&skewed), &[], DAY);
        assert_eq!(got.map(|i| i.recommendation_id.as_str()), Some("r7"), "within the skew: the id wins");
    }

    #[test]
    fn last_touch_within_the_window_edges_included() {
        let recent = [
            imp("old", 1_000, Some("u"), &["a"]),
            imp("edge", 1_000 + DAY, Some("u"), &["a"]),
            imp("other", 1_500 + DAY, Some("u"), &["b"]),
        ];
        let at = |ts| touch(&click("a", ts, None), None, &recent, DAY).map(|i| i.recommendation_id.clone());
        assert_eq!(at(1_000 + DAY).as_deref(), Some("edge"), "the newest touch");
        assert_eq!(at(1_000 + 2 * DAY).as_deref(), Some("edge"), "exactly window after: still in");
        assert_eq!(at(1_001 + 2 * DAY), None, "one ms past the window: out");
        assert_eq!(at(999), None, "before any impression");
        let never = touch(&click("zzz", 2_000, None), None, &recent, DAY);
        assert!(never.is_none(), "an item never shown is credited to nothing");
    }

    #[test]
    fn only_clicks_carts_and_purchases_are_credited() {
        assert_eq!(credit_kind(EventKind::Click), Some(CreditKind::Click));
        assert_eq!(credit_kind(EventKind::AddToCart), Some(CreditKind::Cart));
        assert_eq!(credit_kind(EventKind::Purchase), Some(CreditKind::Purchase));
        assert_eq!(credit_kind(EventKind::View), None);
    }
}
