//! `aisle simulate`: shoppers whose true tastes are known, shopping from a running server's
//! lists. The shop `aisle serve --demo` serves is regenerated here (same parameters, same shop
//! seed), so every shown item's true affinity (`Shop::affinity`) is known: the simulator asks
//! the server for lists, chooses from them by a position-biased click model, posts the clicks,
//! carts and purchases back with each list's `recommendation_id`, and reports what it did next
//! to the ground truth: the mean true affinity of what each placement showed.
//!
//! The choice model and the tallies are pure functions (tested below); the HTTP part is thin:
//! hyper-util's client over plain `http://` only (no TLS: the simulator talks to a server on
//! the same machine or network). Seeded: shopper `k` draws from `rng::stream(seed, k)`, so the
//! same answers from the server and the same seed give the same events, whatever the
//! concurrency.

mod model;

pub use model::*;

use std::sync::Arc;
use std::time::Duration;

use aisle_core::rng;
use aisle_ingest::synth::{Shop, ShopParams, generate};
use anyhow::Context;
use clap::Args;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use crate::report::{self, OutputArg, Table};

/// Arguments of `aisle simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The server (`http://host:port`; plain HTTP only).
    #[arg(long)]
    pub url: String,
    /// How many shoppers visit (shopper k is the k-th user of a seeded shuffle of the shop's
    /// users; past the number of users they come back in the same order).
    #[arg(long)]
    pub shoppers: usize,
    /// Seed of the shoppers' choices: the same seed and the same server answers give the same
    /// events.
    #[arg(long)]
    pub seed: u64,
    /// Ask for lists of this placement (repeat it to compare placements: a shopper's j-th list
    /// uses the (j mod count)-th placement). Default: lists without a placement.
    #[arg(long)]
    pub placement: Vec<String>,
    /// API key sent as `x-api-key` (the server's write level: the simulator posts events).
    #[arg(long)]
    pub api_key: Option<String>,
    /// The served shop's seed (`aisle serve --demo` uses 42).
    #[arg(long, default_value_t = 42)]
    pub shop_seed: u64,
    /// The served shop's shoppers (`aisle serve --demo-users`).
    #[arg(long, default_value_t = 2_000)]
    pub users: usize,
    /// The served shop's catalog items (`aisle serve --demo-items`).
    #[arg(long, default_value_t = 3_000)]
    pub items: usize,
    /// The served shop's categories (`aisle serve --demo-categories`).
    #[arg(long, default_value_t = 20)]
    pub categories: usize,
    /// Lists each shopper asks for.
    #[arg(long, default_value_t = 5)]
    pub lists_per_shopper: usize,
    /// Items per list (`?n=`).
    #[arg(long, default_value_t = 10)]
    pub n: usize,
    /// Shoppers in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What one shopper's visit gave.
#[derive(Clone, Debug, Default)]
struct Visit {
    tallies: Vec<Tally>,
    requests: u64,
    failed: u64,
    sent: u64,
    inserted: u64,
    duplicates: u64,
    errors: Vec<String>,
}

impl Visit {
    fn fail(&mut self, e: anyhow::Error) {
        self.failed += 1;
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(format!("{e:#}"));
        }
    }
}

const MAX_ERRORS: usize = 5;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_BODY_BYTES: usize = 16 << 20;

/// The server's answer to an event batch (the fields read).
#[derive(Deserialize)]
struct EventsAck {
    inserted: u64,
    duplicates: u64,
}

/// The thin HTTP client.
struct Api {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    api_key: Option<String>,
}

impl Api {
    async fn send(&self, method: Method, path: &str, body: Vec<u8>) -> anyhow::Result<Bytes> {
        let mut req = Request::builder().method(method.clone()).uri(format!("{}{path}", self.base));
        if let Some(k) = &self.api_key {
            req = req.header("x-api-key", k);
        }
        if !body.is_empty() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(Bytes::from(body)))?;
        let exchange = async {
            let res = self.client.request(req).await?;
            let status = res.status();
            let bytes = Limited::new(res.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            anyhow::Ok((status, bytes.to_bytes()))
        };
        let (status, bytes) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {} s", REQUEST_TIMEOUT.as_secs()))?
            .with_context(|| format!("{method} {path}"))?;
        anyhow::ensure!(
            status.is_success(),
            "{method} {path}: {status}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        );
        Ok(bytes)
    }

    async fn list(&self, user_id: &str, n: usize, placement: Option<&str>) -> anyhow::Result<ServedList> {
        let mut path = format!("/v1/users/{}/recommendations?n={n}", encode(user_id));
        if let Some(p) = placement {
            path += &format!("&placement={}", encode(p));
        }
        let bytes = self.send(Method::GET, &path, Vec::new()).await?;
        serde_json::from_slice(&bytes).with_context(|| format!("GET {path}: not a recommendation list"))
    }

    async fn post_events(&self, events: &[EventOut]) -> anyhow::Result<EventsAck> {
        let bytes = self.send(Method::POST, "/v1/events", serde_json::to_vec(events)?).await?;
        serde_json::from_slice(&bytes).context("POST /v1/events: not an events answer")
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Everything a shopper's task reads.
struct Ctx {
    api: Api,
    shop: Shop,
    shoppers: Vec<usize>,
    placements: Vec<Option<String>>,
    model: ChoiceModel,
    seed: u64,
    lists: usize,
    n: usize,
}

/// Shopper `k`'s visit: `lists` lists, a choice from each, its events posted.
async fn visit(ctx: Arc<Ctx>, k: usize) -> Visit {
    let user = ctx.shoppers[k];
    let user_id = Shop::user_id(user);
    let mut rng = rng::stream(ctx.seed, k as u64);
    let mut v = Visit { tallies: vec![Tally::default(); ctx.placements.len()], ..Visit::default() };
    for j in 0..ctx.lists {
        let slot = j % ctx.placements.len();
        v.requests += 1;
        let list = match ctx.api.list(&user_id, ctx.n, ctx.placements[slot].as_deref()).await {
            Ok(list) => list,
            Err(e) => {
                v.fail(e);
                continue;
            }
        };
        let ids: Vec<String> = list.items.iter().map(|i| i.id.clone()).collect();
        let shown = truths(&ctx.shop, user, &ids);
        let outcomes = ctx.model.choose(&shown, &mut rng);
        let events = list_events(&user_id, &list, &shown, &outcomes);
        if !events.is_empty() {
            v.requests += 1;
            match ctx.api.post_events(&events).await {
                Ok(ack) => {
                    v.sent += events.len() as u64;
                    v.inserted += ack.inserted;
                    v.duplicates += ack.duplicates;
                }
                Err(e) => {
                    v.fail(e);
                    continue;
                }
            }
        }
        v.tallies[slot].add(&list, &shown, &outcomes);
    }
    v
}

/// Mean affinity of each distinct shopper's best `n` items, and over the whole catalog.
fn truth_bounds(shop: &Shop, shoppers: &[usize], n: usize) -> (f64, f64) {
    let mut users: Vec<usize> = shoppers.to_vec();
    users.sort_unstable();
    users.dedup();
    let (mut best, mut all, mut best_n, mut all_n) = (0.0, 0.0, 0usize, 0usize);
    for &u in &users {
        let mut a: Vec<f64> = (0..shop.items.len()).map(|i| f64::from(shop.affinity(u, i))).collect();
        all += a.iter().sum::<f64>();
        all_n += a.len();
        a.sort_unstable_by(|x, y| y.total_cmp(x));
        best += a.iter().take(n).sum::<f64>();
        best_n += a.len().min(n);
    }
    let mean = |s: f64, c: usize| if c == 0 { 0.0 } else { s / c as f64 };
    (mean(best, best_n), mean(all, all_n))
}

fn check(args: &SimulateArgs) -> anyhow::Result<String> {
    anyhow::ensure!(args.shoppers >= 1, "--shoppers must be at least 1");
    anyhow::ensure!(args.lists_per_shopper >= 1, "--lists-per-shopper must be at least 1");
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    anyhow::ensure!((1..=1000).contains(&args.n), "--n must be between 1 and 1000");
    anyhow::ensure!(args.placement.iter().all(|p| !p.is_empty()), "--placement must not be empty");
    let base = args.url.trim_end_matches('/').to_owned();
    let uri: Uri = base.parse().with_context(|| format!("--url {:?} is not a URL", args.url))?;
    anyhow::ensure!(
        uri.scheme_str() == Some("http")
            && uri.host().is_some()
            && matches!(uri.path(), "" | "/")
            && uri.query().is_none(),
        "--url must be http://host[:port] (plain HTTP, no path); got {:?}",
        args.url
    );
    Ok(base)
}

/// Regenerates the shop, runs the shoppers against the server and prints the report; fails
/// when more than 1% of the requests failed.
pub fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    let base = check(args)?;
    // The event count does not change the catalog or the users (separate random streams), so
    // none are generated.
    let params = ShopParams {
        users: args.users,
        items: args.items,
        categories: args.categories,
        events: 0,
        ..ShopParams::default()
    };
    let shop = generate(&params, args.shop_seed)?;
    let client = Client::builder(TokioExecutor::new()).build_http();
    let api = Api { client, base: base.clone(), api_key: args.api_key.clone() };
    let placements = if args.placement.is_empty() {
        vec![None]
    } else {
        args.placement.iter().cloned().map(Some).collect()
    };
    let shoppers = pick_shoppers(args.seed, shop.users.len(), args.shoppers);
    let (best_affinity, catalog_affinity) = truth_bounds(&shop, &shoppers, args.n);
    let ctx = Arc::new(Ctx {
        api,
        shop,
        shoppers,
        placements,
        model: ChoiceModel::default(),
        seed: args.seed,
        lists: args.lists_per_shopper,
        n: args.n,
    });
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let visits = rt.block_on(async {
        ctx.api
            .send(Method::GET, "/health/ready", Vec::new())
            .await
            .with_context(|| format!("{base} is not a ready aisle server"))?;
        run_shoppers(&ctx, args.concurrency).await
    })?;
    let report = summarise(args, &ctx.placements, &visits, (best_affinity, catalog_affinity));
    print(&report, args.json)?;
    anyhow::ensure!(
        report.failed_requests * 100 <= report.requests,
        "{} of {} requests failed (more than 1%); first errors:\n  {}",
        report.failed_requests,
        report.requests,
        report.errors.join("\n  ")
    );
    Ok(())
}

/// Every shopper's visit, at most `concurrency` at once, in shopper order.
async fn run_shoppers(ctx: &Arc<Ctx>, concurrency: usize) -> anyhow::Result<Vec<Visit>> {
    let mut out: Vec<Option<Visit>> = vec![None; ctx.shoppers.len()];
    let mut running = tokio::task::JoinSet::new();
    for k in 0..ctx.shoppers.len() {
        if running.len() >= concurrency
            && let Some(done) = running.join_next().await
        {
            let (k, v) = done?;
            out[k] = Some(v);
        }
        let ctx = ctx.clone();
        running.spawn(async move { (k, visit(ctx, k).await) });
    }
    while let Some(done) = running.join_next().await {
        let (k, v) = done?;
        out[k] = Some(v);
    }
    Ok(out.into_iter().flatten().collect())
}

/// The report of the visits, summed in shopper order.
fn summarise(
    args: &SimulateArgs,
    placements: &[Option<String>],
    visits: &[Visit],
    (best_affinity, catalog_affinity): (f64, f64),
) -> SimulationReport {
    let mut by_placement = vec![Tally::default(); placements.len()];
    let mut total = Tally::default();
    let mut errors = Vec::new();
    let (mut requests, mut failed, mut sent, mut inserted, mut duplicates) = (0, 0, 0, 0, 0);
    for v in visits {
        for (sum, t) in by_placement.iter_mut().zip(&v.tallies) {
            sum.merge(t);
        }
        requests += v.requests;
        failed += v.failed;
        sent += v.sent;
        inserted += v.inserted;
        duplicates += v.duplicates;
        errors.extend(v.errors.iter().take(MAX_ERRORS - errors.len().min(MAX_ERRORS)).cloned());
    }
    for t in &by_placement {
        total.merge(t);
    }
    SimulationReport {
        url: args.url.clone(),
        seed: args.seed,
        shop_seed: args.shop_seed,
        shoppers: visits.len() as u64,
        lists_per_shopper: args.lists_per_shopper as u64,
        requests,
        failed_requests: failed,
        events_sent: sent,
        events_inserted: inserted,
        events_duplicate: duplicates,
        total: total.report("all"),
        placements: placements
            .iter()
            .zip(&by_placement)
            .map(|(p, t)| t.report(p.as_deref().unwrap_or("none")))
            .collect(),
        best_affinity,
        catalog_affinity,
        errors,
    }
}

fn print(r: &SimulationReport, json: bool) -> anyhow::Result<()> {
    if json {
        report::print(&(serde_json::to_string_pretty(r)? + "\n"));
        return Ok(());
    }
    report::print(&format!(
        "{} shoppers × {} lists from {} (seed {}, shop seed {})\n\n",
        r.shoppers, r.lists_per_shopper, r.url, r.seed, r.shop_seed
    ));
    let headers = [
        "placement",
        "lists",
        "fallback",
        "clicks",
        "carts",
        "purchases",
        "revenue",
        "CTR/list",
        "conv/list",
        "true affinity",
    ];
    let row = |p: &PlacementReport| {
        vec![
            p.placement.clone(),
            p.lists.to_string(),
            p.fallback_lists.to_string(),
            p.clicks.to_string(),
            p.carts.to_string(),
            p.purchases.to_string(),
            format!("{:.2}", p.revenue),
            format!("{:.1}%", 100.0 * p.ctr),
            format!("{:.2}%", 100.0 * p.conversion),
            format!("{:.3}", p.mean_affinity),
        ]
    };
    let mut rows: Vec<Vec<String>> = r.placements.iter().map(row).collect();
    if r.placements.len() > 1 {
        rows.push(row(&r.total));
    }
    let table = Table { headers: headers.map(String::from).to_vec(), rows };
    report::print_table(
        "What the lists drew, and the truth of what they showed",
        &table,
        &(),
        OutputArg::Table,
    )?;
    report::print(&format!(
        "\nground truth: mean affinity of the shown items {:.3}; of each shopper's own best items {:.3}; \
         of the catalog {:.3}\nevents sent {} (inserted {}, duplicates {}); requests {}, failed {}\n",
        r.total.mean_affinity,
        r.best_affinity,
        r.catalog_affinity,
        r.events_sent,
        r.events_inserted,
        r.events_duplicate,
        r.requests,
        r.failed_requests
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements_and_ids_are_percent_encoded() {
        assert_eq!(encode("home-page_1.x~"), "home-page_1.x~");
        assert_eq!(encode("a b&c/é"), "a%20b%26c%2F%C3%A9");
    }
}
