//! Events, catalog items and user attributes from Parquet, decoded cell by cell with the same
//! validation as the text formats: a row's number is its line in reports (1-based, across row
//! groups), and a cell that cannot be its field is that row's rejection.

use std::borrow::Cow;
use std::path::Path;

use aisle_records::ItemRecord;
use serde_json::Value;

use super::{Batch, Cell, Table};
use crate::fields;
use crate::format::{Column, ColumnMap, ImportOptions, alias};
use crate::importer::{Decoded, Importer, Sink, kind_and_value};
use crate::report::{Bad, ImportError, ImportReport, reason};

/// Longest text cell kept as an attribute, in bytes (longer ones are rejected with the row, by
/// the item validator for items, here for user attributes).
const MAX_ATTRIBUTE_BYTES: usize = 1_024;

/// What a cell of the wrong type for its field says.
fn wrong_type(field: &'static str, cell: Cell<'_>) -> Bad {
    let what = match cell {
        Cell::Null => "null",
        Cell::Bool(_) => "a boolean",
        Cell::Int(_) | Cell::UInt(_) => "an integer",
        Cell::Float(_) => "a float",
        Cell::Text(_) => "text",
        Cell::Time(_) => "a timestamp",
    };
    Bad::new(field, reason::TYPE, format!("{what} cannot be a {field}"))
}

/// An id: text, or an integer (also an integral float, as pandas writes integer ids with nulls)
/// in decimal. `None` for null.
fn id<'a>(field: &'static str, cell: Cell<'a>) -> Result<Option<Cow<'a, str>>, Bad> {
    let owned = match cell {
        Cell::Null => return Ok(None),
        Cell::Text(b) => return fields::id(field, b).map(|s| Some(Cow::Borrowed(s))),
        Cell::Int(i) => i.to_string(),
        Cell::UInt(u) => u.to_string(),
        Cell::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => (f as i64).to_string(),
        other => return Err(wrong_type(field, other)),
    };
    Ok(Some(Cow::Owned(owned)))
}

fn required_id<'a>(field: &'static str, cell: Cell<'a>) -> Result<Cow<'a, str>, Bad> {
    id(field, cell)?.ok_or_else(|| Bad::new(field, reason::EMPTY_ID, "null"))
}

/// A number (value, price): integers, floats, decimals, numeric text; a boolean as 1 or 0.
fn number(field: &'static str, cell: Cell<'_>) -> Result<Option<f64>, Bad> {
    let x = match cell {
        Cell::Null => return Ok(None),
        Cell::Bool(b) => f64::from(u8::from(b)),
        Cell::Int(i) => i as f64,
        Cell::UInt(u) => u as f64,
        Cell::Float(f) => f,
        Cell::Text([]) => return Ok(None),
        Cell::Text(b) => fields::utf8(field, b)?
            .trim()
            .parse::<f64>()
            .map_err(|_| Bad::new(field, reason::NUMBER, fields::show(b)))?,
        other @ Cell::Time(_) => return Err(wrong_type(field, other)),
    };
    if x.is_finite() { Ok(Some(x)) } else { Err(Bad::new(field, reason::NON_FINITE, x.to_string())) }
}

/// An event value: a finite number that fits an `f32`.
fn value(cell: Cell<'_>) -> Result<Option<f32>, Bad> {
    match number("value", cell)? {
        Some(x) => fields::check_finite(x as f32).map(Some),
        None => Ok(None),
    }
}

/// Seconds since the epoch: a timestamp or date column, integers and floats by the text rule
/// (milliseconds from 10¹¹ up), any text form the text formats accept; null is unknown (0).
fn timestamp(cell: Cell<'_>) -> Result<i64, Bad> {
    let bad = || Bad::new("timestamp", reason::TIMESTAMP, format!("{cell:?}"));
    match cell {
        Cell::Null => Ok(0),
        Cell::Time(s) => Ok(s),
        Cell::Int(i) => Ok(fields::seconds_from_int(i)),
        Cell::UInt(u) => i64::try_from(u).map(fields::seconds_from_int).map_err(|_| bad()),
        Cell::Float(f) => fields::seconds_from_f64(f).ok_or_else(bad),
        Cell::Text(b) => fields::timestamp(b),
        other @ Cell::Bool(_) => Err(wrong_type("timestamp", other)),
    }
}

/// The position of `col` among the table's columns; `Ok(None)` when absent.
fn find(
    table: &Table,
    col: &Column,
    field: &'static str,
    aliases: &[&str],
) -> Result<Option<usize>, ImportError> {
    match col {
        Column::Auto => table.first_of(aliases),
        Column::Name(x) => table.find(&x.to_ascii_lowercase())?.map(Some).ok_or_else(|| table.missing(field)),
        Column::Index(i) if *i < table.columns().len() => Ok(Some(*i)),
        Column::Index(_) => Err(table.missing(field)),
        Column::Absent => Ok(None),
    }
}

/// Reads every row of a Parquet event file into `sink`. Columns are found by name, as in a
/// delimited file's header ([`ColumnMap`]; [`Column::Index`] counts the usable columns).
///
/// `path` may be a folder of part files ([`super::parts`]): each is read in turn, its columns
/// found by its own schema, and rows are numbered across them.
pub(crate) fn read_events(
    imp: &mut Importer,
    path: &Path,
    sink: &mut Sink<'_>,
    map: &ColumnMap,
) -> Result<(), ImportError> {
    each_part(path, |table| events_of(imp, table, sink, map))
}

/// Opens each Parquet file at `path` in turn, numbering its rows after the earlier files'.
fn each_part(
    path: &Path,
    mut read: impl FnMut(&Table) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    let mut offset = 0;
    for part in super::parts(path)? {
        let table = Table::open(&part)?.after(offset);
        offset += table.rows();
        read(&table)?;
    }
    Ok(())
}

fn events_of(
    imp: &mut Importer,
    table: &Table,
    sink: &mut Sink<'_>,
    map: &ColumnMap,
) -> Result<(), ImportError> {
    let need = |pos: Option<usize>, field| pos.ok_or_else(|| table.missing(field));
    let user = need(find(table, &map.user, "user", alias::USER)?, "user")?;
    let item = need(find(table, &map.item, "item", alias::ITEM)?, "item")?;
    let optional = [
        find(table, &map.value, "value", alias::VALUE)?,
        find(table, &map.timestamp, "timestamp", alias::TIMESTAMP)?,
        find(table, &map.kind, "type", alias::KIND)?,
        find(table, &map.event_id, "event_id", alias::EVENT_ID)?,
        find(table, &map.session_id, "session_id", alias::SESSION_ID)?,
    ];
    // The scanned columns, and where each field is among them.
    let mut wanted = vec![user, item];
    let slots: Vec<Option<usize>> = optional
        .iter()
        .map(|p| {
            p.map(|k| {
                wanted.push(k);
                wanted.len() - 1
            })
        })
        .collect();
    // An event has one user, one item, one time...: a list column cannot be any of them.
    if let Some(&k) = wanted.iter().find(|&&k| table.columns()[k].list) {
        let name = &table.columns()[k].original;
        return Err(ImportError::Unreadable {
            input: table.source().to_owned(),
            reason: format!("column {name:?} is a list; an event field needs one value per row"),
        });
    }
    table.scan(&wanted, |batch, first| {
        for r in 0..batch.rows {
            let line = first + r as u64;
            sink.report.rows += 1;
            let cell = |slot: Option<usize>| slot.map_or(Cell::Null, |s| batch.columns[s].cell(r));
            let decoded = decode_event(&cell, &slots, line);
            if let Err(bad) = decoded.and_then(|d| d.accept(imp, sink)) {
                imp.reject(sink, line, bad)?;
            }
            imp.pass_on(sink)?;
        }
        Ok(())
    })
}

/// An event's fields as the row holds them, owned where a number became an id.
struct Row<'a> {
    user: Cow<'a, str>,
    item: Cow<'a, str>,
    kind: aisle_core::EventKind,
    value: f32,
    ts: i64,
    event_id: Option<Cow<'a, str>>,
    session_id: Option<Cow<'a, str>>,
    line: u64,
}

impl Row<'_> {
    fn accept(self, imp: &mut Importer, sink: &mut Sink<'_>) -> Result<(), Bad> {
        imp.accept(
            sink,
            Decoded {
                user: &self.user,
                item: &self.item,
                kind: self.kind,
                value: self.value,
                ts: self.ts,
                event_id: self.event_id.as_deref(),
                session_id: self.session_id.as_deref(),
                movie: None,
                line: self.line,
            },
        )
    }
}

fn decode_event<'a>(
    cell: &impl Fn(Option<usize>) -> Cell<'a>,
    slots: &[Option<usize>],
    line: u64,
) -> Result<Row<'a>, Bad> {
    let user = required_id("user", cell(Some(0)))?;
    let item = required_id("item", cell(Some(1)))?;
    let kind = match cell(slots[2]) {
        Cell::Null => None,
        Cell::Text(b) => fields::kind(b)?,
        other => return Err(wrong_type("type", other)),
    };
    let (kind, value) = kind_and_value(kind, value(cell(slots[0]))?)?;
    let ts = timestamp(cell(slots[1]))?;
    let event_id = id("event_id", cell(slots[3]))?;
    let session_id = id("session_id", cell(slots[4]))?;
    Ok(Row { user, item, kind, value, ts, event_id, session_id, line })
}

/// A cell as an attribute value: text, a number or a boolean; `None` for null or empty text.
fn attribute(field: &'static str, cell: Cell<'_>) -> Result<Option<Value>, Bad> {
    Ok(Some(match cell {
        Cell::Null => return Ok(None),
        Cell::Text(b) => {
            let s = fields::utf8(field, b)?.trim();
            if s.is_empty() {
                return Ok(None);
            }
            if s.len() > MAX_ATTRIBUTE_BYTES {
                return Err(Bad::new(
                    field,
                    reason::BAD_ITEM,
                    format!("longer than {MAX_ATTRIBUTE_BYTES} bytes"),
                ));
            }
            Value::from(s)
        }
        Cell::Bool(b) => Value::from(b),
        Cell::Int(i) => Value::from(i),
        Cell::UInt(u) => Value::from(u),
        Cell::Float(f) if f.is_finite() => Value::from(f),
        Cell::Float(f) => return Err(Bad::new(field, reason::NON_FINITE, f.to_string())),
        Cell::Time(s) => Value::from(s),
    }))
}

/// An `attributes` cell: a JSON object as text.
fn json_object(b: &[u8]) -> Result<serde_json::Map<String, Value>, Bad> {
    match serde_json::from_str::<Value>(fields::utf8("attributes", b)?) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Bad::new("attributes", reason::JSON, "not a JSON object")),
        Err(e) => Err(Bad::new("attributes", reason::JSON, e.to_string())),
    }
}

/// Text cells of a row (a list column's elements, or one text cell).
fn texts(field: &'static str, batch: &Batch, slot: Option<usize>, r: usize) -> Result<Vec<String>, Bad> {
    let Some(s) = slot else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for cell in batch.columns[s].cells(r) {
        match cell {
            Cell::Null => {}
            Cell::Text(b) => {
                let t = fields::utf8(field, b)?.trim();
                if !t.is_empty() {
                    out.push(t.to_owned());
                }
            }
            other => return Err(wrong_type(field, other)),
        }
    }
    Ok(out)
}

/// Reads a Parquet catalog: `id` (or `item_id`, `product_id`, `sku`, ...), `title` (or `name`),
/// `description`, `categories` and `tags` (lists of text, or one text each), `brand`, `price`,
/// `in_stock` (boolean or number), `attributes` (a JSON object as text); every other column is
/// an attribute. Each valid item goes to `keep`.
pub(crate) fn read_items(
    path: &Path,
    report: &mut ImportReport,
    opts: ImportOptions,
    mut keep: impl FnMut(ItemRecord, &mut ImportReport),
) -> Result<(), ImportError> {
    each_part(path, |table| items_of(table, report, opts, &mut keep))
}

fn items_of(
    table: &Table,
    report: &mut ImportReport,
    opts: ImportOptions,
    keep: &mut impl FnMut(ItemRecord, &mut ImportReport),
) -> Result<(), ImportError> {
    let pick = |names: &[&str]| table.first_of(names);
    let id = pick(&["id", "item_id", "itemid", "product_id", "productid", "sku", "movieid", "item"])?
        .ok_or_else(|| table.missing("id"))?;
    let roles = [
        pick(&["title", "name"])?,
        pick(&["description"])?,
        pick(&["categories", "category", "genres"])?,
        pick(&["tags", "tag"])?,
        pick(&["brand"])?,
        pick(&["price"])?,
        pick(&["in_stock", "instock", "available"])?,
        pick(&["attributes"])?,
    ];
    let mut wanted: Vec<usize> = vec![id];
    wanted.extend(roles.iter().flatten());
    // `updated_at` is the store's bookkeeping (what `aisle export` writes), not an attribute.
    let others: Vec<usize> = (0..table.columns().len())
        .filter(|k| !wanted.contains(k) && table.columns()[*k].name != "updated_at")
        .collect();
    wanted.extend(&others);
    let slot = |k: Option<usize>| k.and_then(|k| wanted.iter().position(|&w| w == k));
    let slots: Vec<Option<usize>> = roles.iter().map(|&k| slot(k)).collect();
    let names: Vec<String> = wanted.iter().map(|&k| table.columns()[k].name.clone()).collect();
    let first_other = 1 + roles.iter().flatten().count();
    table.scan(&wanted, |batch, first| {
        for r in 0..batch.rows {
            report.rows += 1;
            let item = item_row(batch, r, &slots, first_other, &names).and_then(|item| {
                fields::checked_item(&item)?;
                Ok(item)
            });
            match item {
                Ok(item) => keep(item, report),
                Err(bad) => report.reject(first + r as u64, bad, &opts)?,
            }
        }
        Ok(())
    })
}

fn item_row(
    batch: &Batch,
    r: usize,
    slots: &[Option<usize>],
    first_other: usize,
    names: &[String],
) -> Result<ItemRecord, Bad> {
    let cell = |s: Option<usize>| s.map_or(Cell::Null, |s| batch.columns[s].cell(r));
    let text = |field: &'static str, s: Option<usize>| -> Result<String, Bad> {
        Ok(match attribute(field, cell(s))? {
            Some(Value::String(t)) => t,
            Some(other) => other.to_string(),
            None => String::new(),
        })
    };
    let id = required_id("id", batch.columns[0].cell(r))?.into_owned();
    let mut item = ItemRecord::new(id, text("title", slots[0])?);
    item.description = text("description", slots[1])?;
    item.categories = texts("categories", batch, slots[2], r)?;
    item.tags = texts("tags", batch, slots[3], r)?;
    item.brand = Some(text("brand", slots[4])?).filter(|b| !b.is_empty());
    item.price = number("price", cell(slots[5]))?;
    item.in_stock = match cell(slots[6]) {
        Cell::Null => true,
        other => number("in_stock", other)?.is_none_or(|x| x != 0.0),
    };
    if let Some(s) = slots[7] {
        match batch.columns[s].cell(r) {
            Cell::Null => {}
            Cell::Text(b) => item.attributes.extend(json_object(b)?),
            other => return Err(wrong_type("attributes", other)),
        }
    }
    for (s, name) in names.iter().enumerate().skip(first_other) {
        let values: Vec<Value> = batch.columns[s]
            .cells(r)
            .map(|c| attribute("attributes", c))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        let value = match values.len() {
            0 => continue,
            1 if !batch.columns[s].is_list() => values.into_iter().next().unwrap_or(Value::Null),
            _ => Value::Array(values),
        };
        item.attributes.insert(name.clone(), value);
    }
    Ok(item)
}

/// Reads a Parquet file of user attributes: a `user_id` (or `userid`, `user`, `id`) column, and
/// every other non-null cell a `column=value` token, as in the delimited users file; an
/// `attributes` column of JSON objects (what `aisle export` writes) gives a token per key, and
/// `updated_at` is skipped.
pub(crate) fn read_users(
    path: &Path,
    report: &mut ImportReport,
    opts: ImportOptions,
    mut keep: impl FnMut(&str, Vec<String>, &mut ImportReport),
) -> Result<(), ImportError> {
    each_part(path, |table| users_of(table, report, opts, &mut keep))
}

fn users_of(
    table: &Table,
    report: &mut ImportReport,
    opts: ImportOptions,
    keep: &mut impl FnMut(&str, Vec<String>, &mut ImportReport),
) -> Result<(), ImportError> {
    let id = table.first_of(&["user_id", "userid", "user", "id"])?.ok_or_else(|| table.missing("user_id"))?;
    let mut wanted = vec![id];
    wanted.extend((0..table.columns().len()).filter(|&k| {
        let c = &table.columns()[k];
        k != id && !c.list && c.name != "updated_at"
    }));
    let names: Vec<String> = wanted.iter().map(|&k| table.columns()[k].name.clone()).collect();
    table.scan(&wanted, |batch, first| {
        for r in 0..batch.rows {
            report.rows += 1;
            let row = user_row(batch, r, &names);
            match row {
                Ok((user, tokens)) => keep(&user, tokens, report),
                Err(bad) => report.reject(first + r as u64, bad, &opts)?,
            }
        }
        Ok(())
    })
}

fn user_row(batch: &Batch, r: usize, names: &[String]) -> Result<(String, Vec<String>), Bad> {
    let user = required_id("user_id", batch.columns[0].cell(r))?.into_owned();
    let mut tokens = Vec::new();
    for (s, name) in names.iter().enumerate().skip(1) {
        if name == "attributes"
            && let Cell::Text(b) = batch.columns[s].cell(r)
        {
            for (k, v) in json_object(b)? {
                match v {
                    Value::Null => {}
                    Value::String(t) => tokens.push(format!("{k}={t}")),
                    other => tokens.push(format!("{k}={other}")),
                }
            }
            continue;
        }
        let token = match attribute("attribute", batch.columns[s].cell(r))? {
            None => continue,
            Some(Value::String(t)) => t,
            Some(other) => other.to_string(),
        };
        tokens.push(format!("{name}={token}"));
    }
    Ok((user, tokens))
}
