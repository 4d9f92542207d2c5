//! JSON-lines events with the REST event schema.

use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::fields;
use crate::importer::{Decoded, Importer, Sink, kind_and_value};
use crate::lines::{Record, Records};
use crate::report::{Bad, ImportError, reason};

/// Any JSON value, kept only as far as field validation needs it. Deserializing it never fails
/// on type, so each field's problem can be reported by name.
#[derive(Debug, PartialEq)]
pub(crate) enum Scalar<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Null,
    Other(&'static str),
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Scalar::Float(v as f64), Scalar::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Other("a boolean"))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other("an object"))
    }
}

/// One event line; unknown fields are ignored.
#[derive(Deserialize)]
struct JsonEvent<'a> {
    #[serde(borrow)]
    user_id: Option<Scalar<'a>>,
    #[serde(borrow)]
    item_id: Option<Scalar<'a>>,
    #[serde(borrow, rename = "type")]
    kind: Option<Scalar<'a>>,
    #[serde(borrow)]
    value: Option<Scalar<'a>>,
    #[serde(borrow)]
    timestamp: Option<Scalar<'a>>,
    #[serde(borrow)]
    event_id: Option<Scalar<'a>>,
    #[serde(borrow)]
    session_id: Option<Scalar<'a>>,
}

fn wrong_type(field: &'static str, kind: &'static str, what: &str) -> Bad {
    Bad::new(field, kind, format!("expected {what}"))
}

/// A string or integer id; `None` when absent or null.
fn id<'s>(
    field: &'static str,
    v: &'s Option<Scalar<'_>>,
    scratch: &'s mut String,
) -> Result<Option<&'s str>, Bad> {
    match v {
        None | Some(Scalar::Null) => Ok(None),
        Some(Scalar::Str(s)) => fields::check_id(field, s).map(Some),
        Some(Scalar::Int(n)) => {
            *scratch = n.to_string();
            Ok(Some(scratch.as_str()))
        }
        Some(_) => Err(wrong_type(field, reason::JSON, "a string or integer id")),
    }
}

fn value(v: &Option<Scalar<'_>>) -> Result<Option<f32>, Bad> {
    match v {
        None | Some(Scalar::Null) => Ok(None),
        Some(Scalar::Int(n)) => fields::check_finite(*n as f32).map(Some),
        Some(Scalar::Float(x)) => fields::check_finite(*x as f32).map(Some),
        Some(Scalar::Str(s)) => fields::value(s.as_bytes()),
        Some(Scalar::Other(_)) => Err(wrong_type("value", reason::NUMBER, "a number")),
    }
}

fn timestamp(v: &Option<Scalar<'_>>) -> Result<i64, Bad> {
    let bad = |s: String| Bad::new("timestamp", reason::TIMESTAMP, s);
    match v {
        None | Some(Scalar::Null) => Ok(0),
        Some(Scalar::Int(n)) => fields::timestamp(n.to_string().as_bytes()),
        Some(Scalar::Float(x)) => fields::seconds_from_f64(*x).ok_or_else(|| bad(x.to_string())),
        Some(Scalar::Str(s)) => fields::timestamp_str(s).ok_or_else(|| bad(fields::show(s.as_bytes()))),
        Some(Scalar::Other(what)) => Err(bad(format!("{what}, expected a number or an RFC 3339 string"))),
    }
}

fn kind(v: &Option<Scalar<'_>>) -> Result<Option<aisle_core::EventKind>, Bad> {
    match v {
        None | Some(Scalar::Null) => Ok(None),
        Some(Scalar::Str(s)) => fields::kind_str(s).map(Some),
        Some(_) => Err(wrong_type("type", reason::EVENT_TYPE, "a string")),
    }
}

/// Validates one parsed line and hands it to the importer.
fn accept_event(imp: &mut Importer, sink: &mut Sink<'_>, e: &JsonEvent<'_>, line: u64) -> Result<(), Bad> {
    let (mut us, mut is, mut es, mut ss) = (String::new(), String::new(), String::new(), String::new());
    let missing = |f: &'static str| Bad::new(f, reason::MISSING, format!("no {f}"));
    let user = id("user_id", &e.user_id, &mut us)?.ok_or_else(|| missing("user_id"))?;
    let item = id("item_id", &e.item_id, &mut is)?.ok_or_else(|| missing("item_id"))?;
    let (kind, value) = kind_and_value(kind(&e.kind)?, value(&e.value)?)?;
    let ts = timestamp(&e.timestamp)?;
    let event_id = id("event_id", &e.event_id, &mut es)?;
    let session_id = id("session_id", &e.session_id, &mut ss)?;
    imp.accept(sink, Decoded { user, item, kind, value, ts, event_id, session_id, movie: None, line })
}

/// Reads every line of a JSONL event file into `sink`.
pub(crate) fn read(imp: &mut Importer, reader: impl BufRead, sink: &mut Sink<'_>) -> Result<(), ImportError> {
    let mut records = Records::new(reader, None, &sink.report.source.clone());
    loop {
        let outcome = match records.next_record()? {
            Record::End => return Ok(()),
            Record::Bad(n, bad) => Err((n, bad)),
            Record::Row(n) => {
                parse_line(records.line()).and_then(|e| accept_event(imp, sink, &e, n)).map_err(|b| (n, b))
            }
        };
        sink.report.rows += 1;
        if let Err((line_no, bad)) = outcome {
            imp.reject(sink, line_no, bad)?;
        }
        imp.pass_on(sink)?;
    }
}

fn parse_line(buf: &[u8]) -> Result<JsonEvent<'_>, Bad> {
    let text = fields::utf8("json", buf)?;
    serde_json::from_str(text).map_err(|e| Bad::new("json", reason::JSON, e.to_string()))
}
