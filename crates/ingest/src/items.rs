//! Catalog files: GroupLens, RecBole and MovieLens item layouts and the shop's JSONL catalog.

use std::io::BufRead;

use serde_json::Value;

use crate::delimited::normalize;
use crate::fields::{self, text_or_latin1};
use crate::format::{ImportOptions, ItemFormat};
use crate::lines::{Fields, Records, Sep, Splitter};
use crate::report::{Bad, ImportError, ImportReport, reason};
use aisle_records::ItemRecord;

/// The 19 genre flags of GroupLens `u.item`, in file order.
const ML100K_GENRES: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

/// Column roles of a headed item file.
struct Columns {
    id: usize,
    title: Option<usize>,
    genres: Option<usize>,
    names: Vec<String>,
}

fn field_count(expected: usize, found: usize) -> Result<(), Bad> {
    if expected == found {
        return Ok(());
    }
    Err(Bad::new("row", reason::FIELD_COUNT, format!("expected {expected} fields, found {found}")))
}

fn item_id(b: &[u8]) -> Result<String, Bad> {
    fields::check_id("id", &text_or_latin1(b)).map(str::to_owned)
}

/// The item as the one validator sees it (text without control characters, labels as ids, a
/// price in range, bounded attributes).
fn checked(item: ItemRecord) -> Result<ItemRecord, Bad> {
    fields::checked_item(&item)?;
    Ok(item)
}

/// GroupLens `u.item`: `id|title|release date|video date|url|` + 19 flags.
fn ml100k(fields: Fields<'_>) -> Result<ItemRecord, Bad> {
    field_count(5 + ML100K_GENRES.len(), fields.len())?;
    let f = |k| fields.get(k);
    let mut meta = ItemRecord::new(item_id(f(0))?, text_or_latin1(f(1)));
    for (k, genre) in ML100K_GENRES.iter().enumerate() {
        match f(5 + k) {
            b"1" => meta.categories.push((*genre).to_owned()),
            b"0" => {}
            other => return Err(Bad::new("genres", reason::NUMBER, format!("flag {}", fields::show(other)))),
        }
    }
    for (k, key) in [(2, "release_date"), (4, "url")] {
        if !f(k).is_empty() {
            meta.attributes.insert(key.into(), Value::from(text_or_latin1(f(k)).into_owned()));
        }
    }
    Ok(meta)
}

/// GroupLens `movies.dat`: `id::title::Genre|Genre`.
fn ml1m(fields: Fields<'_>) -> Result<ItemRecord, Bad> {
    field_count(3, fields.len())?;
    let mut meta = ItemRecord::new(item_id(fields.get(0))?, text_or_latin1(fields.get(1)));
    meta.categories = split_genres(&text_or_latin1(fields.get(2)), '|');
    Ok(meta)
}

fn split_genres(s: &str, sep: char) -> Vec<String> {
    let parts = s.split(sep).map(str::trim);
    parts.filter(|g| !g.is_empty() && *g != "(no genres listed)").map(str::to_owned).collect()
}

/// A headed file (RecBole, MovieLens latest): known roles, other columns as attributes.
fn headed(cols: &Columns, genre_sep: char, fields: Fields<'_>) -> Result<ItemRecord, Bad> {
    field_count(cols.names.len(), fields.len())?;
    let f = |k| fields.get(k);
    let mut meta =
        ItemRecord::new(item_id(f(cols.id))?, cols.title.map_or("".into(), |k| text_or_latin1(f(k))));
    if let Some(k) = cols.genres {
        meta.categories = if genre_sep == ' ' {
            text_or_latin1(f(k)).split_whitespace().map(str::to_owned).collect()
        } else {
            split_genres(&text_or_latin1(f(k)), genre_sep)
        };
    }
    for (k, name) in cols.names.iter().enumerate() {
        if k == cols.id || Some(k) == cols.title || Some(k) == cols.genres || f(k).is_empty() {
            continue;
        }
        let text = text_or_latin1(f(k));
        let value = match text.parse::<f64>() {
            Ok(x) if name.contains("year") && x.is_finite() => Value::from(x.round() as i64),
            _ => Value::from(text.into_owned()),
        };
        meta.attributes.insert(name.clone(), value);
    }
    Ok(meta)
}

fn columns(names: Vec<String>, input: &str) -> Result<Columns, ImportError> {
    let find = |aliases: &[&str]| aliases.iter().find_map(|a| names.iter().position(|n| n == a));
    let id = find(&["item_id", "movieid", "id", "item"]).ok_or_else(|| ImportError::MissingColumn {
        input: input.to_owned(),
        column: "item_id",
        header: names.join(","),
    })?;
    let title = find(&["title", "movie_title"]);
    let genres = find(&["genres", "class", "categories"]);
    Ok(Columns { id, title, genres, names })
}

/// The shop catalog line: an [`ItemRecord`] object.
fn catalog_json(line: &[u8]) -> Result<ItemRecord, Bad> {
    let text = fields::utf8("json", line)?;
    let meta: ItemRecord =
        serde_json::from_str(text).map_err(|e| Bad::new("json", reason::JSON, e.to_string()))?;
    fields::check_id("id", &meta.id)?;
    Ok(meta)
}

/// The splitter of a format (none for JSONL) and whether it has a header.
fn layout(format: ItemFormat) -> (Option<Splitter>, bool) {
    match format {
        ItemFormat::Ml100kItem => (Some(Splitter::new(Sep::Byte(b'|'), false)), false),
        ItemFormat::RecBoleItem => (Some(Splitter::new(Sep::Byte(b'\t'), false)), true),
        ItemFormat::Ml1mMovies => (Some(Splitter::new(Sep::Str(b"::"), false)), false),
        ItemFormat::MlLatestMovies => (Some(Splitter::new(Sep::Byte(b','), true)), true),
        ItemFormat::CatalogJsonl | ItemFormat::CatalogParquet => (None, false),
    }
}

/// Parses one record of `format`.
fn parse(
    format: ItemFormat,
    cols: Option<&Columns>,
    fields: Fields<'_>,
    line: &[u8],
) -> Result<ItemRecord, Bad> {
    match (format, cols) {
        (ItemFormat::Ml100kItem, _) => ml100k(fields),
        (ItemFormat::Ml1mMovies, _) => ml1m(fields),
        (ItemFormat::RecBoleItem, Some(c)) => headed(c, ' ', fields),
        (ItemFormat::MlLatestMovies, Some(c)) => headed(c, '|', fields),
        (ItemFormat::CatalogJsonl, _) => catalog_json(line),
        (ItemFormat::CatalogParquet, _) => Err(Bad::new("row", reason::JSON, "Parquet is read from a file")),
        (ItemFormat::RecBoleItem | ItemFormat::MlLatestMovies, None) => {
            Err(Bad::new("row", reason::MISSING, "no header before this row"))
        }
    }
}

/// Reads every item of a catalog file, handing each valid one to `keep`.
pub(crate) fn read(
    reader: impl BufRead,
    report: &mut ImportReport,
    opts: ImportOptions,
    format: ItemFormat,
    mut keep: impl FnMut(ItemRecord, &mut ImportReport),
) -> Result<(), ImportError> {
    let (splitter, has_header) = layout(format);
    let mut records = Records::new(reader, splitter, &report.source.clone());
    let mut cols: Option<Columns> = None;
    while let Some(line_no) = records.next_row(report, &opts)? {
        let fields = records.fields();
        if has_header && cols.is_none() {
            let names = (0..fields.len()).map(|k| normalize(fields.get(k))).collect();
            cols = Some(columns(names, &report.source)?);
            continue;
        }
        report.rows += 1;
        match parse(format, cols.as_ref(), fields, records.line()).and_then(checked) {
            Ok(meta) => keep(meta, report),
            Err(bad) => report.reject(line_no, bad, &opts)?,
        }
    }
    Ok(())
}
