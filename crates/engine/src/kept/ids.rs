//! The kept maps of users, items and sessions, and how they map onto the snapshot's indexes.
//!
//! A kept map is a list of ids in one buffer, each followed by `\n` (ids hold no control
//! characters), as a segment stores the ids it names first: a segment's list is appended as it
//! is, and sealing one copies a slice. Users and items also get the snapshot's [`IdMap`] (the
//! training needs their ids); sessions only need dense indexes in the order events first name
//! them, and a lookup by id only when the log after the kept part names one.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use aisle_core::IdMap;

use super::NONE;

/// Ids in one buffer, each followed by `\n`.
#[derive(Default)]
pub(super) struct Names {
    text: String,
    /// Where each id's `\n` is.
    ends: Vec<usize>,
}

impl Names {
    pub(super) fn len(&self) -> u32 {
        u32::try_from(self.ends.len()).unwrap_or(NONE)
    }

    fn start(&self, k: u32) -> usize {
        match k.checked_sub(1) {
            Some(before) => self.ends.get(before as usize).map_or(self.text.len(), |&e| e + 1),
            None => 0,
        }
    }

    /// Id `k` (blank when it was blanked; empty when out of range).
    pub(super) fn get(&self, k: u32) -> &str {
        let end = self.ends.get(k as usize).copied().unwrap_or(0);
        self.text.get(self.start(k)..end).unwrap_or("")
    }

    pub(super) fn push(&mut self, id: &str) -> u32 {
        let k = self.len();
        self.text.push_str(id);
        self.ends.push(self.text.len());
        self.text.push('\n');
        k
    }

    /// Appends a list as a segment stores it (checked by [`list`]).
    pub(super) fn extend(&mut self, list: &str) {
        let base = self.text.len();
        self.ends.extend(list.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| base + i));
        self.text.push_str(list);
    }

    /// The list from id `k` on, as a segment stores it.
    pub(super) fn from(&self, k: u32) -> &str {
        self.text.get(self.start(k)..).unwrap_or("")
    }
}

/// Checks a stored list of ids: `Err` when it is not one (a last id without its `\n`, or an id
/// [`aisle_records::validate::check_id`] refuses; a blank one only where `blank_ok`).
pub(super) fn list(text: &str, blank_ok: bool) -> Result<(), String> {
    if !(text.is_empty() || text.ends_with('\n')) {
        return Err("a list of ids without its last line end".into());
    }
    for id in text.split_terminator('\n') {
        if !(blank_ok && id.is_empty()) {
            aisle_records::validate::check_id("id", id).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Users or items: the kept map, the snapshot's map, and the two remappings between them,
/// filled as they are met.
#[derive(Default)]
pub(super) struct Ids {
    pub(super) names: Names,
    to_final: Vec<u32>,
    to_kept: Vec<u32>,
    pub(super) snapshot: IdMap,
    /// Kept ids of events only the clock bound refused, not in `snapshot` (rare).
    unmapped: HashMap<Box<str>, u32>,
}

impl Ids {
    /// With the snapshot's map starting with `first` (the catalog).
    pub(super) fn with(first: impl Iterator<Item = impl AsRef<str>>) -> Self {
        let mut ids = Ids::default();
        for id in first {
            ids.snapshot.get_or_insert(id.as_ref());
        }
        ids.to_kept = vec![NONE; ids.snapshot.len()];
        ids
    }

    pub(super) fn kept_len(&self) -> u32 {
        self.names.len()
    }

    /// Appends a segment's list of new ids.
    pub(super) fn extend(&mut self, list: &str) {
        let before = self.names.ends.len();
        self.names.extend(list);
        self.to_final.resize(self.names.ends.len(), NONE);
        self.snapshot.reserve(self.names.ends.len() - before);
    }

    /// The kept index the snapshot's index `f` maps to (`NONE` before one does).
    fn kept_slot(&mut self, f: u32) -> &mut u32 {
        if self.to_kept.len() <= f as usize {
            self.to_kept.resize(f as usize + 1, NONE);
        }
        &mut self.to_kept[f as usize]
    }

    fn add_kept(&mut self, id: &str) -> u32 {
        self.to_final.push(NONE);
        self.names.push(id)
    }

    /// The snapshot's index of kept index `k`.
    pub(super) fn final_of(&mut self, k: u32) -> u32 {
        let f = self.to_final[k as usize];
        if f != NONE {
            return f;
        }
        let f = self.snapshot.get_or_insert(self.names.get(k));
        self.to_final[k as usize] = f;
        let slot = self.kept_slot(f);
        if *slot == NONE {
            *slot = k;
        }
        f
    }

    /// The snapshot's index of `id` and its kept index, both assigned when new.
    pub(super) fn both(&mut self, id: &str) -> (u32, u32) {
        let f = self.snapshot.get_or_insert(id);
        let k = match *self.kept_slot(f) {
            NONE => {
                let k = self.add_kept(id);
                self.to_final[k as usize] = f;
                *self.kept_slot(f) = k;
                k
            }
            k => k,
        };
        (f, k)
    }

    /// The kept index of `id` without giving it a snapshot index (an event the clock refuses).
    pub(super) fn kept_only(&mut self, id: &str) -> u32 {
        if let Some(f) = self.snapshot.get(id)
            && let Some(&k) = self.to_kept.get(f as usize)
            && k != NONE
        {
            return k;
        }
        if let Some(&k) = self.unmapped.get(id) {
            return k;
        }
        let k = self.add_kept(id);
        self.unmapped.insert(id.into(), k);
        k
    }
}

/// A hasher that passes on a `u64` already hashed (by a keyed [`RandomState`]).
#[derive(Default)]
struct Passed(u64);

impl Hasher for Passed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Kept session indexes by id: by the id's keyed hash, and by the id itself for the rare id
/// whose hash another holds.
struct Lookup {
    keyed: RandomState,
    by_hash: HashMap<u64, u32, BuildHasherDefault<Passed>>,
    spill: HashMap<Box<str>, u32>,
}

impl Lookup {
    fn over(names: &Names) -> Self {
        let mut lookup = Lookup {
            keyed: RandomState::new(),
            by_hash: HashMap::with_capacity_and_hasher(names.ends.len(), BuildHasherDefault::default()),
            spill: HashMap::new(),
        };
        for k in 0..names.len() {
            lookup.insert(names, names.get(k), k);
        }
        lookup
    }

    fn find(&self, names: &Names, id: &str) -> Option<u32> {
        match self.by_hash.get(&self.keyed.hash_one(id)) {
            Some(&k) if names.get(k) == id => Some(k),
            _ => self.spill.get(id).copied(),
        }
    }

    /// Notes `id` at `k` (the first of equal ids wins).
    fn insert(&mut self, names: &Names, id: &str, k: u32) {
        match self.by_hash.entry(self.keyed.hash_one(id)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(k);
            }
            std::collections::hash_map::Entry::Occupied(o) if names.get(*o.get()) != id => {
                self.spill.entry(id.into()).or_insert(k);
            }
            std::collections::hash_map::Entry::Occupied(_) => {}
        }
    }
}

/// Sessions: the kept map, and the snapshot's dense indexes in the order events first name them.
#[derive(Default)]
pub(super) struct Sessions {
    pub(super) names: Names,
    to_final: Vec<u32>,
    finals: u32,
    /// Built when the log after the kept part names a session.
    lookup: Option<Lookup>,
}

impl Sessions {
    pub(super) fn kept_len(&self) -> u32 {
        self.names.len()
    }

    /// Appends a segment's list of new ids.
    pub(super) fn extend(&mut self, list: &str) {
        self.names.extend(list);
        self.to_final.resize(self.names.ends.len(), NONE);
    }

    /// The snapshot's index of kept index `k`.
    pub(super) fn final_of(&mut self, k: u32) -> u32 {
        let f = &mut self.to_final[k as usize];
        if *f == NONE {
            *f = self.finals;
            self.finals += 1;
        }
        *f
    }

    /// The kept index of `id`, added when new.
    pub(super) fn kept_of(&mut self, id: &str) -> u32 {
        let lookup = self.lookup.get_or_insert_with(|| Lookup::over(&self.names));
        if let Some(k) = lookup.find(&self.names, id) {
            return k;
        }
        let k = self.names.push(id);
        self.to_final.push(NONE);
        lookup.insert(&self.names, id, k);
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_hold_blank_ids_and_lists_round_trip() {
        let mut n = Names::default();
        n.extend("a\n\nbc\n");
        assert_eq!(n.push("d"), 3);
        assert_eq!((0..4).map(|k| n.get(k)).collect::<Vec<_>>(), ["a", "", "bc", "d"]);
        assert_eq!(n.from(2), "bc\nd\n");
        assert_eq!(n.from(4), "");
        assert_eq!(n.get(9), "", "out of range is empty, never a panic");
        assert!(list("a\n\nbc\n", true).is_ok());
        assert!(list("a\n\nbc\n", false).is_err(), "a blank item");
        assert!(list("a\nb", true).is_err(), "no last line end");
        assert!(list("a\tb\n", true).is_err(), "a control character");
        assert!(list("", false).is_ok());
    }

    #[test]
    fn a_session_is_found_by_its_id_even_where_hashes_meet() {
        let mut s = Sessions::default();
        s.extend("x\ny\n");
        assert_eq!((s.kept_of("y"), s.kept_of("z"), s.kept_of("z")), (1, 2, 2));
        // Two ids under one hash: the second is found by the id itself.
        let lookup = s.lookup.as_mut().expect("built by the first lookup");
        let h = lookup.keyed.hash_one("w");
        lookup.by_hash.insert(h, 0);
        assert_eq!(lookup.find(&s.names, "w"), None, "the slot holds x, not w");
        let k = s.names.push("w");
        lookup.insert(&s.names, "w", k);
        assert_eq!(lookup.find(&s.names, "w"), Some(3));
        assert_eq!(lookup.find(&s.names, "x"), Some(0));
        assert_eq!((s.final_of(2), s.final_of(0), s.final_of(2)), (0, 1, 0), "first named, first index");
    }
}
