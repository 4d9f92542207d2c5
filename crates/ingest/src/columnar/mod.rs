//! Parquet files, both ways: the events, catalogs and user attributes a warehouse or a Spark job
//! writes, read into the importer (`read.rs`), and what `aisle export` writes (`write.rs`).
//!
//! Built on the `parquet` crate's column API, not its Arrow layer (which costs minutes of build
//! for conversions aisle does not need) nor its record API (whose conversions panic on some
//! annotated types and fail the whole file on one bad string). Each column is read in batches
//! of raw values with their definition and repetition levels, and every cell is interpreted
//! here from the column's physical and logical type: a value that cannot be an event field is a
//! rejected row, never a panic or a lost file.
//!
//! The columns a table exposes are its top-level fields that are a primitive (required or
//! optional) or a list of primitives (`categories: list<string>`); structs, maps and nested lists
//! are listed as unusable and refused only when a column the import needs is one of them.

mod read;
mod write;

use std::fs::File;
use std::path::Path;

use parquet::basic::{ConvertedType, LogicalType, TimeUnit, Type as Physical};
use parquet::column::reader::ColumnReader;
use parquet::data_type::{ByteArray, FixedLenByteArray, Int96};
use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::SerializedFileReader;
use parquet::schema::types::ColumnDescPtr;

use crate::report::{ImportError, io_error};

pub(crate) use read::{read_events, read_items, read_users};
pub use write::{ColumnKind, ParquetWriter, Put};

/// The four bytes a Parquet file starts (and ends) with.
const MAGIC: &[u8; 4] = b"PAR1";

/// Rows decoded per batch of each column: bounds memory on row groups of millions of rows.
const BATCH_ROWS: usize = 65_536;

/// True when the file at `path` starts like a Parquet file (for refusing one read as text), or
/// `path` is a folder of them.
pub(crate) fn is_parquet(path: &Path) -> bool {
    use std::io::Read;
    if path.is_dir() {
        return parts(path).is_ok_and(|p| !p.is_empty());
    }
    let mut head = [0u8; 4];
    File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && &head == MAGIC
}

/// Deepest folder nesting [`parts`] descends (Hive-style partitions are a few levels).
const MAX_DEPTH: usize = 8;

/// The Parquet files at `path`: the file itself, or every `*.parquet` file under a folder — what
/// Spark, Hive and BigQuery exports write: a folder of part files, perhaps in `key=value`
/// subfolders — in path order. Names starting with `_` or `.` (`_SUCCESS`, checksums) are
/// skipped. A folder without any is an error.
pub(crate) fn parts(path: &Path) -> Result<Vec<std::path::PathBuf>, ImportError> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('_') || name.starts_with('.') {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() && depth < MAX_DEPTH {
                walk(&entry.path(), depth + 1, out)?;
            } else if kind.is_file() && name.ends_with(".parquet") {
                out.push(entry.path());
            }
        }
        Ok(())
    }
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    walk(path, 0, &mut out).map_err(|e| io_error(path, e))?;
    out.sort();
    if out.is_empty() {
        return Err(unreadable(&path.display().to_string(), "no .parquet files in this folder"));
    }
    Ok(out)
}

/// How the raw values of a column are to be understood.
#[derive(Copy, Clone, Debug, PartialEq)]
enum Meaning {
    Bool,
    Int,
    UInt,
    Float,
    /// Text or bytes (UTF-8 is checked by whoever reads it as text).
    Text,
    /// An integer count of `unit` per second since the epoch (timestamps); 86,400⁻¹ for dates.
    Time {
        per_second: i64,
        days: bool,
    },
    /// A decimal with this many digits after the point.
    Decimal(i32),
    Float16,
}

/// One usable top-level column.
#[derive(Clone, Debug)]
pub(crate) struct ColumnInfo {
    /// The field's name, lower case.
    pub name: String,
    /// The field's name as written.
    pub original: String,
    /// Its leaf in the file's schema.
    leaf: usize,
    /// A list of values per row rather than at most one.
    pub list: bool,
    /// The definition level of a present value.
    max_def: i16,
    meaning: Meaning,
}

/// A Parquet file opened for reading its flat columns.
pub(crate) struct Table {
    reader: SerializedFileReader<File>,
    /// Rows of the files read before this one (of a folder of parts): row numbers continue.
    offset: u64,
    columns: Vec<ColumnInfo>,
    /// Top-level fields that are not usable (structs, maps, nested lists), lower case.
    unusable: Vec<String>,
    source: String,
}

fn unreadable(source: &str, e: impl std::fmt::Display) -> ImportError {
    ImportError::Unreadable { input: source.to_owned(), reason: e.to_string() }
}

thread_local! {
    /// Whether this thread is inside [`guarded`].
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs a call into the `parquet` crate, turning its error, or its panic, into [`ImportError::Unreadable`].
///
/// The crate asserts on some corrupt metadata (a negative column chunk offset panics in
/// `ColumnChunkMetaData::byte_range`, found by `corrupt_files_are_errors_not_panics`); a file
/// from outside must not take the process down, so its calls are contained here.
///
/// While a call runs, the panic hook does not print: the panic is this function's to report, as
/// an error naming the file. The hook is wrapped once, on first use; a panic anywhere else (or
/// on another thread) still reaches the hook that was there before.
fn guarded<T>(source: &str, f: impl FnOnce() -> parquet::errors::Result<T>) -> Result<T, ImportError> {
    static QUIET_HOOK: std::sync::Once = std::sync::Once::new();
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    let was = GUARDED.with(|g| g.replace(true));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(was));
    match outcome {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(unreadable(source, e)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the decoder failed".to_owned());
            Err(unreadable(source, format!("corrupt file ({what})")))
        }
    }
}

/// The leaf of a top-level field that can be read as a column: a primitive (a repeated one is a
/// list), or a group annotated as a list whose one leaf repeats once; `None` for structs, maps
/// and nested lists.
fn usable_leaf(
    schema: &parquet::schema::types::SchemaDescriptor,
    field: &parquet::schema::types::Type,
) -> Option<usize> {
    let name = field.name();
    let leaves: Vec<usize> = (0..schema.num_columns())
        .filter(|&i| schema.column(i).path().parts().first().map(String::as_str) == Some(name))
        .collect();
    let &[leaf] = leaves.as_slice() else { return None };
    let info = field.get_basic_info();
    let is_list = matches!(info.logical_type_ref(), Some(LogicalType::List))
        || info.converted_type() == ConvertedType::LIST;
    let ok = if field.is_primitive() { true } else { is_list };
    (ok && schema.column(leaf).max_rep_level() <= 1).then_some(leaf)
}

fn meaning(d: &ColumnDescPtr) -> Meaning {
    let logical = d.logical_type_ref();
    match (d.physical_type(), logical, d.converted_type()) {
        (Physical::BOOLEAN, _, _) => Meaning::Bool,
        (Physical::INT32, Some(LogicalType::Date), _) | (Physical::INT32, _, ConvertedType::DATE) => {
            Meaning::Time { per_second: 1, days: true }
        }
        (Physical::INT64, Some(LogicalType::Timestamp(t)), _) => Meaning::Time {
            per_second: match t.unit {
                TimeUnit::MILLIS => 1_000,
                TimeUnit::MICROS => 1_000_000,
                TimeUnit::NANOS => 1_000_000_000,
            },
            days: false,
        },
        (Physical::INT64, _, ConvertedType::TIMESTAMP_MILLIS) => {
            Meaning::Time { per_second: 1_000, days: false }
        }
        (Physical::INT64, _, ConvertedType::TIMESTAMP_MICROS) => {
            Meaning::Time { per_second: 1_000_000, days: false }
        }
        (Physical::INT96, _, _) => Meaning::Time { per_second: 1, days: false },
        (Physical::INT32 | Physical::INT64, Some(LogicalType::Integer(i)), _) if !i.is_signed => {
            Meaning::UInt
        }
        (Physical::INT32 | Physical::INT64, _, ConvertedType::UINT_32 | ConvertedType::UINT_64) => {
            Meaning::UInt
        }
        (_, Some(LogicalType::Decimal(dec)), _) => Meaning::Decimal(dec.scale),
        (_, _, ConvertedType::DECIMAL) => Meaning::Decimal(d.type_scale()),
        (Physical::INT32 | Physical::INT64, _, _) => Meaning::Int,
        (Physical::FLOAT | Physical::DOUBLE, _, _) => Meaning::Float,
        (Physical::FIXED_LEN_BYTE_ARRAY, Some(LogicalType::Float16), _) => Meaning::Float16,
        (Physical::BYTE_ARRAY | Physical::FIXED_LEN_BYTE_ARRAY, _, _) => Meaning::Text,
    }
}

impl Table {
    /// Opens `path` and lists its usable columns.
    pub(crate) fn open(path: &Path) -> Result<Table, ImportError> {
        let source = path.display().to_string();
        let file = File::open(path).map_err(|e| io_error(path, e))?;
        let reader = guarded(&source, || SerializedFileReader::new(file))?;
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        let mut columns = Vec::new();
        let mut unusable = Vec::new();
        for field in schema.root_schema().get_fields() {
            let name = field.name();
            let usable = usable_leaf(&schema, field).map(|leaf| {
                let d = schema.column(leaf);
                ColumnInfo {
                    name: name.to_ascii_lowercase(),
                    original: name.to_owned(),
                    leaf,
                    list: d.max_rep_level() == 1,
                    max_def: d.max_def_level(),
                    meaning: meaning(&d),
                }
            });
            match usable {
                Some(c) => columns.push(c),
                None => unusable.push(name.to_ascii_lowercase()),
            }
        }
        Ok(Table { reader, offset: 0, columns, unusable, source })
    }

    /// The same table, its rows numbered after `offset` rows of earlier files.
    pub(crate) fn after(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Rows in the file, by its metadata.
    pub(crate) fn rows(&self) -> u64 {
        u64::try_from(self.reader.metadata().file_metadata().num_rows()).unwrap_or(0)
    }

    /// The file's name in reports and errors.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// The usable columns.
    pub(crate) fn columns(&self) -> &[ColumnInfo] {
        &self.columns
    }

    /// Every top-level field's name (lower case), usable or not, for error messages.
    pub(crate) fn header(&self) -> String {
        let mut names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        names.extend(self.unusable.iter().map(String::as_str));
        names.join(",")
    }

    /// The position among [`Table::columns`] of the column called `name` (lower case); an error
    /// when the field exists but is not usable.
    pub(crate) fn find(&self, name: &str) -> Result<Option<usize>, ImportError> {
        if let Some(k) = self.columns.iter().position(|c| c.name == name) {
            return Ok(Some(k));
        }
        if self.unusable.iter().any(|u| u == name) {
            return Err(unreadable(
                &self.source,
                format!(
                    "column {name:?} is a struct, a map or a nested list; only flat columns and lists of values can be read"
                ),
            ));
        }
        Ok(None)
    }

    /// The position of the first of `names` (lower case) the table has, as [`Table::find`].
    pub(crate) fn first_of(&self, names: &[&str]) -> Result<Option<usize>, ImportError> {
        for name in names {
            if let Some(k) = self.find(name)? {
                return Ok(Some(k));
            }
        }
        Ok(None)
    }

    /// The error of a missing `column`, with the header the table has.
    pub(crate) fn missing(&self, column: &'static str) -> ImportError {
        ImportError::MissingColumn { input: self.source.clone(), column, header: self.header() }
    }

    /// Reads the columns at `wanted` (positions in [`Table::columns`]) in batches of rows,
    /// handing each batch to `each` with the 1-based number of its first row (counting the rows
    /// of the files before this one, see [`Table::after`]).
    pub(crate) fn scan(
        &self,
        wanted: &[usize],
        mut each: impl FnMut(&Batch, u64) -> Result<(), ImportError>,
    ) -> Result<(), ImportError> {
        let mut first_row = self.offset + 1;
        for g in 0..self.reader.num_row_groups() {
            let group = guarded(&self.source, || self.reader.get_row_group(g))?;
            let total = usize::try_from(group.metadata().num_rows()).unwrap_or(0);
            let mut readers = guarded(&self.source, || {
                wanted
                    .iter()
                    .map(|&k| {
                        let c = &self.columns[k];
                        group.get_column_reader(c.leaf).map(|r| (r, c.clone()))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })?;
            let mut done = 0;
            while done < total {
                let want = BATCH_ROWS.min(total - done);
                let mut batch = Batch { rows: want, columns: Vec::with_capacity(readers.len()) };
                for (reader, info) in &mut readers {
                    let chunk = guarded(&self.source, || Chunk::read(reader, info, want))?;
                    if chunk.rows.len() != want {
                        return Err(unreadable(
                            &self.source,
                            format!(
                                "row group {g}: column {:?} has {} rows where the group has {total}",
                                info.original,
                                done + chunk.rows.len()
                            ),
                        ));
                    }
                    batch.columns.push(chunk);
                }
                each(&batch, first_row)?;
                first_row += want as u64;
                done += want;
            }
        }
        Ok(())
    }
}

/// The raw values of one column in a batch.
enum Values {
    Bool(Vec<bool>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    I96(Vec<Int96>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bytes(Vec<ByteArray>),
    Fixed(Vec<FixedLenByteArray>),
}

/// One column's values for a batch of rows, with where each row's values are.
pub(crate) struct Chunk {
    values: Values,
    list: bool,
    meaning: Meaning,
    /// Per row, the range of its values in `values` (empty for null, one long unless a list).
    rows: Vec<(u32, u32)>,
}

/// Reads `n` records of one typed column, with their levels.
macro_rules! read_typed {
    ($reader:expr, $n:expr, $variant:ident) => {{
        let (mut values, mut defs, mut reps) = (Vec::new(), Vec::new(), Vec::new());
        let (records, _, levels) = $reader.read_records($n, Some(&mut defs), Some(&mut reps), &mut values)?;
        (Values::$variant(values), defs, reps, records, levels)
    }};
}

impl Chunk {
    fn read(reader: &mut ColumnReader, info: &ColumnInfo, n: usize) -> parquet::errors::Result<Chunk> {
        let (values, defs, reps, records, levels) = match reader {
            ColumnReader::BoolColumnReader(r) => read_typed!(r, n, Bool),
            ColumnReader::Int32ColumnReader(r) => read_typed!(r, n, I32),
            ColumnReader::Int64ColumnReader(r) => read_typed!(r, n, I64),
            ColumnReader::Int96ColumnReader(r) => read_typed!(r, n, I96),
            ColumnReader::FloatColumnReader(r) => read_typed!(r, n, F32),
            ColumnReader::DoubleColumnReader(r) => read_typed!(r, n, F64),
            ColumnReader::ByteArrayColumnReader(r) => read_typed!(r, n, Bytes),
            ColumnReader::FixedLenByteArrayColumnReader(r) => read_typed!(r, n, Fixed),
        };
        let n_values = match &values {
            Values::Bool(v) => v.len(),
            Values::I32(v) => v.len(),
            Values::I64(v) => v.len(),
            Values::I96(v) => v.len(),
            Values::F32(v) => v.len(),
            Values::F64(v) => v.len(),
            Values::Bytes(v) => v.len(),
            Values::Fixed(v) => v.len(),
        };
        let mut rows = Vec::with_capacity(records);
        if defs.is_empty() {
            // A required flat column: one value per row.
            rows.extend((0..records.min(n_values) as u32).map(|v| (v, v + 1)));
        } else {
            let max_def = info.max_def;
            let (mut v, mut open): (u32, Option<u32>) = (0, None);
            for (k, &def) in defs.iter().enumerate().take(levels) {
                let starts = !info.list || reps.get(k).is_none_or(|&r| r == 0);
                if starts {
                    if let Some(s) = open {
                        rows.push((s, v));
                    }
                    open = Some(v);
                }
                if def >= max_def && (v as usize) < n_values {
                    v += 1;
                }
            }
            if let Some(s) = open {
                rows.push((s, v));
            }
        }
        Ok(Chunk { values, list: info.list, meaning: info.meaning, rows })
    }

    /// Whether the column is a list.
    pub(crate) fn is_list(&self) -> bool {
        self.list
    }

    /// The first (for a flat column, the only) value of row `r`, [`Cell::Null`] when none.
    pub(crate) fn cell(&self, r: usize) -> Cell<'_> {
        match self.rows.get(r) {
            Some(&(s, e)) if s < e => self.value(s as usize),
            _ => Cell::Null,
        }
    }

    /// Every value of row `r` (a list's elements; one or none for a flat column).
    pub(crate) fn cells(&self, r: usize) -> impl Iterator<Item = Cell<'_>> {
        let (s, e) = self.rows.get(r).copied().unwrap_or((0, 0));
        (s..e).map(|v| self.value(v as usize))
    }

    fn value(&self, v: usize) -> Cell<'_> {
        let m = self.meaning;
        match &self.values {
            Values::Bool(x) => x.get(v).map_or(Cell::Null, |&b| Cell::Bool(b)),
            Values::I32(x) => x.get(v).map_or(Cell::Null, |&i| integer(m, i64::from(i), i as u32 as u64)),
            Values::I64(x) => x.get(v).map_or(Cell::Null, |&i| integer(m, i, i as u64)),
            Values::I96(x) => x.get(v).map_or(Cell::Null, |t| Cell::Time(t.to_seconds())),
            Values::F32(x) => x.get(v).map_or(Cell::Null, |&f| Cell::Float(f64::from(f))),
            Values::F64(x) => x.get(v).map_or(Cell::Null, |&f| Cell::Float(f)),
            Values::Bytes(x) => x.get(v).map_or(Cell::Null, |b| bytes(m, b.data())),
            Values::Fixed(x) => x.get(v).map_or(Cell::Null, |b| bytes(m, b.data())),
        }
    }
}

/// An integer cell by its column's meaning.
fn integer(m: Meaning, signed: i64, unsigned: u64) -> Cell<'static> {
    match m {
        Meaning::UInt => Cell::UInt(unsigned),
        Meaning::Time { days: true, .. } => Cell::Time(signed.saturating_mul(86_400)),
        Meaning::Time { per_second, .. } => Cell::Time(signed.div_euclid(per_second.max(1))),
        Meaning::Decimal(scale) => Cell::Float(signed as f64 / 10f64.powi(scale)),
        _ => Cell::Int(signed),
    }
}

/// A byte-array cell by its column's meaning: text, a big-endian decimal or a half float.
fn bytes(m: Meaning, b: &[u8]) -> Cell<'_> {
    match m {
        Meaning::Decimal(scale) if !b.is_empty() && b.len() <= 16 => {
            let fill = if b[0] & 0x80 != 0 { 0xff } else { 0 };
            let mut wide = [fill; 16];
            wide[16 - b.len()..].copy_from_slice(b);
            Cell::Float(i128::from_be_bytes(wide) as f64 / 10f64.powi(scale))
        }
        Meaning::Float16 if b.len() == 2 => {
            Cell::Float(f64::from(half_to_f32(u16::from_le_bytes([b[0], b[1]]))))
        }
        _ => Cell::Text(b),
    }
}

/// An IEEE half float's value.
fn half_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f32::from(h & 0x3ff);
    sign * match exp {
        0 => frac * 2f32.powi(-24),
        31 if frac == 0.0 => f32::INFINITY,
        31 => f32::NAN,
        e => (1.0 + frac / 1024.0) * 2f32.powi(e - 15),
    }
}

/// One value of a row, as its column's types say it is to be read.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// Text or raw bytes.
    Text(&'a [u8]),
    /// Seconds since the epoch.
    Time(i64),
}

/// A batch of rows of the scanned columns.
pub(crate) struct Batch {
    /// Rows in the batch.
    pub rows: usize,
    /// The scanned columns, in the order asked for.
    pub columns: Vec<Chunk>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_floats_and_decimals_decode() {
        assert_eq!(half_to_f32(0x3c00), 1.0);
        assert_eq!(half_to_f32(0xc000), -2.0);
        assert_eq!(half_to_f32(0x3555), 0.333_251_95);
        assert!(half_to_f32(0x7e00).is_nan());
        assert_eq!(bytes(Meaning::Decimal(2), &[0x04, 0xd2]), Cell::Float(12.34));
        assert_eq!(bytes(Meaning::Decimal(1), &[0xff, 0xf6]), Cell::Float(-1.0));
        assert_eq!(bytes(Meaning::Text, b"abc"), Cell::Text(b"abc"));
        assert_eq!(integer(Meaning::Time { per_second: 1_000, days: false }, -1, 0), Cell::Time(-1));
        assert_eq!(integer(Meaning::Time { per_second: 1, days: true }, 2, 0), Cell::Time(172_800));
        assert_eq!(integer(Meaning::UInt, -1, u64::MAX), Cell::UInt(u64::MAX));
    }
}
