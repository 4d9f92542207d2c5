//! Writing a generated shop as the files a real shop would export.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use aisle_core::EventKind;
use rayon::prelude::*;
use serde_json::{Value, json};

use super::Shop;
use aisle_records::{ItemRecord, UserRecord};

/// Paths of the files [`write_shop`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShopFiles {
    /// `items.jsonl`: the catalog, [`crate::ItemFormat::CatalogJsonl`].
    pub items: PathBuf,
    /// `users.csv`: `user_id,segment,region`.
    pub users: PathBuf,
    /// `events.csv`: `user_id,item_id,type,value,timestamp,session_id`, readable with
    /// [`crate::EventFormat::csv`].
    pub events: PathBuf,
    /// `truth.jsonl`: each user's latent taste.
    pub truth: PathBuf,
}

/// Writes the shop into `dir` (created if missing) as `items.jsonl`, `users.csv`, `events.csv`
/// and `truth.jsonl`.
///
/// `events.csv` has a value only for purchases (the price) and ratings (1–5); timestamps are unix
/// seconds. `truth.jsonl` lines are `{"user_id", "segment", "favourites": [{"category", "weight"}],
/// "latent": [..], "activity"}`.
pub fn write_shop(shop: &Shop, dir: &Path) -> io::Result<ShopFiles> {
    fs::create_dir_all(dir)?;
    let files = ShopFiles {
        items: dir.join("items.jsonl"),
        users: dir.join("users.csv"),
        events: dir.join("events.csv"),
        truth: dir.join("truth.jsonl"),
    };
    write_with(&files.items, |w| write_items(shop, w))?;
    write_with(&files.users, |w| write_users(shop, w))?;
    write_with(&files.events, |w| write_events(shop, w))?;
    write_with(&files.truth, |w| write_truth(shop, w))?;
    Ok(files)
}

fn write_with(path: &Path, body: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 16, File::create(path)?);
    body(&mut w)?;
    w.flush()
}

/// Rows formatted per block, in parallel.
const BLOCK_ROWS: usize = 8192;

/// Writes rows `0..n`, each formatted by `row`: blocks of rows are formatted in parallel, a few
/// per thread at a time, and written in order, so the bytes are the same as one row after another.
fn write_rows(
    w: &mut impl Write,
    n: usize,
    row: impl Fn(usize, &mut Vec<u8>) -> io::Result<()> + Sync,
) -> io::Result<()> {
    let wave = BLOCK_ROWS * 4 * rayon::current_num_threads().max(1);
    for from in (0..n).step_by(wave) {
        let to = (from + wave).min(n);
        let blocks: Vec<io::Result<Vec<u8>>> = (from..to)
            .step_by(BLOCK_ROWS)
            .collect::<Vec<usize>>()
            .into_par_iter()
            .map(|start| {
                let mut buf = Vec::new();
                for i in start..(start + BLOCK_ROWS).min(to) {
                    row(i, &mut buf)?;
                }
                Ok(buf)
            })
            .collect();
        for block in blocks {
            w.write_all(&block?)?;
        }
    }
    Ok(())
}

impl Shop {
    /// The catalog record of item `i`: what `items.jsonl` holds and the demo seed stores.
    pub fn item_record(&self, i: usize) -> ItemRecord {
        let it = &self.items[i];
        let cat = &self.categories[it.category as usize];
        let mut attributes = serde_json::Map::new();
        attributes.insert("colour".into(), Value::from(it.colour));
        ItemRecord {
            id: Shop::item_id(i),
            title: it.title.clone(),
            description: it.description.clone(),
            categories: vec![cat.parent.clone(), cat.path.clone()],
            tags: it.tags.clone(),
            brand: Some(self.brands[it.brand as usize].clone()),
            price: Some(it.price),
            in_stock: it.in_stock,
            attributes,
            updated_at_ms: 0,
        }
    }

    /// The record of user `u` (segment and region): what `users.csv` holds and the demo seed
    /// stores.
    pub fn user_record(&self, u: usize) -> UserRecord {
        let user = &self.users[u];
        let mut attributes = serde_json::Map::new();
        attributes.insert("segment".to_owned(), Value::from(user.segment.clone()));
        attributes.insert("region".to_owned(), Value::from(user.region));
        UserRecord { id: Shop::user_id(u), attributes, updated_at_ms: 0 }
    }
}

fn write_items(shop: &Shop, w: &mut impl Write) -> io::Result<()> {
    write_rows(w, shop.items.len(), |i, out| {
        serde_json::to_writer(&mut *out, &shop.item_record(i))?;
        out.push(b'\n');
        Ok(())
    })
}

fn write_users(shop: &Shop, w: &mut impl Write) -> io::Result<()> {
    writeln!(w, "user_id,segment,region")?;
    write_rows(w, shop.users.len(), |u, out| {
        let user = &shop.users[u];
        writeln!(out, "{},{},{}", Shop::user_id(u), user.segment, user.region)
    })
}

fn write_events(shop: &Shop, w: &mut impl Write) -> io::Result<()> {
    writeln!(w, "user_id,item_id,type,value,timestamp,session_id")?;
    write_rows(w, shop.events.len(), |k, out| {
        let e = &shop.events[k];
        let (u, i, s) = (e.user + 1, e.item + 1, e.session + 1);
        match e.kind {
            EventKind::Purchase => writeln!(out, "u{u},i{i},{},{:.2},{},s{s}", e.kind, e.value, e.ts),
            EventKind::Rating => writeln!(out, "u{u},i{i},{},{},{},s{s}", e.kind, e.value, e.ts),
            EventKind::View
            | EventKind::Click
            | EventKind::AddToCart
            | EventKind::Like
            | EventKind::Dislike
            | EventKind::Impression => writeln!(out, "u{u},i{i},{},,{},s{s}", e.kind, e.ts),
        }
    })
}

fn write_truth(shop: &Shop, w: &mut impl Write) -> io::Result<()> {
    write_rows(w, shop.users.len(), |u, out| {
        let user = &shop.users[u];
        let favourites: Vec<Value> = user
            .favourites
            .iter()
            .map(|&(c, weight)| json!({"category": shop.categories[c as usize].path, "weight": weight}))
            .collect();
        let line = json!({
            "user_id": Shop::user_id(u),
            "segment": user.segment,
            "favourites": favourites,
            "latent": shop.user_latent(u),
            "activity": user.activity,
        });
        serde_json::to_writer(&mut *out, &line)?;
        out.push(b'\n');
        Ok(())
    })
}
