//! Writing Parquet: flat columns and lists of text or floats, row by row, in row groups of a
//! bounded number of rows, snappy-compressed (what Spark, BigQuery and pandas read by default).

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, FloatType, Int32Type, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

/// Rows per row group by default: 256k rows of events are ≈ 40 MB before compression.
const GROUP_ROWS: usize = 1 << 18;

/// What a column holds.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    /// UTF-8 text.
    Text,
    /// A 32-bit integer.
    Int32,
    /// A 64-bit integer.
    Int64,
    /// A 32-bit float.
    Float,
    /// A 64-bit float.
    Double,
    /// A boolean.
    Bool,
    /// Milliseconds since the epoch, UTC (`TIMESTAMP(MILLIS, true)`).
    TimestampMillis,
    /// A list of texts (`list<string>`), never null (an empty list instead).
    TextList,
    /// A list of 32-bit floats (`list<float>`), never null.
    FloatList,
}

/// One cell of a row being written: the variant must match the column's [`ColumnKind`]
/// (`Int` for both integer kinds and timestamps), and `Null` needs a nullable column.
#[derive(Copy, Clone, Debug)]
pub enum Put<'a> {
    /// No value.
    Null,
    /// Text.
    Text(&'a str),
    /// An integer or a timestamp.
    Int(i64),
    /// A float of either width.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A list of texts.
    Texts(&'a [String]),
    /// A list of floats.
    Floats(&'a [f32]),
}

/// One column's buffered values and levels.
#[derive(Default)]
struct Buffer {
    bytes: Vec<ByteArray>,
    ints: Vec<i64>,
    floats: Vec<f64>,
    f32s: Vec<f32>,
    bools: Vec<bool>,
    defs: Vec<i16>,
    reps: Vec<i16>,
}

/// A Parquet file being written row by row.
pub struct ParquetWriter {
    writer: SerializedFileWriter<BufWriter<File>>,
    columns: Vec<(String, ColumnKind, bool)>,
    buffers: Vec<Buffer>,
    pending: usize,
    group_rows: usize,
    rows: u64,
}

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// The schema line of one column.
fn schema_line(name: &str, kind: ColumnKind, nullable: bool) -> String {
    let rep = if nullable { "optional" } else { "required" };
    match kind {
        ColumnKind::Text => format!("{rep} binary {name} (STRING);"),
        ColumnKind::Int32 => format!("{rep} int32 {name};"),
        ColumnKind::Int64 => format!("{rep} int64 {name};"),
        ColumnKind::Float => format!("{rep} float {name};"),
        ColumnKind::Double => format!("{rep} double {name};"),
        ColumnKind::Bool => format!("{rep} boolean {name};"),
        ColumnKind::TimestampMillis => format!("{rep} int64 {name} (TIMESTAMP(MILLIS,true));"),
        ColumnKind::TextList => {
            format!(
                "required group {name} (LIST) {{ repeated group list {{ required binary element (STRING); }} }}"
            )
        }
        ColumnKind::FloatList => {
            format!("required group {name} (LIST) {{ repeated group list {{ required float element; }} }}")
        }
    }
}

impl ParquetWriter {
    /// Creates `path` with these columns (`name`, kind, nullable; names are plain identifiers)
    /// and key-value metadata (what a reader such as Spark shows as the file's properties).
    pub fn create(
        path: &Path,
        columns: &[(&str, ColumnKind, bool)],
        metadata: &[(&str, String)],
    ) -> std::io::Result<ParquetWriter> {
        let lines: Vec<String> = columns.iter().map(|&(n, k, null)| schema_line(n, k, null)).collect();
        let schema =
            parse_message_type(&format!("message aisle {{ {} }}", lines.join(" "))).map_err(other)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("aisle {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(
                metadata.iter().map(|(k, v)| KeyValue::new((*k).to_owned(), v.clone())).collect(),
            ))
            .build();
        let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
        let writer = SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props)).map_err(other)?;
        Ok(ParquetWriter {
            writer,
            columns: columns.iter().map(|&(n, k, null)| (n.to_owned(), k, null)).collect(),
            buffers: columns.iter().map(|_| Buffer::default()).collect(),
            pending: 0,
            group_rows: GROUP_ROWS,
            rows: 0,
        })
    }

    /// Rows per row group (at least 1); 262,144 by default.
    pub fn with_group_rows(mut self, rows: usize) -> Self {
        self.group_rows = rows.max(1);
        self
    }

    /// Adds a row: one cell per column, in order.
    pub fn push(&mut self, row: &[Put<'_>]) -> std::io::Result<()> {
        if row.len() != self.columns.len() {
            return Err(other(format!("a row of {} cells for {} columns", row.len(), self.columns.len())));
        }
        // Checked whole before any buffer changes, so a refused row leaves the file as it was.
        for (cell, (name, kind, nullable)) in row.iter().zip(&self.columns) {
            if !fits(*kind, *nullable, cell) {
                return Err(other(format!("column {name}: {cell:?} does not fit a {kind:?} column")));
            }
        }
        for ((cell, (_, kind, nullable)), buf) in row.iter().zip(&self.columns).zip(&mut self.buffers) {
            if *nullable {
                buf.defs.push(i16::from(!matches!(cell, Put::Null)));
            }
            match (kind, cell) {
                (ColumnKind::Text, Put::Text(t)) => buf.bytes.push(ByteArray::from(t.as_bytes().to_vec())),
                (ColumnKind::Int32 | ColumnKind::Int64 | ColumnKind::TimestampMillis, Put::Int(i)) => {
                    buf.ints.push(*i)
                }
                (ColumnKind::Float | ColumnKind::Double, Put::Float(f)) => buf.floats.push(*f),
                (ColumnKind::Bool, Put::Bool(b)) => buf.bools.push(*b),
                (ColumnKind::TextList, Put::Texts(ts)) => {
                    list_levels(buf, ts.len());
                    buf.bytes.extend(ts.iter().map(|t| ByteArray::from(t.as_bytes().to_vec())));
                }
                (ColumnKind::FloatList, Put::Floats(fs)) => {
                    list_levels(buf, fs.len());
                    buf.f32s.extend_from_slice(fs);
                }
                _ => {}
            }
        }
        self.pending += 1;
        self.rows += 1;
        if self.pending >= self.group_rows {
            self.flush_group()?;
        }
        Ok(())
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes the buffered rows as one row group.
    fn flush_group(&mut self) -> std::io::Result<()> {
        if self.pending == 0 {
            return Ok(());
        }
        let mut group = self.writer.next_row_group().map_err(other)?;
        for ((_, kind, nullable), buf) in self.columns.iter().zip(&mut self.buffers) {
            let Some(mut col) = group.next_column().map_err(other)? else {
                return Err(other("the schema has fewer columns than the writer"));
            };
            let list = matches!(kind, ColumnKind::TextList | ColumnKind::FloatList);
            let defs = (*nullable || list).then_some(buf.defs.as_slice());
            let reps = list.then_some(buf.reps.as_slice());
            let written = match kind {
                ColumnKind::Text | ColumnKind::TextList => {
                    col.typed::<ByteArrayType>().write_batch(&buf.bytes, defs, reps)
                }
                ColumnKind::Int32 => {
                    let ints: Vec<i32> = buf.ints.iter().map(|&i| i as i32).collect();
                    col.typed::<Int32Type>().write_batch(&ints, defs, reps)
                }
                ColumnKind::Int64 | ColumnKind::TimestampMillis => {
                    col.typed::<Int64Type>().write_batch(&buf.ints, defs, reps)
                }
                ColumnKind::Float => {
                    let fs: Vec<f32> = buf.floats.iter().map(|&f| f as f32).collect();
                    col.typed::<FloatType>().write_batch(&fs, defs, reps)
                }
                ColumnKind::FloatList => col.typed::<FloatType>().write_batch(&buf.f32s, defs, reps),
                ColumnKind::Double => col.typed::<DoubleType>().write_batch(&buf.floats, defs, reps),
                ColumnKind::Bool => col.typed::<BoolType>().write_batch(&buf.bools, defs, reps),
            };
            written.map_err(other)?;
            col.close().map_err(other)?;
            *buf = Buffer::default();
        }
        group.close().map_err(other)?;
        self.pending = 0;
        Ok(())
    }

    /// Writes what is buffered and the footer.
    pub fn finish(mut self) -> std::io::Result<u64> {
        self.flush_group()?;
        let rows = self.rows;
        let mut inner = self.writer.into_inner().map_err(other)?;
        std::io::Write::flush(&mut inner)?;
        inner.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(rows)
    }
}

/// Whether `cell` can go in a column of `kind`.
fn fits(kind: ColumnKind, nullable: bool, cell: &Put<'_>) -> bool {
    use ColumnKind as K;
    match cell {
        Put::Null => nullable,
        Put::Text(_) => kind == K::Text,
        Put::Int(_) => matches!(kind, K::Int32 | K::Int64 | K::TimestampMillis),
        Put::Float(_) => matches!(kind, K::Float | K::Double),
        Put::Bool(_) => kind == K::Bool,
        Put::Texts(_) => kind == K::TextList,
        Put::Floats(_) => kind == K::FloatList,
    }
}

/// The levels of a list of `n` required elements in a required list column: an empty list is
/// one level at definition 0; otherwise one per element, the first starting the row.
fn list_levels(buf: &mut Buffer, n: usize) {
    if n == 0 {
        buf.defs.push(0);
        buf.reps.push(0);
        return;
    }
    buf.defs.extend(std::iter::repeat_n(1, n));
    buf.reps.push(0);
    buf.reps.extend(std::iter::repeat_n(1, n - 1));
}
