//! Delimited event files: GroupLens layouts, MovieLens CSV and general CSV/TSV.

use std::io::BufRead;

use crate::fields;
use crate::format::{Column, ColumnMap, EventFormat, Header, alias};
use crate::importer::{Decoded, Importer, Sink, kind_and_value};
use crate::lines::{Fields, Records, Sep, Splitter};
use crate::report::{Bad, ImportError, reason};

/// How to read one delimited format.
pub(crate) struct Spec {
    sep: Sep,
    quoting: bool,
    header: Header,
    columns: ColumnMap,
    /// A fixed headerless layout (GroupLens files).
    fixed: Option<Layout>,
    /// MovieLens latest: the rating column is required and movie columns fill the catalog.
    movielens: bool,
}

/// Resolved column positions.
#[derive(Clone, Debug, PartialEq)]
struct Layout {
    user: usize,
    item: usize,
    value: Option<usize>,
    ts: Option<usize>,
    kind: Option<usize>,
    event_id: Option<usize>,
    session_id: Option<usize>,
    /// Title, genres and year columns (MovieLens latest joined file).
    movie: Option<[Option<usize>; 3]>,
    n_fields: usize,
}

const GROUPLENS: Layout = Layout {
    user: 0,
    item: 1,
    value: Some(2),
    ts: Some(3),
    kind: None,
    event_id: None,
    session_id: None,
    movie: None,
    n_fields: 4,
};

impl Spec {
    pub(crate) fn of(format: &EventFormat) -> Result<Spec, ImportError> {
        let plain = |sep, header, fixed: Option<Layout>, movielens| Spec {
            sep,
            quoting: fixed.is_none(),
            header,
            columns: ColumnMap::default(),
            fixed,
            movielens,
        };
        Ok(match format {
            EventFormat::Ml100k => plain(Sep::Byte(b'\t'), Header::No, Some(GROUPLENS), false),
            EventFormat::Ml1m => plain(Sep::Str(b"::"), Header::No, Some(GROUPLENS), false),
            EventFormat::MlLatest => plain(Sep::Byte(b','), Header::Yes, None, true),
            EventFormat::Delimited(o) => {
                if matches!(o.delimiter, b'"' | b'\n' | b'\r') {
                    return Err(ImportError::InvalidOptions {
                        reason: format!("delimiter {:?} cannot separate fields", char::from(o.delimiter)),
                    });
                }
                Spec {
                    sep: Sep::Byte(o.delimiter),
                    quoting: true,
                    header: o.header,
                    columns: o.columns.clone(),
                    fixed: None,
                    movielens: false,
                }
            }
            EventFormat::Jsonl | EventFormat::Parquet(_) => {
                return Err(ImportError::InvalidOptions {
                    reason: "JSONL and Parquet are not delimited".into(),
                });
            }
        })
    }
}

/// A header name, lower case, without a RecBole `:type` suffix.
pub(crate) fn normalize(name: &[u8]) -> String {
    let s = fields::text_or_latin1(name).to_ascii_lowercase();
    match s.split_once(':') {
        Some((head, _)) => head.to_owned(),
        None => s,
    }
}

/// True when a first row looks like a header (see [`Header::Auto`]).
fn looks_like_header(names: &[String], columns: &ColumnMap) -> bool {
    let named = [
        &columns.user,
        &columns.item,
        &columns.value,
        &columns.timestamp,
        &columns.kind,
        &columns.event_id,
        &columns.session_id,
    ];
    names.iter().any(|n| {
        alias::ALL.iter().any(|a| a.contains(&n.as_str()))
            || named.iter().any(|c| matches!(c, Column::Name(x) if normalize(x.as_bytes()) == *n))
    })
}

/// Where `col` is in a header; `Ok(None)` when absent.
fn find_named(
    col: &Column,
    field: &'static str,
    aliases: &[&str],
    names: &[String],
    input: &str,
) -> Result<Option<usize>, ImportError> {
    let missing =
        || ImportError::MissingColumn { input: input.to_owned(), column: field, header: names.join(",") };
    match col {
        Column::Auto => Ok(aliases.iter().find_map(|a| names.iter().position(|n| n == a))),
        Column::Name(x) => {
            let x = normalize(x.as_bytes());
            names.iter().position(|n| *n == x).map(Some).ok_or_else(missing)
        }
        Column::Index(i) if *i < names.len() => Ok(Some(*i)),
        Column::Index(_) => Err(missing()),
        Column::Absent => Ok(None),
    }
}

fn required(
    pos: Option<usize>,
    field: &'static str,
    names: &[String],
    input: &str,
) -> Result<usize, ImportError> {
    pos.ok_or_else(|| ImportError::MissingColumn {
        input: input.to_owned(),
        column: field,
        header: names.join(","),
    })
}

/// The layout given by a header row.
fn from_header(spec: &Spec, names: &[String], input: &str) -> Result<Layout, ImportError> {
    let c = &spec.columns;
    let user = required(find_named(&c.user, "user", alias::USER, names, input)?, "user", names, input)?;
    let item = required(find_named(&c.item, "item", alias::ITEM, names, input)?, "item", names, input)?;
    let mut value = find_named(&c.value, "value", alias::VALUE, names, input)?;
    if spec.movielens {
        value = Some(required(value, "rating", names, input)?);
    }
    let pos = |n: &str| names.iter().position(|x| x == n);
    let movie = spec.movielens.then(|| [pos("title"), pos("genres"), pos("year")]).filter(|m| m[0].is_some());
    Ok(Layout {
        user,
        item,
        value,
        ts: find_named(&c.timestamp, "timestamp", alias::TIMESTAMP, names, input)?,
        kind: find_named(&c.kind, "type", alias::KIND, names, input)?,
        event_id: find_named(&c.event_id, "event_id", alias::EVENT_ID, names, input)?,
        session_id: find_named(&c.session_id, "session_id", alias::SESSION_ID, names, input)?,
        movie,
        n_fields: names.len(),
    })
}

/// The layout of a headerless file whose first row has `n` fields.
fn headerless(c: &ColumnMap, n: usize) -> Result<Layout, ImportError> {
    let pos = |col: &Column, field: &str, default: Option<usize>| match col {
        Column::Auto => Ok(default.filter(|&d| d < n)),
        Column::Index(i) => Ok(Some(*i)),
        Column::Absent => Ok(None),
        Column::Name(x) => Err(ImportError::InvalidOptions {
            reason: format!("the {field} column is named {x:?} but the file has no header"),
        }),
    };
    let need = |p: Option<usize>, field: &str| {
        p.ok_or_else(|| ImportError::InvalidOptions {
            reason: format!("the {field} column cannot be absent"),
        })
    };
    let user = need(pos(&c.user, "user", Some(0))?, "user")?;
    let item = need(pos(&c.item, "item", Some(1))?, "item")?;
    let mut layout = Layout {
        user,
        item,
        value: pos(&c.value, "value", Some(2))?,
        ts: pos(&c.timestamp, "timestamp", Some(3))?,
        kind: pos(&c.kind, "type", None)?,
        event_id: pos(&c.event_id, "event_id", None)?,
        session_id: pos(&c.session_id, "session_id", None)?,
        movie: None,
        n_fields: n,
    };
    let widest =
        [Some(user), Some(item), layout.value, layout.ts, layout.kind, layout.event_id, layout.session_id];
    layout.n_fields = widest.into_iter().flatten().map(|k| k + 1).fold(n, usize::max);
    Ok(layout)
}

/// Decodes one split row.
fn decode<'a>(layout: &Layout, fields: Fields<'a>, line: u64) -> Result<Decoded<'a>, Bad> {
    if fields.len() != layout.n_fields {
        let detail = format!("expected {} fields, found {}", layout.n_fields, fields.len());
        return Err(Bad::new("row", reason::FIELD_COUNT, detail));
    }
    let f = |k: usize| fields.get(k);
    let user = fields::id("user", f(layout.user))?;
    let item = fields::id("item", f(layout.item))?;
    let kind = match layout.kind {
        Some(k) => fields::kind(f(k))?,
        None => None,
    };
    let value = match layout.value {
        Some(k) => fields::value(f(k))?,
        None => None,
    };
    let (kind, value) = kind_and_value(kind, value)?;
    let ts = match layout.ts {
        Some(k) => fields::timestamp(f(k))?,
        None => 0,
    };
    let event_id = match layout.event_id.map(f) {
        Some(b) if !b.is_empty() => Some(fields::id("event_id", b)?),
        _ => None,
    };
    let session_id = match layout.session_id.map(f) {
        Some(b) if !b.is_empty() => Some(fields::id("session_id", b)?),
        _ => None,
    };
    let movie = layout.movie.map(|cols| cols.map(|c| c.map_or(&[][..], f)));
    Ok(Decoded { user, item, kind, value, ts, event_id, session_id, movie, line })
}

/// Reads every row of a delimited file into `sink`.
pub(crate) fn read(
    imp: &mut Importer,
    reader: impl BufRead,
    sink: &mut Sink<'_>,
    spec: Spec,
) -> Result<(), ImportError> {
    let input = sink.report.source.clone();
    let mut records = Records::new(reader, Some(Splitter::new(spec.sep.clone(), spec.quoting)), &input);
    let mut layout = spec.fixed.clone();
    while let Some(line_no) = records.next_row(&mut sink.report, imp.options())? {
        let fields = records.fields();
        let l = match &layout {
            Some(l) => l,
            None => match first_row(&spec, fields, &input)? {
                FirstRow::Header(l) => {
                    layout = Some(l);
                    continue;
                }
                FirstRow::Data(l) => &*layout.insert(l),
            },
        };
        sink.report.rows += 1;
        if let Err(bad) = decode(l, fields, line_no).and_then(|d| imp.accept(sink, d)) {
            imp.reject(sink, line_no, bad)?;
        }
        imp.pass_on(sink)?;
    }
    if layout.is_none() && spec.header == Header::Yes {
        return Err(ImportError::MissingColumn { input, column: "user", header: String::new() });
    }
    Ok(())
}

/// The layout a file's first row gives, and whether that row was a header.
enum FirstRow {
    Header(Layout),
    Data(Layout),
}

fn first_row(spec: &Spec, fields: Fields<'_>, input: &str) -> Result<FirstRow, ImportError> {
    let names: Vec<String> = (0..fields.len()).map(|k| normalize(fields.get(k))).collect();
    let header = match spec.header {
        Header::Yes => true,
        Header::No => false,
        Header::Auto => looks_like_header(&names, &spec.columns),
    };
    Ok(if header {
        FirstRow::Header(from_header(spec, &names, input)?)
    } else {
        FirstRow::Data(headerless(&spec.columns, fields.len())?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| normalize(x.as_bytes())).collect()
    }

    #[test]
    fn header_aliases_resolve_case_insensitively() {
        let spec = Spec::of(&EventFormat::csv()).unwrap();
        let l = from_header(&spec, &names(&["UserId", "movieId", "Rating", "ts", "x"]), "f").unwrap();
        assert_eq!((l.user, l.item, l.value, l.ts, l.kind, l.n_fields), (0, 1, Some(2), Some(3), None, 5));
        let l = from_header(&spec, &names(&["item_id:token", "user_id:token"]), "f").unwrap();
        assert_eq!((l.user, l.item, l.value), (1, 0, None));
        let err = from_header(&spec, &names(&["user", "thing"]), "f").unwrap_err();
        assert!(matches!(err, ImportError::MissingColumn { column: "item", .. }), "{err}");
    }

    #[test]
    fn auto_header_needs_a_known_name() {
        let c = ColumnMap::default();
        assert!(looks_like_header(&names(&["user_id", "sku"]), &c));
        assert!(!looks_like_header(&names(&["u1", "i1", "view"]), &c));
        let named = ColumnMap { user: Column::Name("Customer".into()), ..ColumnMap::default() };
        assert!(looks_like_header(&names(&["customer", "x"]), &named));
    }

    #[test]
    fn headerless_defaults_follow_the_row_width() {
        let l = headerless(&ColumnMap::default(), 2).unwrap();
        assert_eq!((l.value, l.ts, l.n_fields), (None, None, 2));
        let c = ColumnMap { kind: Column::Index(4), ..ColumnMap::default() };
        let l = headerless(&c, 5).unwrap();
        assert_eq!((l.value, l.ts, l.kind), (Some(2), Some(3), Some(4)));
        let c = ColumnMap { user: Column::Name("u".into()), ..ColumnMap::default() };
        assert!(matches!(headerless(&c, 3), Err(ImportError::InvalidOptions { .. })));
    }
}
