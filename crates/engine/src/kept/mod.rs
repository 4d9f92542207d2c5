//! The training snapshot kept in the store: a training reads the segments the previous one left
//! and only the event log after them, instead of the whole log.
//!
//! A segment is one state row (`training/0`, `training/1`, ...) holding the log's events from
//! `after_seq` (exclusive) to `last_seq` (`codec.rs`): a header with the ids the segment names
//! first (the kept maps grow segment by segment, `ids.rs`), then one row per event of varints:
//! the sequence step, the user, item and session indexes, the kind, the value and the time step.
//! Only events the static bounds accept are kept (the others are counted); the clock bound (no far
//! future) is applied at each read, as a read of the log applies it. A segment holds at most
//! [`SEGMENT_EVENTS`] events: the last one is filled up by the next trainings (written again
//! whole), then a new one begins.
//!
//! A read decodes the segments in order and checks each against the one before (the same
//! generation, format and bounds; its `after_seq` is the previous `last_seq`; its maps start where
//! the previous ended; every index, kind, value, step and id in range). The first that fails ends
//! the kept part: the log is read after the last good one, and the segments are written again from
//! there (the ones past them are emptied). Stored data is outside data: nothing in a segment can
//! panic a training. The snapshot built equals a read of the whole log, event for event and index
//! for index: ids get their dense indexes in the order the surviving events first name them.
//!
//! Deleted users: a deletion removes their events from the log, not from the segments. A read
//! drops every kept event of a user whose tombstone is at or after it (`seq <= at_seq`, the rule
//! by which versions hide them), and writes the segments that held such events again without
//! them, with the user's id blanked where nothing of theirs is left. The tombstones a read applied
//! are remembered, and pruning keeps every tombstone no read has applied (see `jobs.rs`). One
//! process trains at a time on a store (the leader); two training at once keep a consistent
//! prefix, since every write is checked by the next read, but may keep a user deleted between
//! them until the next training that sees the tombstone.

use std::collections::HashMap;
use std::hash::BuildHasher;

use aisle_core::{IdMap, ItemIdx, SideInfo, UserIdx};
use aisle_ingest::Event;
use aisle_records::{EventLimits, EventRecord};
use aisle_store::StoredEvent;
use codec::{Header, Reader, Row, Rows, decode, encode};
use ids::{Ids, Sessions};

use crate::train::Snapshot;

mod codec;
mod ids;
mod read;
#[cfg(test)]
mod tests;

/// The name of segment `k`.
pub(crate) fn segment_name(k: usize) -> String {
    format!("training/{k}")
}

/// The encoding's version; a segment of another version ends the kept part.
const FORMAT: u32 = 1;

/// Events per segment: about 40 MB encoded, a bounded row for either store.
pub(crate) const SEGMENT_EVENTS: usize = 1 << 21;

/// An index not assigned yet.
const NONE: u32 = u32::MAX;

/// What the kept events depend on besides the log: the static bounds (the clock bound is applied
/// at each read).
fn settings(limits: &EventLimits) -> String {
    let limits = EventLimits { max_future_skew_ms: 0, ..*limits };
    serde_json::to_string(&limits).unwrap_or_default()
}

/// A list of ids as a segment stores it, with those `blank` says blanked (by position).
fn blanked<'a>(ids: impl Iterator<Item = &'a str>, blank: impl Fn(usize) -> bool) -> String {
    let mut out = String::new();
    for (j, id) in ids.enumerate() {
        if !blank(j) {
            out.push_str(id);
        }
        out.push('\n');
    }
    out
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(NONE)
}

/// A segment read in (or filled), as the read left it.
struct Meta {
    after_seq: u64,
    last_seq: u64,
    /// The kept maps' lengths before it.
    before: (u32, u32, u32),
    /// The kept users' length after it.
    users_end: u32,
    events: usize,
    /// Kept events of deleted users left out.
    dropped: u64,
    /// Events in its range the static bounds refuse.
    skipped: u64,
    /// Written by this read (as it is to be: nothing to write again).
    sealed: bool,
}

/// The segment the log's events after the kept part go into.
struct Open {
    index: usize,
    after_seq: u64,
    last_seq: u64,
    before: (u32, u32, u32),
    skipped: u64,
    rows: Rows,
    /// Whether it differs from what is stored under its name.
    changed: bool,
    /// Whether it is stored already (the last segment read, filled up).
    stored: bool,
}

/// A segment to write: its index and encoding.
pub(crate) type Write = (usize, Vec<u8>);

/// A read's training snapshot (without the side information, which is not in the log), and how
/// much of it came from the kept segments.
pub(crate) struct Built {
    pub snapshot: Snapshot,
    pub kept_segments: usize,
    pub kept_events: u64,
}

/// What a read leaves to write besides the segments it filled: the open segment, and the kept
/// segments to write again without deleted users' events and ids.
pub(crate) struct Ending {
    pub open: Option<Write>,
    pub rewrite: Rewrite,
    /// How many segments the kept snapshot has once written.
    pub segments: usize,
}

/// Writes kept segments again without the events of deleted users, and with the ids of those
/// of them with nothing left blanked.
pub(crate) struct Rewrite {
    limits: EventLimits,
    user_tomb: Vec<u64>,
    blank: Vec<bool>,
    pub segments: Vec<Place>,
}

/// A kept segment to write again: its index, and what it must be (its range and where its maps
/// start), else another training wrote it since.
#[derive(Copy, Clone)]
pub(crate) struct Place {
    pub index: usize,
    after_seq: u64,
    last_seq: u64,
    before: (u32, u32, u32),
}

impl Rewrite {
    /// The segment `body` (stored under the index of `segments[i]`) written again; `None` when it
    /// is no longer the segment read (another training wrote it since) or does not decode.
    pub(crate) fn apply(&self, i: usize, body: &[u8]) -> Option<Vec<u8>> {
        let Place { after_seq, last_seq, before, .. } = *self.segments.get(i)?;
        let (mut head, bytes) = decode(body).ok()?;
        if (head.after_seq, head.last_seq, head.before()) != (after_seq, last_seq, before) {
            return None;
        }
        Reader::new(&head, bytes, &self.limits).check().ok()?;
        let mut rows = Rows::after(head.after_seq);
        for r in Reader::new(&head, bytes, &self.limits) {
            if self.user_tomb.get(r.user as usize).is_none_or(|&at| r.seq > at) {
                rows.push(&r);
            }
        }
        let blank = |j: usize| self.blank.get(before.0 as usize + j).copied().unwrap_or(false);
        head.new_users = blanked(head.new_users.split_terminator('\n'), blank);
        head.rows = rows.len;
        Some(encode(&head, &rows)).filter(|b| !b.is_empty())
    }
}

/// A training snapshot being built: from the kept segments ([`Build::load`]), then from the log
/// after them ([`Build::add_page`]). Pure: the caller does the store's reads and writes.
pub(crate) struct Build {
    limits: EventLimits,
    latest_ms: i64,
    settings: String,
    generation: Option<u64>,
    segment_events: usize,
    tombs: HashMap<String, u64>,
    users: Ids,
    items: Ids,
    sessions: Sessions,
    /// Per kept user: their tombstone's `at_seq` (0: none), whether a kept event of theirs is left.
    user_tomb: Vec<u64>,
    user_alive: Vec<bool>,
    metas: Vec<Meta>,
    /// The last segment read, as stored, to go on filling it.
    last: Vec<u8>,
    open: Option<Open>,
    out: Snapshot,
    /// Segments read in, and the events in them.
    kept: (usize, u64),
}

impl Build {
    /// An empty build: `catalog` ids first (sorted, as a training lists items), the bounds and
    /// clock the read applies, the tombstones (user → `at_seq`) and the events per segment.
    pub(crate) fn new(
        catalog: impl Iterator<Item = impl AsRef<str>>,
        limits: EventLimits,
        now_ms: i64,
        tombs: HashMap<String, u64>,
        segment_events: usize,
    ) -> Self {
        let items = Ids::with(catalog);
        Build {
            latest_ms: limits.latest_ms(now_ms),
            settings: settings(&limits),
            limits,
            generation: None,
            segment_events: segment_events.max(1),
            tombs,
            users: Ids::default(),
            items,
            sessions: Sessions::default(),
            user_tomb: Vec::new(),
            user_alive: Vec::new(),
            metas: Vec::new(),
            last: Vec::new(),
            open: None,
            out: Snapshot {
                users: IdMap::new(),
                items: IdMap::new(),
                events: Vec::new(),
                seqs: Vec::new(),
                baskets: Vec::new(),
                last_seq: 0,
                side: SideInfo::default(),
                skipped: 0,
                read_seconds: 0.0,
            },
            kept: (0, 0),
        }
    }

    fn kept_lens(&self) -> (u32, u32, u32) {
        (self.users.kept_len(), self.items.kept_len(), self.sessions.kept_len())
    }

    /// Reads the next segment in; `Err` (why) when it does not follow the ones before, and then
    /// nothing of it was taken.
    pub(crate) fn load(&mut self, body: Vec<u8>) -> Result<(), String> {
        let (head, bytes) = decode(&body)?;
        if head.format != FORMAT {
            return Err(format!("format {} (this build reads {FORMAT})", head.format));
        }
        if head.settings != self.settings {
            return Err("written under other event bounds".into());
        }
        if self.generation.is_some_and(|g| g != head.generation) {
            return Err("of another generation".into());
        }
        let after = self.kept_seq();
        if head.after_seq != after {
            return Err(format!("begins after {} where the previous ends at {after}", head.after_seq));
        }
        if head.before() != self.kept_lens() {
            return Err("its maps do not start where the previous segment's end".into());
        }
        Reader::new(&head, bytes, &self.limits).check()?;
        self.generation = Some(head.generation);
        self.users.extend(&head.new_users);
        self.items.extend(&head.new_items);
        self.sessions.extend(&head.new_sessions);
        for id in head.new_users.split_terminator('\n') {
            let tomb = match id.is_empty() || self.tombs.is_empty() {
                true => 0,
                false => self.tombs.get(id).copied().unwrap_or(0),
            };
            self.user_tomb.push(tomb);
            self.user_alive.push(false);
        }
        let events = head.rows as usize;
        for v in [&mut self.out.seqs, &mut self.out.baskets] {
            v.reserve(events);
        }
        self.out.events.reserve(events);
        let (mut dropped, limits) = (0, self.limits);
        for r in Reader::new(&head, bytes, &limits) {
            if r.seq <= self.user_tomb[r.user as usize] {
                dropped += 1;
                continue;
            }
            self.user_alive[r.user as usize] = true;
            self.take(&r);
        }
        self.out.skipped += head.skipped;
        self.out.last_seq = self.out.last_seq.max(head.last_seq);
        self.kept = (self.kept.0 + 1, self.kept.1 + head.rows);
        self.metas.push(Meta {
            after_seq: head.after_seq,
            last_seq: head.last_seq,
            before: head.before(),
            users_end: self.users.kept_len(),
            events,
            dropped,
            skipped: head.skipped,
            sealed: false,
        });
        self.last = body;
        Ok(())
    }

    /// Puts a kept row into the snapshot, unless the clock bound refuses it (counted).
    fn take(&mut self, r: &Row) {
        if r.ts > self.latest_ms {
            self.out.skipped += 1;
            return;
        }
        let user = self.users.final_of(r.user);
        let item = self.items.final_of(r.item);
        let session = r.session.checked_sub(1).map(|s| self.sessions.final_of(s));
        self.push((user, item, session), r);
    }

    /// Puts `r` into the snapshot as (`user`, `item`, `session`), the snapshot's indexes.
    fn push(&mut self, (user, item, session): (u32, u32, Option<u32>), r: &Row) {
        let Row { kind, value, ts, seq, .. } = *r;
        self.out.seqs.push(seq);
        self.out.baskets.push(match session {
            Some(s) => u64::from(s) | 1 << 63,
            None => u64::from(user) << 24 | (ts.div_euclid(86_400_000) as u64 & 0xFF_FFFF),
        });
        self.out.events.push(Event { user: UserIdx(user), item: ItemIdx(item), kind, value, ts, session });
    }

    /// Makes room for about `events` in the snapshot (a hint: room that cannot be had is not
    /// taken, and a low one costs growth).
    pub(crate) fn reserve(&mut self, events: u64) {
        let n = usize::try_from(events).unwrap_or(usize::MAX);
        // Address space only: the pages are touched as events come.
        let _ = self.out.events.try_reserve_exact(n);
        let _ = self.out.seqs.try_reserve_exact(n);
        let _ = self.out.baskets.try_reserve_exact(n);
    }

    /// How many segments were read in.
    pub(crate) fn segments(&self) -> usize {
        self.metas.len()
    }

    /// The sequence number the log is read after.
    pub(crate) fn kept_seq(&self) -> u64 {
        self.metas.last().map_or(0, |m| m.last_seq)
    }

    /// A new segment at `index`, after `after_seq`.
    fn fresh(&self, index: usize, after_seq: u64) -> Open {
        Open {
            index,
            after_seq,
            last_seq: after_seq,
            before: self.kept_lens(),
            skipped: 0,
            rows: Rows::after(after_seq),
            changed: false,
            stored: false,
        }
    }

    /// The last segment read while it has room, else a new one.
    fn reopen(&mut self) -> Open {
        let room = self.segment_events;
        match self.metas.pop_if(|m| m.events < room) {
            Some(m) => {
                // Its rows again, without its deleted users' (it was read whole just before).
                let body = std::mem::take(&mut self.last);
                let Ok((head, bytes)) = decode(&body) else {
                    self.metas.push(m); // (it decoded a moment ago: never)
                    return self.fresh(self.metas.len(), self.kept_seq());
                };
                let mut rows = Rows::after(m.after_seq);
                for r in Reader::new(&head, bytes, &self.limits) {
                    if r.seq > self.user_tomb[r.user as usize] {
                        rows.push(&r);
                    }
                }
                Open {
                    index: self.metas.len(),
                    after_seq: m.after_seq,
                    last_seq: m.last_seq,
                    before: m.before,
                    skipped: m.skipped,
                    rows,
                    changed: m.dropped > 0,
                    stored: true,
                }
            }
            None => self.fresh(self.metas.len(), self.kept_seq()),
        }
    }

    /// The open segment, a full one closed (its encoding into `full`) and the next begun.
    fn roll(&mut self, full: &mut Vec<Write>) -> Open {
        match self.open.take() {
            None => {
                if self.generation.is_none() {
                    self.generation = Some(std::collections::hash_map::RandomState::new().hash_one(0u8));
                }
                self.reopen()
            }
            Some(o) if o.rows.len as usize >= self.segment_events => {
                full.push((o.index, self.seal(&o)));
                self.close(&o);
                self.fresh(o.index + 1, o.last_seq)
            }
            Some(o) => o,
        }
    }

    fn close(&mut self, o: &Open) {
        self.metas.push(Meta {
            after_seq: o.after_seq,
            last_seq: o.last_seq,
            before: o.before,
            users_end: self.users.kept_len(),
            events: o.rows.len as usize,
            dropped: 0,
            skipped: o.skipped,
            sealed: true,
        });
    }

    fn blank(&self, k: usize) -> bool {
        self.user_tomb.get(k).is_some_and(|&t| t > 0)
            && !self.user_alive[k]
            && !self.users.names.get(to_u32(k)).is_empty()
    }

    /// The open segment's encoding, its ids of deleted users with nothing left blanked.
    fn seal(&self, o: &Open) -> Vec<u8> {
        let (u, i, s) = o.before;
        let users = self.users.names.from(u);
        let new_users = match (u as usize..self.user_tomb.len()).any(|k| self.blank(k)) {
            true => blanked(users.split_terminator('\n'), |j| self.blank(u as usize + j)),
            false => users.to_owned(),
        };
        let head = Header {
            format: FORMAT,
            settings: self.settings.clone(),
            generation: self.generation.unwrap_or(0),
            after_seq: o.after_seq,
            last_seq: o.last_seq,
            users_before: u,
            items_before: i,
            sessions_before: s,
            new_users,
            new_items: self.items.names.from(i).to_owned(),
            new_sessions: self.sessions.names.from(s).to_owned(),
            skipped: o.skipped,
            rows: o.rows.len,
        };
        encode(&head, &o.rows)
    }

    /// A kept user's flags, for one the log's events introduced (no tombstone applies).
    fn met(&mut self, k: u32) {
        while self.user_tomb.len() <= k as usize {
            self.user_tomb.push(0);
            self.user_alive.push(true);
        }
    }

    /// Adds a page of the log after the kept part, in sequence order; answers the segments it
    /// filled, to write now.
    pub(crate) fn add_page(&mut self, page: Vec<StoredEvent>) -> Vec<Write> {
        let mut full = Vec::new();
        for s in page {
            let mut o = self.roll(&mut full);
            self.add(&mut o, s.seq, s.event);
            self.open = Some(o);
        }
        full
    }

    fn add(&mut self, o: &mut Open, seq: u64, e: EventRecord) {
        o.last_seq = seq;
        self.out.last_seq = self.out.last_seq.max(seq);
        // What the API refuses today (a value out of its kind's range, a bad id) may have been
        // stored before: never trained on.
        if let Err(why) = self.limits.check(&e, None) {
            (o.skipped, self.out.skipped) = (o.skipped + 1, self.out.skipped + 1);
            tracing::debug!(seq, %why, "training skips a stored event");
            return;
        }
        if !self.tombs.is_empty() && self.tombs.get(&e.user_id).is_some_and(|&at| seq <= at) {
            return; // read before its user's deletion took it out of the log
        }
        o.changed = true;
        let value = e.value.unwrap_or(1.0);
        let mut row = Row { seq, user: 0, item: 0, kind: e.kind, value, ts: e.ts_ms, session: 0 };
        if e.ts_ms > self.latest_ms {
            // Kept, since a later read's clock may accept it, but not trained on now.
            self.out.skipped += 1;
            row.user = self.users.kept_only(&e.user_id);
            row.item = self.items.kept_only(&e.item_id);
            row.session = e.session_id.as_deref().map_or(0, |s| self.sessions.kept_of(s) + 1);
            self.met(row.user);
            o.rows.push(&row);
            return;
        }
        let (user, ku) = self.users.both(&e.user_id);
        let (item, ki) = self.items.both(&e.item_id);
        let session = e.session_id.as_deref().map(|s| {
            let k = self.sessions.kept_of(s);
            (self.sessions.final_of(k), k)
        });
        (row.user, row.item, row.session) = (ku, ki, session.map_or(0, |(_, k)| k + 1));
        self.met(ku);
        o.rows.push(&row);
        self.push((user, item, session.map(|(f, _)| f)), &row);
    }

    /// Ends the read.
    pub(crate) fn finish(mut self) -> (Built, Ending) {
        // The open segment, even full (no event follows it); else the last one read (its
        // deleted users' events dropped, maybe).
        let mut o = match self.open.take() {
            Some(o) => o,
            None => self.roll(&mut Vec::new()),
        };
        let from = o.before.0 as usize;
        if (from..self.user_tomb.len()).any(|k| self.blank(k)) {
            o.changed = true;
        }
        let open = (o.changed && o.last_seq > o.after_seq).then(|| (o.index, self.seal(&o)));
        let segments = self.metas.len() + usize::from(o.stored || open.is_some());
        let blank: Vec<bool> = (0..self.user_tomb.len()).map(|k| self.blank(k)).collect();
        let segments_to_rewrite = self
            .metas
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                !m.sealed
                    && (m.dropped > 0 || blank[m.before.0 as usize..m.users_end as usize].contains(&true))
            })
            .map(|(index, m)| Place { index, after_seq: m.after_seq, last_seq: m.last_seq, before: m.before })
            .collect();
        let mut snapshot = self.out;
        snapshot.users = self.users.snapshot;
        snapshot.items = self.items.snapshot;
        let (kept_segments, kept_events) = self.kept;
        let out = Built { snapshot, kept_segments, kept_events };
        let rewrite =
            Rewrite { limits: self.limits, user_tomb: self.user_tomb, blank, segments: segments_to_rewrite };
        (out, Ending { open, rewrite, segments })
    }
}
