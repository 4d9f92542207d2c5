//! A segment as stored: a postcard header, then its rows as varints.

use aisle_core::EventKind;
use aisle_records::EventLimits;
use serde::{Deserialize, Serialize};

use super::NONE;
use super::ids::list;

/// A segment's header (postcard); its rows follow it, encoded by [`Rows`].
#[derive(Serialize, Deserialize)]
pub(super) struct Header {
    pub format: u32,
    pub settings: String,
    pub generation: u64,
    pub after_seq: u64,
    pub last_seq: u64,
    pub users_before: u32,
    pub items_before: u32,
    pub sessions_before: u32,
    /// Ids first named here, each followed by `\n` (a user's may be blank: deleted, nothing of
    /// theirs left).
    pub new_users: String,
    pub new_items: String,
    pub new_sessions: String,
    /// Events in the range the static bounds refuse (not kept).
    pub skipped: u64,
    /// Rows that follow.
    pub rows: u64,
}

impl Header {
    pub(super) fn before(&self) -> (u32, u32, u32) {
        (self.users_before, self.items_before, self.sessions_before)
    }

    /// The maps' lengths after it.
    fn ends(&self) -> (u64, u64, u64) {
        let end =
            |before: u32, list: &str| u64::from(before) + list.bytes().filter(|&b| b == b'\n').count() as u64;
        (
            end(self.users_before, &self.new_users),
            end(self.items_before, &self.new_items),
            end(self.sessions_before, &self.new_sessions),
        )
    }
}

/// One kept event, decoded.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(super) struct Row {
    pub seq: u64,
    pub user: u32,
    pub item: u32,
    pub kind: EventKind,
    pub value: f32,
    pub ts: i64,
    /// 0 or the session's index plus one.
    pub session: u32,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Rows encoded one after the other, each as varints of the sequence step (≥ 1), user, item,
/// the kind's byte, the value's four bytes, the time's step from the row before (zigzag,
/// wrapping) and the session (0: none, else its index plus one).
#[derive(Default)]
pub(super) struct Rows {
    bytes: Vec<u8>,
    pub len: u64,
    /// The last row's sequence number and time (the first row's steps are from `after_seq`, 0).
    seq: u64,
    ts: i64,
}

impl Rows {
    pub(super) fn after(seq: u64) -> Self {
        Rows { seq, ..Rows::default() }
    }

    pub(super) fn push(&mut self, r: &Row) {
        let step = r.ts.wrapping_sub(self.ts);
        put_varint(&mut self.bytes, r.seq - self.seq);
        put_varint(&mut self.bytes, u64::from(r.user));
        put_varint(&mut self.bytes, u64::from(r.item));
        self.bytes.push(EventKind::ALL.iter().position(|&k| k == r.kind).unwrap_or(0) as u8);
        self.bytes.extend_from_slice(&r.value.to_le_bytes());
        put_varint(&mut self.bytes, ((step << 1) ^ (step >> 63)) as u64);
        put_varint(&mut self.bytes, u64::from(r.session));
        (self.seq, self.ts, self.len) = (r.seq, r.ts, self.len + 1);
    }
}

/// Decodes and checks a segment's rows: every step, index, kind, value and time in range.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    seq: u64,
    ts: i64,
    /// Past the last index of users, items and sessions (plus one for sessions).
    ends: (u64, u64, u64),
    /// The users blanked, as indexes into the map (sorted; almost always none).
    blank: Vec<u32>,
    head: &'a Header,
    limits: &'a EventLimits,
}

impl<'a> Reader<'a> {
    /// The rows of `bytes` under `head`, once the maps before it have the lengths it says.
    pub(super) fn new(head: &'a Header, bytes: &'a [u8], limits: &'a EventLimits) -> Self {
        let (users, items, sessions) = head.ends();
        let blank = head
            .new_users
            .split_terminator('\n')
            .enumerate()
            .filter(|(_, id)| id.is_empty())
            .map(|(j, _)| head.users_before.saturating_add(to_u32(j)))
            .collect();
        let ends = (users, items, sessions + 1);
        Reader { bytes, at: 0, seq: head.after_seq, ts: 0, ends, blank, head, limits }
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn index(&mut self, end: u64) -> Option<u32> {
        self.varint().filter(|&v| v < end).and_then(|v| u32::try_from(v).ok())
    }

    fn row(&mut self) -> Option<Row> {
        let seq = self.varint().filter(|&s| s > 0).and_then(|s| self.seq.checked_add(s))?;
        let user = self.index(self.ends.0)?;
        let item = self.index(self.ends.1)?;
        let kind = *EventKind::ALL.get(usize::from(*self.bytes.get(self.at)?))?;
        let value = f32::from_le_bytes(self.bytes.get(self.at + 1..self.at + 5)?.try_into().ok()?);
        self.at += 5;
        let z = self.varint()?;
        let ts = self.ts.wrapping_add((z >> 1) as i64 ^ -((z & 1) as i64));
        let session = self.index(self.ends.2)?;
        let blank = !self.blank.is_empty() && self.blank.binary_search(&user).is_ok();
        // An event without a value is kept with 1 (what training reads), whatever the bounds.
        let absent = value == 1.0 && kind != EventKind::Rating;
        let fits = seq <= self.head.last_seq
            && !blank
            && (absent || self.limits.check_value(kind, Some(value)).is_ok())
            && self.limits.check_time(ts, None).is_ok();
        (self.seq, self.ts) = (seq, ts);
        fits.then_some(Row { seq, user, item, kind, value, ts, session })
    }

    /// Checks every row and the header's ids; `Err` names what is wrong.
    pub(super) fn check(mut self) -> Result<(), String> {
        let h = self.head;
        if self.ends.0.max(self.ends.1).max(self.ends.2) >= u64::from(NONE) || h.last_seq < h.after_seq {
            return Err("a map too large, or a range that ends before it begins".into());
        }
        for (text, blank_ok) in [(&h.new_users, true), (&h.new_items, false), (&h.new_sessions, false)] {
            list(text, blank_ok)?;
        }
        for n in 0..h.rows {
            if self.row().is_none() {
                return Err(format!("row {n} does not decode within bounds"));
            }
        }
        if self.at != self.bytes.len() {
            return Err("bytes past its rows".into());
        }
        Ok(())
    }
}

impl Iterator for Reader<'_> {
    type Item = Row;

    /// The next row; `None` past the last (or at one that fails: [`Reader::check`] first).
    fn next(&mut self) -> Option<Row> {
        (self.at < self.bytes.len()).then(|| self.row()).flatten()
    }
}

/// A segment's header and rows, as stored.
pub(super) fn encode(head: &Header, rows: &Rows) -> Vec<u8> {
    // Encoding into memory fails only where memory does; the segment is then not kept.
    let mut out = postcard::to_allocvec(head).unwrap_or_default();
    if out.is_empty() {
        return out;
    }
    out.extend_from_slice(&rows.bytes);
    out
}

/// A stored segment's header and the bytes of its rows.
pub(super) fn decode(body: &[u8]) -> Result<(Header, &[u8]), String> {
    postcard::take_from_bytes::<Header>(body).map_err(|e| format!("does not decode: {e}"))
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(NONE)
}
