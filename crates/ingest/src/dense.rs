//! Dense-id triplet files: `user<TAB>item[<TAB>value]` per line with 0-based integer ids, the
//! layout `../shared/bench/synth_matrix.py` writes for scale benchmarks.
//!
//! Read straight into compressed rows without the importer's string interning or per-event
//! structs, so a 20,000,000-line file costs about 12 bytes per line while it is read and 16 once
//! it is a matrix. Strict: the first bad line is an error naming its line and field.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use aisle_core::{Feedback, Interactions};

use crate::report::{ImportError, io_error};

/// Reads a dense-id triplet file (module doc) into a matrix with `max id + 1` users and items,
/// without timestamps. A missing value is 1. Repeated (user, item) pairs are merged as
/// [`Interactions::new`] merges them: summed for implicit feedback, the last kept for explicit.
pub fn read_dense_matrix(path: &Path, feedback: Feedback) -> Result<Interactions, ImportError> {
    let name = path.display().to_string();
    let lines = count_lines(path)?;
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let (mut users, mut items, mut values) =
        (Vec::with_capacity(lines), Vec::with_capacity(lines), Vec::with_capacity(lines));
    let mut line = Vec::with_capacity(64);
    let mut line_no = 0u64;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(|e| io_error(path, e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let text = trim_eol(&line);
        if text.is_empty() {
            continue;
        }
        let (u, i, v) = parse_line(text).map_err(|(field, reason)| ImportError::BadRow {
            input: name.clone(),
            line: line_no,
            field,
            reason,
        })?;
        users.push(u);
        items.push(i);
        values.push(v);
    }
    let n_users = users.iter().max().map_or(0, |&m| m as usize + 1);
    let n_items = items.iter().max().map_or(0, |&m| m as usize + 1);
    let (indptr, indices, vals) = compress(n_users, users, items, values, feedback);
    Interactions::from_csr(n_items, feedback, indptr, indices, vals)
        .map_err(|e| ImportError::InvalidOptions { reason: format!("{name}: {e}") })
}

fn count_lines(path: &Path) -> Result<usize, ImportError> {
    let mut file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut lines, mut last) = (0usize, b'\n');
    loop {
        let n = file.read(&mut buf).map_err(|e| io_error(path, e))?;
        if n == 0 {
            break;
        }
        lines += memchr::memchr_iter(b'\n', &buf[..n]).count();
        last = buf[n - 1];
    }
    Ok(lines + usize::from(last != b'\n'))
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `user`, `item` and an optional `value`, tab-separated.
fn parse_line(text: &[u8]) -> Result<(u32, u32, f32), (&'static str, String)> {
    let mut fields = text.split(|&b| b == b'\t');
    let mut id = |field: &'static str| -> Result<u32, (&'static str, String)> {
        let raw = fields.next().ok_or((field, "missing".to_owned()))?;
        let s = std::str::from_utf8(raw).map_err(|_| (field, "not UTF-8".to_owned()))?;
        s.trim().parse::<u32>().map_err(|_| (field, format!("{s:?} is not a 0-based integer id")))
    };
    let (u, i) = (id("user")?, id("item")?);
    let value = match fields.next() {
        None => 1.0,
        Some(raw) => {
            let s = std::str::from_utf8(raw).map_err(|_| ("value", "not UTF-8".to_owned()))?;
            match s.trim().parse::<f32>() {
                Ok(v) if v.is_finite() => v,
                _ => return Err(("value", format!("{s:?} is not a finite number"))),
            }
        }
    };
    Ok((u, i, value))
}

/// Counting sort by user, then each row sorted by item with repeats merged.
fn compress(
    n_users: usize,
    users: Vec<u32>,
    items: Vec<u32>,
    values: Vec<f32>,
    feedback: Feedback,
) -> (Vec<usize>, Vec<u32>, Vec<f32>) {
    let mut indptr = vec![0usize; n_users + 1];
    for &u in &users {
        indptr[u as usize + 1] += 1;
    }
    for u in 0..n_users {
        indptr[u + 1] += indptr[u];
    }
    let mut next = indptr.clone();
    let mut pairs = vec![(0u32, 0f32); users.len()];
    for ((&u, &i), &v) in users.iter().zip(&items).zip(&values) {
        let slot = &mut next[u as usize];
        pairs[*slot] = (i, v);
        *slot += 1;
    }
    drop((users, items, values));
    let (mut indices, mut vals) = (Vec::with_capacity(pairs.len()), Vec::with_capacity(pairs.len()));
    let mut out_ptr = vec![0usize; n_users + 1];
    for u in 0..n_users {
        let row = &mut pairs[indptr[u]..indptr[u + 1]];
        // Stable: among repeats of an item, file order is kept, so "last" is the last line.
        row.sort_by_key(|&(i, _)| i);
        for &(i, v) in row.iter() {
            if indices.len() > out_ptr[u] && indices.last() == Some(&i) {
                let last = vals.last_mut().expect("a value per index");
                match feedback {
                    Feedback::Implicit => *last += v,
                    Feedback::Explicit => *last = v,
                }
            } else {
                indices.push(i);
                vals.push(v);
            }
        }
        out_ptr[u + 1] = indices.len();
    }
    (out_ptr, indices, vals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_core::{ItemIdx, UserIdx};
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn reads_unsorted_triplets_and_merges_repeats() {
        let f = file("2\t1\t3\n0\t4\n2\t0\t1.5\r\n\n0\t4\t2\n");
        let m = read_dense_matrix(f.path(), Feedback::Implicit).unwrap();
        assert_eq!((m.n_users(), m.n_items(), m.nnz()), (3, 5, 3));
        assert_eq!(m.user(UserIdx(0)).indices, &[4]);
        assert_eq!(m.get(UserIdx(0), ItemIdx(4)), Some(3.0), "1 (no value) + 2");
        assert_eq!(m.user(UserIdx(2)).indices, &[0, 1]);
        assert_eq!(m.user(UserIdx(2)).values, &[1.5, 3.0]);
        assert!(m.user(UserIdx(1)).is_empty());
        let explicit = read_dense_matrix(f.path(), Feedback::Explicit).unwrap();
        assert_eq!(explicit.get(UserIdx(0), ItemIdx(4)), Some(2.0), "the last line wins");
        // No trailing newline.
        let f = file("0\t0\t1");
        assert_eq!(read_dense_matrix(f.path(), Feedback::Implicit).unwrap().nnz(), 1);
    }

    #[test]
    fn bad_lines_name_their_line_and_field() {
        for (text, line, field) in
            [("0\t1\nx\t2\n", 2, "user"), ("0\n", 1, "item"), ("0\t1\t1\n1\t2\tnan\n", 2, "value")]
        {
            match read_dense_matrix(file(text).path(), Feedback::Implicit) {
                Err(ImportError::BadRow { line: l, field: f, .. }) => {
                    assert_eq!((l, f), (line, field), "{text:?}")
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert!(matches!(
            read_dense_matrix(Path::new("/nonexistent/x.tsv"), Feedback::Implicit),
            Err(ImportError::Io { .. })
        ));
    }
}
