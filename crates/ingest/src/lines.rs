//! Line reading and field splitting over raw bytes.
//!
//! Lines are copied into one reused buffer and split into byte ranges with `memchr`, so an
//! unquoted row costs no allocation. Quoted fields (RFC 4180) are unescaped into a second reused
//! buffer.

use std::io::{self, BufRead};
use std::ops::Range;

use memchr::memchr;

use crate::ImportOptions;
use crate::report::{Bad, ImportError, ImportReport, io_error, reason};

/// Longest accepted line (or quoted record), in bytes; longer ones are rejected, not buffered.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One line read, numbered from 1.
pub(crate) struct LineReader<R> {
    inner: R,
    line_no: u64,
}

/// What [`LineReader::next_line`] found.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A line is in the buffer (terminator removed).
    Ok(u64),
    /// The line was longer than [`MAX_LINE_BYTES`]; it was skipped.
    TooLong(u64),
    /// End of input.
    End,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self { inner, line_no: 0 }
    }

    /// Reads the next line into `buf` (cleared first), without `\n` or `\r\n`.
    pub(crate) fn next_line(&mut self, buf: &mut Vec<u8>) -> io::Result<Line> {
        buf.clear();
        self.read_into(buf)
    }

    /// Appends the next line to `buf` (for quoted fields that span lines).
    pub(crate) fn append_line(&mut self, buf: &mut Vec<u8>) -> io::Result<Line> {
        buf.push(b'\n');
        self.read_into(buf)
    }

    fn read_into(&mut self, buf: &mut Vec<u8>) -> io::Result<Line> {
        let (mut any, mut too_long) = (false, false);
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                break;
            }
            any = true;
            let (take, done) = match memchr(b'\n', avail) {
                Some(p) => (p, p + 1),
                None => (avail.len(), avail.len()),
            };
            if !too_long && buf.len() + take > MAX_LINE_BYTES {
                too_long = true;
                buf.clear();
            }
            if !too_long {
                buf.extend_from_slice(&avail[..take]);
            }
            let finished = take < done;
            self.inner.consume(done);
            if finished {
                break;
            }
        }
        if !any {
            return Ok(Line::End);
        }
        self.line_no += 1;
        if too_long {
            return Ok(Line::TooLong(self.line_no));
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(Line::Ok(self.line_no))
    }
}

/// A field separator: one byte, or a multi-byte string such as GroupLens `::`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Sep {
    Byte(u8),
    Str(&'static [u8]),
}

/// A quoted field is still open at the end of the line.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unterminated;

/// Splits lines into trimmed fields, reusing its buffers.
pub(crate) struct Splitter {
    sep: Sep,
    /// The separator when quoted fields are recognised (one-byte separators only).
    quote_sep: Option<u8>,
    spans: Vec<Range<usize>>,
    scratch: Vec<u8>,
    /// True when the spans point into `scratch` (the line had quotes).
    unquoted: bool,
}

fn trim(b: &[u8], mut r: Range<usize>) -> Range<usize> {
    while r.start < r.end && matches!(b[r.start], b' ' | b'\t') {
        r.start += 1;
    }
    while r.end > r.start && matches!(b[r.end - 1], b' ' | b'\t') {
        r.end -= 1;
    }
    r
}

impl Splitter {
    pub(crate) fn new(sep: Sep, quoting: bool) -> Self {
        let quote_sep = match sep {
            Sep::Byte(c) if quoting => Some(c),
            _ => None,
        };
        Self { sep, quote_sep, spans: Vec::with_capacity(16), scratch: Vec::new(), unquoted: false }
    }

    /// Splits `line`; with quoting on, fails when a quoted field is not closed on this line.
    pub(crate) fn split(&mut self, line: &[u8]) -> Result<(), Unterminated> {
        self.spans.clear();
        if let Some(sep) = self.quote_sep
            && memchr(b'"', line).is_some()
        {
            self.unquoted = true;
            return self.split_quoted(line, sep);
        }
        self.unquoted = false;
        match self.sep {
            // A plain byte loop beats a memchr call per field: fields are a few bytes long.
            Sep::Byte(c) => {
                let mut start = 0;
                for (k, &b) in line.iter().enumerate() {
                    if b == c {
                        self.spans.push(trim(line, start..k));
                        start = k + 1;
                    }
                }
                self.spans.push(trim(line, start..line.len()));
            }
            Sep::Str(s) => {
                let mut start = 0;
                for p in memchr::memmem::find_iter(line, s) {
                    if p >= start {
                        self.spans.push(trim(line, start..p));
                        start = p + s.len();
                    }
                }
                self.spans.push(trim(line, start..line.len()));
            }
        }
        Ok(())
    }

    /// RFC 4180 splitting: a field starting with `"` runs to the closing quote, `""` inside is a
    /// quote; text after the closing quote is kept as is (lenient).
    fn split_quoted(&mut self, line: &[u8], sep: u8) -> Result<(), Unterminated> {
        self.scratch.clear();
        let mut i = 0;
        loop {
            while i < line.len() && matches!(line[i], b' ' | b'\t') && line[i] != sep {
                i += 1;
            }
            let start = self.scratch.len();
            let mut quoted = false;
            if line.get(i) == Some(&b'"') {
                quoted = true;
                i += 1;
                loop {
                    let Some(&c) = line.get(i) else { return Err(Unterminated) };
                    i += 1;
                    if c == b'"' {
                        if line.get(i) == Some(&b'"') {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    self.scratch.push(c);
                }
            }
            while i < line.len() && line[i] != sep {
                self.scratch.push(line[i]);
                i += 1;
            }
            let end = self.scratch.len();
            let span = if quoted { start..end } else { trim(&self.scratch, start..end) };
            self.spans.push(span);
            if i >= line.len() {
                return Ok(());
            }
            i += 1;
        }
    }

    /// Number of fields of the last split.
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    /// Field `k` of the last split of `line` (empty when out of range).
    pub(crate) fn field<'a>(&'a self, line: &'a [u8], k: usize) -> &'a [u8] {
        let src = if self.unquoted { &self.scratch[..] } else { line };
        self.spans.get(k).map_or(&[][..], |r| &src[r.clone()])
    }
}

/// What [`Records::next_record`] found.
#[derive(Debug, PartialEq)]
pub(crate) enum Record {
    /// A non-blank record starting on this line is in the buffer (and split, with a splitter).
    Row(u64),
    /// A record that cannot be read (too long, unterminated quote), starting on this line.
    Bad(u64, Bad),
    /// End of input.
    End,
}

/// Non-blank records of a file: lines, or with a splitter, delimited rows whose quoted fields
/// may span lines.
pub(crate) struct Records<R> {
    lines: LineReader<R>,
    splitter: Option<Splitter>,
    buf: Vec<u8>,
    input: String,
}

impl<R: BufRead> Records<R> {
    pub(crate) fn new(reader: R, splitter: Option<Splitter>, input: &str) -> Self {
        Self {
            lines: LineReader::new(reader),
            splitter,
            buf: Vec::with_capacity(256),
            input: input.to_owned(),
        }
    }

    /// The next record, skipping blank lines.
    pub(crate) fn next_record(&mut self) -> Result<Record, ImportError> {
        loop {
            let line_no = match self.lines.next_line(&mut self.buf).map_err(|e| io_error(&self.input, e))? {
                Line::End => return Ok(Record::End),
                Line::TooLong(n) => {
                    return Ok(Record::Bad(n, Bad::new("row", reason::LONG_LINE, "over 1 MiB")));
                }
                Line::Ok(n) => n,
            };
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let Some(sp) = &mut self.splitter else { return Ok(Record::Row(line_no)) };
            while sp.split(&self.buf).is_err() {
                let bad = match self.lines.append_line(&mut self.buf).map_err(|e| io_error(&self.input, e))? {
                    Line::Ok(_) => continue,
                    Line::TooLong(_) => Bad::new("row", reason::LONG_LINE, "quoted record over 1 MiB"),
                    Line::End => Bad::new("row", reason::QUOTE, "a quoted field is not closed"),
                };
                return Ok(Record::Bad(line_no, bad));
            }
            return Ok(Record::Row(line_no));
        }
    }

    /// The line number of the next readable row; a record that cannot be read is counted as a
    /// row and rejected in `report` (fatal in strict mode) and skipped. `None` at the end.
    pub(crate) fn next_row(
        &mut self,
        report: &mut ImportReport,
        opts: &ImportOptions,
    ) -> Result<Option<u64>, ImportError> {
        loop {
            match self.next_record()? {
                Record::End => return Ok(None),
                Record::Row(n) => return Ok(Some(n)),
                Record::Bad(n, bad) => {
                    report.rows += 1;
                    report.reject(n, bad, opts)?;
                }
            }
        }
    }

    /// The current record's raw bytes.
    pub(crate) fn line(&self) -> &[u8] {
        &self.buf
    }

    /// The current record's fields (no fields without a splitter).
    pub(crate) fn fields(&self) -> Fields<'_> {
        Fields { splitter: self.splitter.as_ref(), line: &self.buf }
    }
}

/// The fields of the current record.
#[derive(Copy, Clone)]
pub(crate) struct Fields<'a> {
    splitter: Option<&'a Splitter>,
    line: &'a [u8],
}

impl<'a> Fields<'a> {
    /// Number of fields.
    pub(crate) fn len(&self) -> usize {
        self.splitter.map_or(0, Splitter::len)
    }

    /// Field `k`, trimmed (empty when out of range).
    pub(crate) fn get(&self, k: usize) -> &'a [u8] {
        self.splitter.map_or(&[][..], |s| s.field(self.line, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(s: &mut Splitter, line: &[u8]) -> Vec<String> {
        s.split(line).unwrap();
        (0..s.len()).map(|k| String::from_utf8(s.field(line, k).to_vec()).unwrap()).collect()
    }

    #[test]
    fn splits_plain_and_quoted_fields() {
        let mut s = Splitter::new(Sep::Byte(b','), true);
        assert_eq!(fields(&mut s, b"a, b ,,c"), ["a", "b", "", "c"]);
        assert_eq!(fields(&mut s, br#"1,"Deer Hunter, The",x"#), ["1", "Deer Hunter, The", "x"]);
        assert_eq!(fields(&mut s, br#""say ""hi""",2"#), [r#"say "hi""#, "2"]);
        assert_eq!(fields(&mut s, br#"ab"c,d"#), [r#"ab"c"#, "d"]);
        assert_eq!(s.split(br#"1,"open"#), Err(Unterminated));
        let mut g = Splitter::new(Sep::Str(b"::"), false);
        assert_eq!(
            fields(&mut g, b"1::Toy Story (1995)::Animation|Comedy"),
            ["1", "Toy Story (1995)", "Animation|Comedy"]
        );
    }

    #[test]
    fn reads_lines_with_numbers_crlf_and_caps() {
        let long = vec![b'x'; MAX_LINE_BYTES + 1];
        let mut data = b"a\r\n\nb".to_vec();
        data.push(b'\n');
        data.extend_from_slice(&long);
        data.extend_from_slice(b"\nc");
        let mut r = LineReader::new(&data[..]);
        let mut buf = Vec::new();
        assert_eq!(r.next_line(&mut buf).unwrap(), Line::Ok(1));
        assert_eq!(buf, b"a");
        assert_eq!(r.next_line(&mut buf).unwrap(), Line::Ok(2));
        assert!(buf.is_empty());
        assert_eq!(r.next_line(&mut buf).unwrap(), Line::Ok(3));
        assert_eq!(r.next_line(&mut buf).unwrap(), Line::TooLong(4));
        assert_eq!(r.next_line(&mut buf).unwrap(), Line::Ok(5));
        assert_eq!(buf, b"c");
        assert_eq!(r.next_line(&mut buf).unwrap(), Line::End);
    }
}
