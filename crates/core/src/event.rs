//! Event kinds and how much each says about a shopper's interest.
//!
//! Implicit models see one confidence value per (user, item): the sum of the weights of that
//! user's events on the item. Ratings are explicit: their value is the rating itself.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a shopper did.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Looked at the item's page.
    View,
    /// Clicked the item in a list.
    Click,
    /// Put the item in the cart.
    AddToCart,
    /// Bought the item.
    Purchase,
    /// Gave an explicit rating (the event's value).
    Rating,
    /// Liked the item.
    Like,
    /// Disliked the item.
    Dislike,
    /// Was shown the item (by a recommendation or a list).
    Impression,
}

impl EventKind {
    /// Every kind, in a stable order.
    pub const ALL: [EventKind; 8] = [
        EventKind::View,
        EventKind::Click,
        EventKind::AddToCart,
        EventKind::Purchase,
        EventKind::Rating,
        EventKind::Like,
        EventKind::Dislike,
        EventKind::Impression,
    ];

    /// The wire name (`add_to_cart`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::View => "view",
            EventKind::Click => "click",
            EventKind::AddToCart => "add_to_cart",
            EventKind::Purchase => "purchase",
            EventKind::Rating => "rating",
            EventKind::Like => "like",
            EventKind::Dislike => "dislike",
            EventKind::Impression => "impression",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event type name that is not one of [`EventKind::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown event type {given:?}; allowed: view, click, add_to_cart, purchase, rating, like, dislike, impression"
)]
pub struct UnknownEventKind {
    /// What was given.
    pub given: String,
}

impl FromStr for EventKind {
    type Err = UnknownEventKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownEventKind { given: s.to_owned() })
    }
}

/// Confidence weight of each implicit event kind. Ratings carry their own value.
///
/// Defaults: view 1, click 1, add_to_cart 3, purchase 5, like 4, dislike 0, impression 0. A zero
/// weight means the event is kept (for attribution) but adds no confidence.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventWeights {
    /// Weight of a view.
    pub view: f32,
    /// Weight of a click.
    pub click: f32,
    /// Weight of an add-to-cart.
    pub add_to_cart: f32,
    /// Weight of a purchase.
    pub purchase: f32,
    /// Weight of a like.
    pub like: f32,
    /// Weight of a dislike.
    pub dislike: f32,
    /// Weight of an impression.
    pub impression: f32,
}

impl Default for EventWeights {
    fn default() -> Self {
        Self {
            view: 1.0,
            click: 1.0,
            add_to_cart: 3.0,
            purchase: 5.0,
            like: 4.0,
            dislike: 0.0,
            impression: 0.0,
        }
    }
}

impl EventWeights {
    /// The confidence an event adds: its kind's weight, or `value` for a rating.
    pub fn weight(&self, kind: EventKind, value: f32) -> f32 {
        match kind {
            EventKind::View => self.view,
            EventKind::Click => self.click,
            EventKind::AddToCart => self.add_to_cart,
            EventKind::Purchase => self.purchase,
            EventKind::Rating => value,
            EventKind::Like => self.like,
            EventKind::Dislike => self.dislike,
            EventKind::Impression => self.impression,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>(), Ok(k));
        }
        assert_eq!("PURCHASE".parse::<EventKind>(), Ok(EventKind::Purchase));
        let err = "buy".parse::<EventKind>().unwrap_err();
        assert!(err.to_string().contains("add_to_cart"));
    }

    #[test]
    fn ratings_weigh_their_value_and_events_their_kind() {
        let w = EventWeights::default();
        assert_eq!(w.weight(EventKind::Rating, 4.5), 4.5);
        assert_eq!(w.weight(EventKind::Purchase, 99.0), 5.0);
        assert_eq!(w.weight(EventKind::AddToCart, 0.0), 3.0);
        assert_eq!(w.weight(EventKind::Impression, 0.0), 0.0);
    }
}
