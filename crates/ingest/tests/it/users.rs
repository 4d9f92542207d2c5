//! User attribute files: the shop's `users.csv`, RecBole's `ml-100k.user`, and bad rows.

use aisle_ingest::{EventFormat, ImportError, ImportOptions, Importer};

fn read(content: &[u8], strict: bool) -> Result<(Importer, aisle_ingest::ImportReport), ImportError> {
    let mut imp = Importer::new(ImportOptions { strict, ..ImportOptions::default() });
    let report = imp.read_users_from_reader(content, "users")?;
    Ok((imp, report))
}

#[test]
fn shop_users_csv_becomes_tokens_in_the_shared_id_space() {
    let mut imp = Importer::new(ImportOptions::default());
    let events = b"user_id,item_id,type\nu2,i1,view\n";
    imp.read_events_from_reader(&events[..], "events", &EventFormat::csv()).unwrap();
    let r = imp
        .read_users_from_reader(&b"user_id,segment,region\nu1,loyal,north\nu2,bargain,\n"[..], "users")
        .unwrap();
    assert_eq!((r.rows, r.accepted, r.rejected), (2, 2, 0), "{r}");
    // u2 was interned by the events first (index 0); u1 is new (index 1).
    assert_eq!(imp.users().get("u2"), Some(0));
    assert_eq!(imp.user_attributes()[0], ["segment=bargain"], "empty values are skipped");
    assert_eq!(imp.user_attributes()[1], ["segment=loyal", "region=north"]);
    assert_eq!(imp.users().id(1), Some("u1"));
}

#[test]
fn recbole_user_file_with_typed_tab_header() {
    let data = b"user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n1\t24\tM\ttechnician\t85711\n";
    let (imp, r) = read(data, false).unwrap();
    assert_eq!(r.accepted, 1);
    assert_eq!(imp.user_attributes()[0], ["age=24", "gender=M", "occupation=technician", "zip_code=85711"]);
}

#[test]
fn bad_rows_are_counted_and_strict_mode_stops_at_the_first() {
    let data = b"user_id,segment\nu1,a\nu2\n,b\nu1,c\nu3,d\n";
    let (imp, r) = read(data, false).unwrap();
    assert_eq!((r.rows, r.accepted, r.rejected, r.duplicates), (5, 2, 2, 1), "{r}");
    assert_eq!(imp.user_attributes()[0], ["segment=a"], "the first row of a repeated id is kept");
    let fields: Vec<&str> = r.examples.iter().map(|e| e.field).collect();
    assert_eq!(fields, ["row", "user_id"]);
    match read(data, true) {
        Err(ImportError::BadRow { line: 3, field: "row", .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        read(b"name,segment\nx,y\n", false),
        Err(ImportError::MissingColumn { column: "user_id", .. })
    ));
}
