//! Catalog formats and their interplay with events.

use aisle_core::ItemIdx;
use aisle_ingest::{EventFormat, ImportOptions, Importer, ItemFormat};

use crate::file;

fn read(content: &[u8], format: ItemFormat) -> (Importer, aisle_ingest::ImportReport) {
    let mut imp = Importer::new(ImportOptions::default());
    let report = imp.read_items_from_reader(content, "items", &format).expect("the import runs");
    (imp, report)
}

#[test]
fn grouplens_u_item_with_latin1_titles_and_genre_flags() {
    let mut data = b"1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n".to_vec();
    data.extend_from_slice(b"1005|Double vie de V\xe9ronique, La (1991)|01-Jan-1991||url|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0\n");
    let (imp, r) = read(&data, ItemFormat::Ml100kItem);
    assert_eq!((r.rows, r.accepted), (2, 2), "{r}");
    let toy = imp.catalog().get(ItemIdx(0)).unwrap();
    assert_eq!((toy.id.as_str(), toy.title.as_str()), ("1", "Toy Story (1995)"));
    assert_eq!(toy.categories, ["Animation", "Children's", "Comedy"]);
    assert_eq!(toy.attributes["release_date"], "01-Jan-1995");
    let v = imp.catalog().get(ItemIdx(1)).unwrap();
    assert_eq!(v.title, "Double vie de Véronique, La (1991)");
    assert_eq!(v.categories, ["Drama"]);
}

#[test]
fn recbole_item_file_with_typed_header() {
    let data = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n\
        1\tToy Story\t1995\tAnimation Children's Comedy\n\
        543\tMisérables, Les\t1995\tDrama Musical\n";
    let (imp, r) = read(data.as_bytes(), ItemFormat::RecBoleItem);
    assert_eq!(r.accepted, 2, "{r}");
    let m = imp.catalog().get(ItemIdx(1)).unwrap();
    assert_eq!((m.id.as_str(), m.title.as_str()), ("543", "Misérables, Les"));
    assert_eq!(m.categories, ["Drama", "Musical"]);
    assert_eq!(m.attributes["release_year"], 1995);
}

#[test]
fn movielens_1m_and_latest_movie_files() {
    let (imp, r) = read(
        b"1::Toy Story (1995)::Animation|Children's|Comedy\n2::Jumanji (1995)::Adventure\n",
        ItemFormat::Ml1mMovies,
    );
    assert_eq!(r.accepted, 2, "{r}");
    assert_eq!(imp.catalog().get(ItemIdx(0)).unwrap().categories, ["Animation", "Children's", "Comedy"]);
    let data = b"movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n11,\"American President, The (1995)\",Comedy\n99,Nothing,(no genres listed)\n";
    let (imp, r) = read(data, ItemFormat::MlLatestMovies);
    assert_eq!(r.accepted, 3, "{r}");
    assert_eq!(imp.catalog().get(ItemIdx(1)).unwrap().title, "American President, The (1995)");
    assert!(imp.catalog().get(ItemIdx(2)).unwrap().categories.is_empty());
}

#[test]
fn shop_catalog_jsonl_and_unknown_items_in_events() {
    let catalog = r#"{"id": "i1", "title": "Kettle", "categories": ["home", "home/kitchen"], "tags": ["steel"], "brand": "Norvik", "price": 29.5, "in_stock": false, "attributes": {"colour": "red"}}
{"id": "i2"}
{"id": "i1", "title": "again"}
{"id": "i3", "price": -1}
{"title": "no id"}
"#;
    let (_dir, path) = file("items.jsonl", catalog.as_bytes());
    let mut imp = Importer::new(ImportOptions::default());
    let r = imp.read_items(&path, &ItemFormat::CatalogJsonl).unwrap();
    assert_eq!((r.rows, r.accepted, r.duplicates, r.rejected), (5, 2, 1, 2), "{r}");
    assert_eq!(r.examples.iter().map(|e| (e.line, e.field)).collect::<Vec<_>>(), [(4, "price"), (5, "id")]);
    let kettle = imp.catalog().get(ItemIdx(0)).unwrap();
    assert_eq!((kettle.title.as_str(), kettle.price, kettle.in_stock), ("Kettle", Some(29.5), false));
    assert_eq!(kettle.brand.as_deref(), Some("Norvik"));
    assert_eq!(kettle.attributes["colour"], "red");
    assert!(imp.catalog().get(ItemIdx(1)).unwrap().in_stock, "in_stock defaults to true");
    assert_eq!(imp.items().len(), 2, "catalog items get indexes before any event");

    let events = b"user_id,item_id,type\nu1,i2,view\nu1,i7,view\nu2,i1,purchase\n";
    let b = imp.read_events_from_reader(&events[..], "events", &EventFormat::csv()).unwrap();
    assert_eq!((b.report.accepted, b.report.unknown_items), (3, 1), "{}", b.report);
    assert_eq!(b.events[0].item, ItemIdx(1));
    assert_eq!(b.events[1].item, ItemIdx(2), "the unknown item is kept with a new index");
}
