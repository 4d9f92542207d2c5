//! Ordered event sequences: what each shopper touched, in order, cut into sessions.
//!
//! [`Interactions`] keep one value per (user, item) and so forget order and repeats; the session
//! and sequential models need both. A [`Sequences`] keeps every user's events sorted by time
//! (equal times keep their input order), with consecutive repeats of one item inside a session
//! collapsed to one step (a page reload is not a new step), cut into sessions: by the session id
//! the events carry, else by an inactivity gap (Ludewig & Jannach's 30 minutes by default).
//!
//! Layout: users → sessions → steps, each level a compressed offset array, so a user's whole
//! sequence and each of its sessions are plain slices.

use crate::data::{DataError, Interactions};
use crate::ids::{ItemIdx, UserIdx};

/// The inactivity that ends a session without an id: 30 minutes, as in Ludewig & Jannach (2018).
pub const DEFAULT_SESSION_GAP_S: i64 = 30 * 60;

/// One step of a shopper's sequence, before ordering.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SeqEvent {
    /// Who.
    pub user: UserIdx,
    /// What.
    pub item: ItemIdx,
    /// Unix seconds.
    pub ts: i64,
    /// The session the event names (an interned id; any key that is equal exactly for the same
    /// session), or `None` to cut sessions by the inactivity gap.
    pub session: Option<u64>,
}

/// Every user's events in order, cut into sessions (see the module docs).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sequences {
    n_users: usize,
    n_items: usize,
    /// User `u`'s sessions are `user_ptr[u]..user_ptr[u + 1]`.
    user_ptr: Vec<usize>,
    /// Session `s`'s steps are `session_ptr[s]..session_ptr[s + 1]`.
    session_ptr: Vec<usize>,
    items: Vec<u32>,
    ts: Vec<i64>,
}

impl Sequences {
    /// Orders `events` by (user, time, input order), cuts sessions (a change of session id, or,
    /// between events without one, a pause longer than `gap_s` seconds) and collapses consecutive
    /// repeats of an item within a session.
    pub fn new(
        n_users: usize,
        n_items: usize,
        mut events: Vec<SeqEvent>,
        gap_s: i64,
    ) -> Result<Self, DataError> {
        for e in &events {
            if e.user.index() >= n_users {
                return Err(DataError::UserOutOfRange { index: e.user.0, n: n_users });
            }
            if e.item.index() >= n_items {
                return Err(DataError::ItemOutOfRange { index: e.item.0, n: n_items });
            }
        }
        events.sort_by_key(|e| (e.user, e.ts));
        let mut out = Self {
            n_users,
            n_items,
            user_ptr: vec![0; n_users + 1],
            session_ptr: vec![0],
            ..Self::default()
        };
        let mut prev: Option<SeqEvent> = None;
        for e in events {
            let same_user = prev.is_some_and(|p| p.user == e.user);
            let new_session = match prev {
                Some(p) if same_user => match (p.session, e.session) {
                    (Some(a), Some(b)) => a != b,
                    (None, None) => e.ts.saturating_sub(p.ts) > gap_s,
                    _ => true,
                },
                _ => true,
            };
            if !new_session && out.items.last() == Some(&e.item.0) {
                // A repeat of the step just taken: the later time stands.
                *out.ts.last_mut().expect("a step exists") = e.ts;
                prev = Some(e);
                continue;
            }
            if new_session && !out.items.is_empty() {
                out.session_ptr.push(out.items.len());
            }
            out.items.push(e.item.0);
            out.ts.push(e.ts);
            // user_ptr[u + 1] holds the number of sessions up to and including user u so far.
            out.user_ptr[e.user.index() + 1] = out.session_ptr.len();
            prev = Some(e);
        }
        if !out.items.is_empty() {
            out.session_ptr.push(out.items.len());
        }
        for u in 0..n_users {
            out.user_ptr[u + 1] = out.user_ptr[u + 1].max(out.user_ptr[u]);
        }
        Ok(out)
    }

    /// The sequences an [`Interactions`] implies when no events are at hand: each user's items
    /// ordered by their latest timestamp (equal times by item index), one step per item, cut by
    /// `gap_s`. Order is only as good as the timestamps (a matrix without them gives each user
    /// one session in item order).
    pub fn from_interactions(data: &Interactions, gap_s: i64) -> Self {
        let mut events = Vec::with_capacity(data.nnz());
        for u in 0..data.n_users() {
            let user = UserIdx(u as u32);
            let row = data.user(user);
            let mut steps: Vec<(i64, u32)> = (0..row.len()).map(|k| (row.ts_at(k), row.indices[k])).collect();
            steps.sort_unstable();
            events.extend(steps.into_iter().map(|(ts, item)| SeqEvent {
                user,
                item: ItemIdx(item),
                ts,
                session: None,
            }));
        }
        Self::new(data.n_users(), data.n_items(), events, gap_s).expect("indexes come from a valid matrix")
    }

    /// Users (some may have no steps).
    pub fn n_users(&self) -> usize {
        self.n_users
    }

    /// Items the indexes range over.
    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// Steps over every user.
    pub fn n_steps(&self) -> usize {
        self.items.len()
    }

    /// Sessions over every user.
    pub fn n_sessions(&self) -> usize {
        self.session_ptr.len() - 1
    }

    /// User `u`'s whole sequence, oldest first (empty for an unknown user).
    pub fn user(&self, u: UserIdx) -> &[u32] {
        match self.user_range(u) {
            Some((a, b)) => &self.items[self.session_ptr[a]..self.session_ptr[b]],
            None => &[],
        }
    }

    /// The times of [`Sequences::user`]'s steps.
    pub fn user_ts(&self, u: UserIdx) -> &[i64] {
        match self.user_range(u) {
            Some((a, b)) => &self.ts[self.session_ptr[a]..self.session_ptr[b]],
            None => &[],
        }
    }

    /// The indexes (into [`Sequences::session`]) of user `u`'s sessions, oldest first.
    pub fn user_sessions(&self, u: UserIdx) -> std::ops::Range<usize> {
        self.user_range(u).map_or(0..0, |(a, b)| a..b)
    }

    /// Session `s`'s steps, oldest first (empty when out of range).
    pub fn session(&self, s: usize) -> &[u32] {
        if s + 1 >= self.session_ptr.len() {
            return &[];
        }
        &self.items[self.session_ptr[s]..self.session_ptr[s + 1]]
    }

    /// The times of [`Sequences::session`]'s steps.
    pub fn session_ts(&self, s: usize) -> &[i64] {
        if s + 1 >= self.session_ptr.len() {
            return &[];
        }
        &self.ts[self.session_ptr[s]..self.session_ptr[s + 1]]
    }

    /// Every session in order (grouped by user), as slices of steps.
    pub fn sessions(&self) -> impl ExactSizeIterator<Item = &[u32]> + '_ {
        self.session_ptr.windows(2).map(|w| &self.items[w[0]..w[1]])
    }

    /// Whether `data` has this shape (the check a sequential model makes before fitting).
    pub fn matches(&self, data: &Interactions) -> bool {
        self.n_users == data.n_users() && self.n_items == data.n_items()
    }

    fn user_range(&self, u: UserIdx) -> Option<(usize, usize)> {
        let i = u.index();
        (i < self.n_users).then(|| (self.user_ptr[i], self.user_ptr[i + 1]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(user: u32, item: u32, ts: i64, session: Option<u64>) -> SeqEvent {
        SeqEvent { user: UserIdx(user), item: ItemIdx(item), ts, session }
    }

    #[test]
    fn orders_cuts_and_collapses() {
        let events = vec![
            ev(1, 5, 100, None),
            ev(0, 2, 50, None),
            ev(0, 1, 10, None),
            ev(0, 1, 20, None), // repeat inside the session: collapsed
            ev(0, 3, 50 + DEFAULT_SESSION_GAP_S + 1, None), // after the gap: a new session
            ev(0, 3, 50 + DEFAULT_SESSION_GAP_S + 2, None), // repeat, collapsed
            ev(1, 4, 100, None), // same time as item 5: input order keeps 5 first
        ];
        let s = Sequences::new(3, 6, events, DEFAULT_SESSION_GAP_S).unwrap();
        assert_eq!(s.user(UserIdx(0)), &[1, 2, 3]);
        assert_eq!(s.user_ts(UserIdx(0)), &[20, 50, 50 + DEFAULT_SESSION_GAP_S + 2]);
        assert_eq!(s.user(UserIdx(1)), &[5, 4]);
        assert_eq!(s.user(UserIdx(2)), &[] as &[u32]);
        assert_eq!(s.user(UserIdx(9)), &[] as &[u32]);
        let sessions: Vec<&[u32]> = s.user_sessions(UserIdx(0)).map(|k| s.session(k)).collect();
        assert_eq!(sessions, vec![&[1, 2][..], &[3][..]]);
        assert_eq!(s.n_sessions(), 3);
        assert_eq!(s.n_steps(), 5);
        assert_eq!(s.user_sessions(UserIdx(2)), 3..3);
    }

    #[test]
    fn session_ids_win_over_the_gap() {
        let events = vec![ev(0, 1, 0, Some(7)), ev(0, 2, 100_000, Some(7)), ev(0, 2, 100_001, Some(8))];
        let s = Sequences::new(1, 3, events, 60).unwrap();
        let sessions: Vec<&[u32]> = s.sessions().collect();
        // One id across a long pause stays one session; a new id starts another even for the
        // same item.
        assert_eq!(sessions, vec![&[1, 2][..], &[2][..]]);
    }

    #[test]
    fn refuses_out_of_range_indexes() {
        assert!(Sequences::new(1, 1, vec![ev(0, 1, 0, None)], 60).is_err());
        assert!(Sequences::new(1, 1, vec![ev(1, 0, 0, None)], 60).is_err());
    }
}
