//! Decoded events and their conversion into an interaction matrix.

use aisle_core::{
    DataError, EventKind, EventWeights, Feedback, Interaction, Interactions, ItemIdx, SeqEvent, Sequences,
    UserIdx,
};

use crate::report::ImportReport;

/// One accepted event, with dense ids from the [`crate::Importer`]'s maps.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Event {
    /// Who.
    pub user: UserIdx,
    /// What.
    pub item: ItemIdx,
    /// What happened.
    pub kind: EventKind,
    /// The rating for [`EventKind::Rating`]; otherwise the file's value (e.g. a price), 1 when absent.
    pub value: f32,
    /// Unix time in seconds; 0 when unknown.
    pub ts: i64,
    /// The session the file names (an index into [`crate::Importer::sessions`]); `None` when it
    /// names none.
    pub session: Option<u32>,
}

/// Where an accepted event came from: enough to give it a stable id when its file has none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// Its 1-based line in the file.
    pub line: u64,
    /// The file's event id, when it has one.
    pub event_id: Option<Box<str>>,
    /// A stable hash of the decoded row (user, item, type, value, time): two rows at the same
    /// line of two files are one event only if this matches too.
    pub digest: u64,
}

/// The events of one file and the report of their import.
#[derive(Clone, Debug, PartialEq)]
pub struct EventBatch {
    /// Accepted events, in file order.
    pub events: Vec<Event>,
    /// Parallel to `events` when [`crate::ImportOptions::origins`] was set; empty otherwise.
    pub origins: Vec<Origin>,
    /// What was accepted, rejected and dropped.
    pub report: ImportReport,
}

/// Builds an interaction matrix from events.
///
/// [`Feedback::Explicit`] keeps only rating events, with their value (the latest rating of a pair
/// wins). [`Feedback::Implicit`] gives each event its [`EventWeights::weight`] (a rating weighs its
/// value), drops zero-weight events and sums the rest per pair. Fails when an event's index is not
/// below `n_users` / `n_items` (pass the importer's `users().len()` and `items().len()`).
pub fn to_interactions(
    events: &[Event],
    n_users: usize,
    n_items: usize,
    feedback: Feedback,
    weights: &EventWeights,
) -> Result<Interactions, DataError> {
    let entries: Vec<Interaction> = events
        .iter()
        .filter_map(|e| {
            let value = match feedback {
                Feedback::Explicit => (e.kind == EventKind::Rating).then_some(e.value)?,
                Feedback::Implicit => {
                    let w = weights.weight(e.kind, e.value);
                    (w != 0.0).then_some(w)?
                }
            };
            Some(Interaction { user: e.user, item: e.item, value, ts: e.ts })
        })
        .collect();
    Interactions::new(n_users, n_items, feedback, entries)
}

/// The ordered sequences of the same events [`to_interactions`] counts, for the session and
/// sequential models: with [`Feedback::Explicit`] every rating is a step, with
/// [`Feedback::Implicit`] every event of positive weight (a dislike or an impression is not a
/// step towards anything). Sessions are the file's session ids, else cut by `gap_s` seconds of
/// inactivity (see [`Sequences`]).
pub fn to_sequences(
    events: &[Event],
    n_users: usize,
    n_items: usize,
    feedback: Feedback,
    weights: &EventWeights,
    gap_s: i64,
) -> Result<Sequences, DataError> {
    let steps = events
        .iter()
        .filter(|e| match feedback {
            Feedback::Explicit => e.kind == EventKind::Rating,
            Feedback::Implicit => weights.weight(e.kind, e.value) > 0.0,
        })
        .map(|e| SeqEvent { user: e.user, item: e.item, ts: e.ts, session: e.session.map(u64::from) })
        .collect();
    Sequences::new(n_users, n_items, steps, gap_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(u: u32, i: u32, kind: EventKind, value: f32, ts: i64) -> Event {
        Event { user: UserIdx(u), item: ItemIdx(i), kind, value, ts, session: None }
    }

    #[test]
    fn explicit_keeps_ratings_and_implicit_weighs_kinds() {
        let events = [
            ev(0, 0, EventKind::Rating, 4.0, 1),
            ev(0, 1, EventKind::View, 1.0, 2),
            ev(0, 1, EventKind::Purchase, 30.0, 3),
            ev(1, 0, EventKind::Impression, 1.0, 4),
        ];
        let w = EventWeights::default();
        let ex = to_interactions(&events, 2, 2, Feedback::Explicit, &w).unwrap();
        assert_eq!(ex.nnz(), 1);
        assert_eq!(ex.get(UserIdx(0), ItemIdx(0)), Some(4.0));
        let im = to_interactions(&events, 2, 2, Feedback::Implicit, &w).unwrap();
        assert_eq!(im.nnz(), 2, "the zero-weight impression is dropped");
        assert_eq!(im.get(UserIdx(0), ItemIdx(1)), Some(6.0));
        assert_eq!(im.get(UserIdx(0), ItemIdx(0)), Some(4.0));
        assert!(to_interactions(&events, 2, 1, Feedback::Implicit, &w).is_err());
    }
}
