//! User attribute files: a delimited file with a header whose user-id column (`user_id`,
//! `userid`, `user` or `id`) names the user and whose other columns are attributes, e.g. the
//! synthetic shop's `users.csv` (`user_id,segment,region`) or RecBole's `ml-100k.user`
//! (`user_id:token age:token gender:token occupation:token zip_code:token`, tab-separated). Each
//! non-empty attribute becomes a `column=value` token (`segment=loyal`); the separator is a tab
//! when the header has one, else a comma.

use std::io::BufRead;

use crate::ImportOptions;
use crate::delimited::normalize;
use crate::fields::{self, text_or_latin1};
use crate::lines::{Records, Sep, Splitter};
use crate::report::{Bad, ImportError, ImportReport, reason};

/// Reads every row, handing `(user id, tokens)` of each valid one to `keep`.
pub(crate) fn read(
    mut reader: impl BufRead,
    report: &mut ImportReport,
    opts: ImportOptions,
    mut keep: impl FnMut(&str, Vec<String>, &mut ImportReport),
) -> Result<(), ImportError> {
    let tab = reader.fill_buf().map_err(|e| crate::report::io_error(&report.source, e))?.contains(&b'\t');
    let sep = Sep::Byte(if tab { b'\t' } else { b',' });
    let mut records = Records::new(reader, Some(Splitter::new(sep, !tab)), &report.source.clone());
    let mut header: Option<(usize, Vec<String>)> = None;
    while let Some(line) = records.next_row(report, &opts)? {
        let f = records.fields();
        let Some((id_col, names)) = &header else {
            let names: Vec<String> = (0..f.len()).map(|k| normalize(f.get(k))).collect();
            let id = ["user_id", "userid", "user", "id"]
                .iter()
                .find_map(|a| names.iter().position(|n| n == a))
                .ok_or_else(|| ImportError::MissingColumn {
                    input: report.source.clone(),
                    column: "user_id",
                    header: names.join(","),
                })?;
            header = Some((id, names));
            continue;
        };
        report.rows += 1;
        if f.len() != names.len() {
            let bad = Bad::new(
                "row",
                reason::FIELD_COUNT,
                format!("expected {} fields, found {}", names.len(), f.len()),
            );
            report.reject(line, bad, &opts)?;
            continue;
        }
        let id = match fields::id("user_id", f.get(*id_col)) {
            Ok(id) => id.to_owned(),
            Err(bad) => {
                report.reject(line, bad, &opts)?;
                continue;
            }
        };
        let tokens = (0..f.len())
            .filter(|&k| k != *id_col)
            .filter_map(|k| {
                let v = text_or_latin1(f.get(k));
                let v = v.trim();
                (!v.is_empty()).then(|| format!("{}={v}", names[k]))
            })
            .collect();
        keep(&id, tokens, report);
    }
    Ok(())
}
