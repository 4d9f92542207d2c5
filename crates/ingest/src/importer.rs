//! The [`Importer`]: one id space and catalog shared by every file it reads.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufRead, BufReader};
use std::path::Path;

use aisle_core::{EventKind, IdMap, ItemIdx, UserIdx};

use aisle_records::ItemRecord;

use crate::catalog::Catalog;
use crate::events::{Event, EventBatch, Origin};
use crate::fields::text_or_latin1;
use crate::format::{EventFormat, ImportOptions, ItemFormat};
use crate::report::{Bad, ImportError, ImportReport, io_error, reason};
use crate::{columnar, delimited, items, jsonl, users};

/// Reads event and catalog files into one id space.
///
/// Users and items are interned in first-seen order across every file read, so a train and a
/// test file (or a catalog and an event log) agree on indexes. Event ids are remembered across
/// files too: an event id names one event wherever it appears.
#[derive(Debug, Default)]
pub struct Importer {
    opts: ImportOptions,
    users: Interner,
    items: Interner,
    catalog: Catalog,
    /// Attribute tokens by user index (shorter than the user space where users have none).
    user_attributes: Vec<Vec<String>>,
    event_ids: HashSet<Box<str>>,
    /// Session ids seen so far, across files.
    sessions: Interner,
}

/// Decimal ids below this are also kept in a direct table (4 bytes each, 16 MiB at most).
const NUMERIC_CACHE: usize = 1 << 22;

/// Ids up to this many bytes are also memoised inline, without a pointer to chase.
const INLINE_ID: usize = 22;

/// A short id stored in place: its bytes, zero-padded, and its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct InlineId([u8; INLINE_ID], u8);

/// An [`IdMap`] with memos in front of it: a direct table for canonical decimal ids (`"196"`,
/// not `"0196"`, the common case of public datasets) and an inline-key hash table for other
/// short ids. Both skip SipHash and the comparison through a boxed string, whose cache miss is
/// the main cost of interning; the [`IdMap`] stays the one source of truth.
#[derive(Debug, Default)]
struct Interner {
    map: IdMap,
    numeric: Vec<u32>,
    short: HashMap<InlineId, u32, BuildHasherDefault<FastHasher>>,
}

/// The value of a canonical decimal id below [`NUMERIC_CACHE`].
fn small_decimal(id: &str) -> Option<usize> {
    let b = id.as_bytes();
    if b.is_empty() || b.len() > 7 || (b[0] == b'0' && b.len() > 1) {
        return None;
    }
    let mut n = 0usize;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + usize::from(c - b'0');
    }
    (n < NUMERIC_CACHE).then_some(n)
}

impl Interner {
    fn get_or_insert(&mut self, id: &str) -> u32 {
        let Some(n) = small_decimal(id) else { return self.get_or_insert_short(id) };
        if let Some(&v) = self.numeric.get(n)
            && v != 0
        {
            return v - 1;
        }
        let idx = self.map.get_or_insert(id);
        if n >= self.numeric.len() {
            self.numeric.resize((n + 1).next_power_of_two().min(NUMERIC_CACHE), 0);
        }
        self.numeric[n] = idx + 1;
        idx
    }

    fn get_or_insert_short(&mut self, id: &str) -> u32 {
        let b = id.as_bytes();
        if b.len() > INLINE_ID {
            return self.map.get_or_insert(id);
        }
        let mut key = InlineId([0; INLINE_ID], b.len() as u8);
        key.0[..b.len()].copy_from_slice(b);
        *self.short.entry(key).or_insert_with(|| self.map.get_or_insert(id))
    }
}

/// An event decoded from one row, before interning.
pub(crate) struct Decoded<'a> {
    pub user: &'a str,
    pub item: &'a str,
    pub kind: EventKind,
    pub value: f32,
    pub ts: i64,
    pub event_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    /// Title, genres and year of a joined MovieLens row, to describe the item.
    pub movie: Option<[&'a [u8]; 3]>,
    /// The row's 1-based line.
    pub line: u64,
}

/// The kind and value of an event from its optional type and value fields.
///
/// Without a type, an event is a rating when it has a value and a view otherwise; a rating needs a
/// value; other events default to value 1.
pub(crate) fn kind_and_value(kind: Option<EventKind>, value: Option<f32>) -> Result<(EventKind, f32), Bad> {
    match (kind, value) {
        (None, Some(v)) => Ok((EventKind::Rating, v)),
        (None, None) => Ok((EventKind::View, 1.0)),
        (Some(EventKind::Rating), None) => Err(Bad::new("value", reason::MISSING, "a rating needs a value")),
        (Some(k), v) => Ok((k, v.unwrap_or(1.0))),
    }
}

/// FxHash-style multiply-rotate mixing with a murmur3 finaliser, for the inline id memo: the
/// default SipHash costs more than the rest of a short id's lookup. Not DoS-resistant, which is
/// acceptable for files an operator chose to import.
#[derive(Default)]
pub(crate) struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// What makes two rows the same event: every decoded field; then the event's position.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RowKey {
    pair: u64,
    ts: i64,
    kind_value: u64,
    index: u32,
}

/// The per-file state of an event import.
pub(crate) struct Sink<'a> {
    pub report: ImportReport,
    pub events: Vec<Event>,
    /// Parallel to `events` when origins are kept.
    origins: Vec<Origin>,
    /// Keys of the events without an event id, for the duplicate check at the end.
    keys: Vec<RowKey>,
    /// Set when the events are handed over as they come instead of kept.
    stream: Option<Stream<'a>>,
}

/// The accepted events of a file read in batches ([`Importer::stream_events`]): the events, their
/// origins (when [`crate::ImportOptions::origins`] is set; empty otherwise), and the id maps that
/// name their users, items and sessions.
#[derive(Debug)]
pub struct Chunk<'a> {
    /// Accepted events, in file order.
    pub events: Vec<Event>,
    /// Parallel to `events` when origins are kept.
    pub origins: Vec<Origin>,
    /// User ids by [`UserIdx`].
    pub users: &'a IdMap,
    /// Item ids by [`ItemIdx`].
    pub items: &'a IdMap,
    /// Session ids by [`Event::session`].
    pub sessions: &'a IdMap,
}

/// The consumer of a streamed read, with what the read needs to hand over each event once.
struct Stream<'a> {
    batch: usize,
    emit: &'a mut dyn FnMut(Chunk<'_>) -> Result<(), ImportError>,
    /// The exact-duplicate check of rows without an event id, as they come: the first kept.
    seen: HashSet<(u64, i64, u64), BuildHasherDefault<FastHasher>>,
    /// Accepted events per item index, to count the ones on items the catalog lacks at the end
    /// (a joined MovieLens row may describe its item after earlier rows used it).
    per_item: Vec<u64>,
}

impl<'a> Sink<'a> {
    pub(crate) fn new(source: &str) -> Self {
        Self {
            report: ImportReport::new(source),
            events: Vec::new(),
            origins: Vec::new(),
            keys: Vec::new(),
            stream: None,
        }
    }

    fn streaming(
        source: &str,
        batch: usize,
        emit: &'a mut dyn FnMut(Chunk<'_>) -> Result<(), ImportError>,
    ) -> Self {
        let stream = Stream { batch: batch.max(1), emit, seen: HashSet::default(), per_item: Vec::new() };
        Self { stream: Some(stream), ..Self::new(source) }
    }

    /// Drops exact duplicates and counts events on items the catalog lacks.
    ///
    /// Duplicates are found by sorting the keys rather than hashing each row as it comes: the
    /// sort walks memory in order, where a hash set of a million keys misses the cache on every
    /// insert (a 1M-row `u.data` import took 0.34 s with a hash set, 0.16 s with the sort).
    pub(crate) fn finish(mut self, catalog: &Catalog) -> EventBatch {
        self.keys.sort_unstable();
        let mut keep = vec![true; self.events.len()];
        for w in self.keys.windows(2) {
            if (w[0].pair, w[0].ts, w[0].kind_value) == (w[1].pair, w[1].ts, w[1].kind_value) {
                keep[w[1].index as usize] = false;
            }
        }
        let mut k = 0;
        self.events.retain(|_| {
            k += 1;
            keep[k - 1]
        });
        if !self.origins.is_empty() {
            let mut k = 0;
            self.origins.retain(|_| {
                k += 1;
                keep[k - 1]
            });
        }
        let dropped = keep.len() - self.events.len();
        self.report.duplicates += dropped as u64;
        self.report.accepted -= dropped as u64;
        if !catalog.is_empty() {
            self.report.unknown_items =
                self.events.iter().filter(|e| !catalog.contains(e.item)).count() as u64;
        }
        EventBatch { events: self.events, origins: self.origins, report: self.report }
    }
}

impl Importer {
    /// An importer with empty id maps and catalog.
    pub fn new(opts: ImportOptions) -> Self {
        Self { opts, ..Self::default() }
    }

    /// The options in use.
    pub fn options(&self) -> &ImportOptions {
        &self.opts
    }

    /// User ids seen so far, by [`UserIdx`].
    pub fn users(&self) -> &IdMap {
        &self.users.map
    }

    /// Item ids seen so far (in events or the catalog), by [`ItemIdx`].
    pub fn items(&self) -> &IdMap {
        &self.items.map
    }

    /// Session ids seen so far, by [`crate::Event::session`].
    pub fn sessions(&self) -> &IdMap {
        &self.sessions.map
    }

    /// Item metadata loaded so far.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// User attribute tokens (`segment=loyal`) by [`UserIdx`]; empty (or past the end) for users
    /// without attributes.
    pub fn user_attributes(&self) -> &[Vec<String>] {
        &self.user_attributes
    }

    /// Reads user attributes (see the `users` module: a delimited file with a header), giving
    /// users first seen here an index. A user already described is replaced; an id repeated
    /// within the file is counted as a duplicate and its first row kept.
    ///
    /// A Parquet file (known by its first bytes), or a folder of them, is read by its columns
    /// instead: a `user_id` (or `userid`, `user`, `id`) column, and every other flat column an
    /// attribute.
    pub fn read_users(&mut self, path: &Path) -> Result<ImportReport, ImportError> {
        let name = path.display().to_string();
        if columnar::is_parquet(path) {
            let mut report = ImportReport::new(&name);
            let mut seen = HashSet::new();
            columnar::read_users(path, &mut report, self.opts, |id, tokens, report| {
                self.keep_user(id, tokens, report, &mut seen)
            })?;
            return Ok(report);
        }
        let file = File::open(path).map_err(|e| io_error(path, e))?;
        self.read_users_from_reader(BufReader::with_capacity(1 << 16, file), &name)
    }

    /// [`Importer::read_users`] from any reader; `name` identifies it in reports and errors.
    pub fn read_users_from_reader(
        &mut self,
        reader: impl BufRead,
        name: &str,
    ) -> Result<ImportReport, ImportError> {
        let mut report = ImportReport::new(name);
        let mut seen = HashSet::new();
        users::read(reader, &mut report, self.opts, |id, tokens, report| {
            self.keep_user(id, tokens, report, &mut seen)
        })?;
        Ok(report)
    }

    /// Keeps a user's attributes unless the id was already read from the same file.
    fn keep_user(
        &mut self,
        id: &str,
        tokens: Vec<String>,
        report: &mut ImportReport,
        seen: &mut HashSet<usize>,
    ) {
        let idx = self.users.get_or_insert(id) as usize;
        if !seen.insert(idx) {
            report.duplicates += 1;
            return;
        }
        report.accepted += 1;
        if idx >= self.user_attributes.len() {
            self.user_attributes.resize_with(idx + 1, Vec::new);
        }
        self.user_attributes[idx] = tokens;
    }

    /// The id maps and the catalog, consuming the importer.
    pub fn into_parts(self) -> (IdMap, IdMap, Catalog) {
        (self.users.map, self.items.map, self.catalog)
    }

    /// Reads the events of a file.
    ///
    /// Bad rows are counted in the report (or, in strict mode, the first one is returned as
    /// [`ImportError::BadRow`]). Exact duplicate rows of the file and repeated event ids are
    /// dropped and counted; when an event id column exists, only event ids decide duplicates.
    pub fn read_events(&mut self, path: &Path, format: &EventFormat) -> Result<EventBatch, ImportError> {
        let name = path.display().to_string();
        if let EventFormat::Parquet(columns) = format {
            let mut sink = Sink::new(&name);
            columnar::read_events(self, path, &mut sink, columns)?;
            return Ok(sink.finish(&self.catalog));
        }
        refuse_parquet(path, "--format parquet")?;
        let file = File::open(path).map_err(|e| io_error(path, e))?;
        self.read_events_from_reader(BufReader::with_capacity(1 << 16, file), &name, format)
    }

    /// [`Importer::read_events`] from any reader; `name` identifies it in reports and errors.
    pub fn read_events_from_reader(
        &mut self,
        reader: impl BufRead,
        name: &str,
        format: &EventFormat,
    ) -> Result<EventBatch, ImportError> {
        let mut sink = Sink::new(name);
        self.read_into(reader, &mut sink, format)?;
        Ok(sink.finish(&self.catalog))
    }

    /// Reads the events of a file as [`Importer::read_events`] does, but hands them to `emit` in
    /// batches of `batch` as they are read (the last one shorter) instead of holding the file:
    /// memory stays one batch plus the id maps, and a consumer (a store) works while the rest is
    /// read. Exact duplicate rows are found as they come (the first one kept, as in
    /// [`Importer::read_events`]). An error of `emit` stops the read and is returned; so is a bad
    /// row in strict mode (or a read error), once the events accepted before it are handed over.
    /// `emit` should answer [`ImportError::Stopped`] when it can take no more.
    pub fn stream_events(
        &mut self,
        path: &Path,
        format: &EventFormat,
        batch: usize,
        mut emit: impl FnMut(Chunk<'_>) -> Result<(), ImportError>,
    ) -> Result<ImportReport, ImportError> {
        let name = path.display().to_string();
        let mut sink = Sink::streaming(&name, batch, &mut emit);
        let read = if let EventFormat::Parquet(columns) = format {
            columnar::read_events(self, path, &mut sink, columns)
        } else {
            refuse_parquet(path, "--format parquet")?;
            let file = File::open(path).map_err(|e| io_error(path, e))?;
            self.read_into(BufReader::with_capacity(1 << 16, file), &mut sink, format)
        };
        match read {
            Ok(()) => self.hand_over(&mut sink)?,
            // The consumer's own error: nothing more can be handed over.
            Err(e @ ImportError::Stopped { .. }) => return Err(e),
            Err(e) => {
                // The rows accepted before a fatal one (strict mode, a read error) are handed
                // over; the read's error is the one to tell, whatever the consumer says.
                let _handed = self.hand_over(&mut sink);
                return Err(e);
            }
        }
        let mut report = sink.report;
        if !self.catalog.is_empty()
            && let Some(stream) = &sink.stream
        {
            report.unknown_items = (stream.per_item.iter().enumerate())
                .filter(|&(k, _)| !self.catalog.contains(ItemIdx(k as u32)))
                .map(|(_, n)| n)
                .sum();
        }
        Ok(report)
    }

    /// Reads every row of a text event file into `sink`.
    fn read_into(
        &mut self,
        reader: impl BufRead,
        sink: &mut Sink<'_>,
        format: &EventFormat,
    ) -> Result<(), ImportError> {
        match format {
            EventFormat::Jsonl => jsonl::read(self, reader, sink),
            EventFormat::Parquet(_) => Err(parquet_needs_a_file()),
            EventFormat::Ml100k | EventFormat::Ml1m | EventFormat::MlLatest | EventFormat::Delimited(_) => {
                delimited::read(self, reader, sink, delimited::Spec::of(format)?)
            }
        }
    }

    /// Reads catalog items, giving items first seen here an index. An item already described is
    /// replaced; an id repeated within the file is counted as a duplicate and its first row kept.
    pub fn read_items(&mut self, path: &Path, format: &ItemFormat) -> Result<ImportReport, ImportError> {
        let name = path.display().to_string();
        if *format == ItemFormat::CatalogParquet {
            let mut report = ImportReport::new(&name);
            let mut seen = HashSet::new();
            columnar::read_items(path, &mut report, self.opts, |meta, report| {
                self.keep_item(meta, report, &mut seen)
            })?;
            return Ok(report);
        }
        refuse_parquet(path, "--items-format parquet")?;
        let file = File::open(path).map_err(|e| io_error(path, e))?;
        self.read_items_from_reader(BufReader::with_capacity(1 << 16, file), &name, format)
    }

    /// [`Importer::read_items`] from any reader; `name` identifies it in reports and errors.
    pub fn read_items_from_reader(
        &mut self,
        reader: impl BufRead,
        name: &str,
        format: &ItemFormat,
    ) -> Result<ImportReport, ImportError> {
        if *format == ItemFormat::CatalogParquet {
            return Err(parquet_needs_a_file());
        }
        let mut report = ImportReport::new(name);
        let mut seen = HashSet::new();
        items::read(reader, &mut report, self.opts, *format, |meta, report| {
            self.keep_item(meta, report, &mut seen)
        })?;
        Ok(report)
    }

    /// Keeps a catalog item unless its id was already read from the same file.
    fn keep_item(&mut self, meta: ItemRecord, report: &mut ImportReport, seen: &mut HashSet<u32>) {
        let idx = self.items.get_or_insert(&meta.id);
        if !seen.insert(idx) {
            report.duplicates += 1;
            return;
        }
        report.accepted += 1;
        self.catalog.insert(ItemIdx(idx), meta);
    }

    /// Counts a bad row, or fails in strict mode.
    pub(crate) fn reject(&self, sink: &mut Sink<'_>, line: u64, bad: Bad) -> Result<(), ImportError> {
        sink.report.reject(line, bad, &self.opts)
    }

    /// Hands a streamed read's events over once a batch of them is ready (nothing otherwise).
    pub(crate) fn pass_on(&self, sink: &mut Sink<'_>) -> Result<(), ImportError> {
        match &sink.stream {
            Some(stream) if sink.events.len() >= stream.batch => self.hand_over(sink),
            _ => Ok(()),
        }
    }

    fn hand_over(&self, sink: &mut Sink<'_>) -> Result<(), ImportError> {
        let Some(stream) = &mut sink.stream else { return Ok(()) };
        if sink.events.is_empty() {
            return Ok(());
        }
        (stream.emit)(Chunk {
            events: std::mem::take(&mut sink.events),
            origins: std::mem::take(&mut sink.origins),
            users: &self.users.map,
            items: &self.items.map,
            sessions: &self.sessions.map,
        })
    }

    /// Checks a decoded event's value and time against the limits, then interns and keeps it
    /// unless it is a duplicate.
    pub(crate) fn accept(&mut self, sink: &mut Sink<'_>, d: Decoded<'_>) -> Result<(), Bad> {
        crate::fields::check_event(&self.opts.limits, self.opts.now_ms, d.kind, d.value, d.ts)?;
        // The item a joined MovieLens row describes passes the one item validator before
        // anything of the row is kept (a record one door refuses cannot come in through another).
        let movie = match d.movie {
            Some(movie) => {
                let meta = movie_meta(d.item, movie);
                crate::fields::checked_item(&meta)?;
                Some(meta)
            }
            None => None,
        };
        if let Some(eid) = d.event_id {
            if self.event_ids.contains(eid) {
                sink.report.duplicates += 1;
                return Ok(());
            }
            self.event_ids.insert(eid.into());
        }
        let user = UserIdx(self.users.get_or_insert(d.user));
        let item = ItemIdx(self.items.get_or_insert(d.item));
        if d.event_id.is_none() {
            let key = RowKey {
                pair: u64::from(user.0) << 32 | u64::from(item.0),
                ts: d.ts,
                kind_value: u64::from(d.value.to_bits()) << 8 | d.kind as u64,
                index: sink.events.len() as u32,
            };
            match &mut sink.stream {
                Some(stream) => {
                    if !stream.seen.insert((key.pair, key.ts, key.kind_value)) {
                        sink.report.duplicates += 1;
                        return Ok(());
                    }
                }
                None => sink.keys.push(key),
            }
        }
        if let Some(stream) = &mut sink.stream {
            let k = item.0 as usize;
            if k >= stream.per_item.len() {
                stream.per_item.resize(k + 1, 0);
            }
            stream.per_item[k] += 1;
        }
        if let Some(meta) = movie
            && !self.catalog.contains(item)
        {
            self.catalog.insert(item, meta);
        }
        sink.report.accepted += 1;
        if self.opts.origins {
            sink.origins.push(Origin {
                line: d.line,
                event_id: d.event_id.map(Box::from),
                digest: digest(&d),
            });
        }
        let session = d.session_id.map(|s| self.sessions.get_or_insert(s));
        sink.events.push(Event { user, item, kind: d.kind, value: d.value, ts: d.ts, session });
        Ok(())
    }
}

/// About how many events an event file holds, cheaply: a Parquet file's (or folder's) row count
/// from its metadata, else the lines of a text file (a header and bad rows included). For sizing
/// work before a streamed read ([`Importer::stream_events`]), never for counting what was read.
pub fn rows_in(path: &Path, format: &EventFormat) -> Result<u64, ImportError> {
    if let EventFormat::Parquet(_) = format {
        let mut rows = 0;
        for part in columnar::parts(path)? {
            rows += columnar::Table::open(&part)?.rows();
        }
        return Ok(rows);
    }
    let mut file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut lines, mut last) = (0u64, b'\n');
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).map_err(|e| io_error(path, e))?;
        if n == 0 {
            // A last line without its newline counts too.
            return Ok(lines + u64::from(last != b'\n'));
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        last = buf[n - 1];
    }
}

/// Refuses a Parquet file given with a text format: its bytes would be read as rows of garbage.
fn refuse_parquet(path: &Path, flag: &str) -> Result<(), ImportError> {
    if columnar::is_parquet(path) {
        return Err(ImportError::InvalidOptions {
            reason: format!("{} is a Parquet file: read it with {flag}", path.display()),
        });
    }
    Ok(())
}

fn parquet_needs_a_file() -> ImportError {
    ImportError::InvalidOptions {
        reason: "Parquet is read from a file (its index is at the end), not a stream".into(),
    }
}

/// FNV-1a over the decoded fields of a row: stable across builds and platforms, so an id derived
/// from it is the same on every run.
fn digest(d: &Decoded<'_>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes.iter().chain([0xff].iter()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(d.user.as_bytes());
    eat(d.item.as_bytes());
    eat(d.kind.as_str().as_bytes());
    eat(&d.value.to_bits().to_le_bytes());
    eat(&d.ts.to_le_bytes());
    h
}

/// Item metadata from the title, genres and year columns of a joined MovieLens file.
fn movie_meta(id: &str, [title, genres, year]: [&[u8]; 3]) -> ItemRecord {
    let mut meta = ItemRecord::new(id, text_or_latin1(title));
    meta.categories = text_or_latin1(genres)
        .split('|')
        .filter(|g| !g.is_empty() && *g != "(no genres listed)")
        .map(str::to_owned)
        .collect();
    let year = text_or_latin1(year);
    if let Ok(y) = year.parse::<f64>()
        && y.is_finite()
    {
        meta.attributes.insert("year".into(), serde_json::Value::from(y.round() as i64));
    }
    meta
}
