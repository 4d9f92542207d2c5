//! `aisle stats`: the shop overview of an event file (`aisle_core::overview`): events per day by
//! kind, the funnel, the long tail and shoppers by activity. Wiring and rendering only.

use std::path::PathBuf;

use aisle_core::overview::{DAY_MS, DayCounts, Observed, Overview, overview};
use aisle_ingest::{Event, ImportOptions, Importer};
use anyhow::Context;
use clap::Args;

use crate::load::{FormatArg, ItemsFormatArg};
use crate::report::{self, OutputArg, Table};

/// Up to this many days the table shows one row per day; beyond, one per week.
const DAILY_ROWS_UP_TO: usize = 31;

/// Arguments of `aisle stats`: the input flags of `aisle eval` (same names, formats and
/// defaults) for one event file.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The event file.
    #[arg(long)]
    pub data: PathBuf,
    /// Format of the event file.
    #[arg(long, value_enum, default_value = "tsv")]
    pub format: FormatArg,
    /// A catalog read before the events: its items count in the long tail, touched or not.
    #[arg(long)]
    pub items: Option<PathBuf>,
    /// Format of --items.
    #[arg(long, value_enum, default_value = "catalog", requires = "items")]
    pub items_format: ItemsFormatArg,
    /// User attributes (a CSV/TSV with a header and a user id column): its users count in the
    /// id space, with or without events.
    #[arg(long)]
    pub users: Option<PathBuf>,
    /// Make any bad input row fatal.
    #[arg(long)]
    pub strict: bool,
    /// How to print the overview (`json` prints the whole `Overview`, every day included).
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputArg,
}

/// Reads the files, computes the overview and prints it.
pub fn run(args: &StatsArgs) -> anyhow::Result<()> {
    let mut importer = Importer::new(ImportOptions { strict: args.strict, ..ImportOptions::default() });
    let mut reports = Vec::new();
    if let Some(path) = &args.items {
        let r = importer
            .read_items(path, &args.items_format.item_format())
            .with_context(|| format!("importing the catalog {}", path.display()))?;
        reports.push(r);
    }
    if let Some(path) = &args.users {
        let r =
            importer.read_users(path).with_context(|| format!("importing the users {}", path.display()))?;
        reports.push(r);
    }
    let batch = importer
        .read_events(&args.data, &args.format.event_format())
        .with_context(|| format!("importing {}", args.data.display()))?;
    reports.push(batch.report);
    report::import_summary(&reports);
    let (users, items) = (importer.users().len(), importer.items().len());
    let o = overview(batch.events.iter().map(observed), users, items)?;
    match args.output {
        OutputArg::Json => report::print(&(serde_json::to_string_pretty(&o)? + "\n")),
        OutputArg::Table | OutputArg::Markdown => {
            report::print(&format!("{}\n\n", headline(&o)));
            for (title, table) in tables(&o) {
                report::print_table(&title, &table, &(), args.output)?;
                report::print("\n");
            }
        }
    }
    Ok(())
}

/// An imported event as the overview reads it: the importer keeps seconds (0 when unknown).
fn observed(e: &Event) -> Observed {
    let ts_ms = (e.ts != 0).then(|| e.ts.saturating_mul(1000));
    Observed { user: e.user, item: e.item, kind: e.kind, ts_ms }
}

/// `2023-11-14` for a time in Unix ms.
fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |d| d.format("%Y-%m-%d").to_string())
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

fn headline(o: &Overview) -> String {
    let span = match (o.first_ms, o.last_ms) {
        (Some(f), Some(l)) => {
            let days = (l.div_euclid(DAY_MS) - f.div_euclid(DAY_MS)) + 1;
            format!(", {} to {} ({days} days, UTC)", date(f), date(l))
        }
        _ => ", no event times".to_owned(),
    };
    format!("{} events, {} users, {} items{span}", o.events, o.users, o.items)
}

fn tables(o: &Overview) -> Vec<(String, Table)> {
    vec![per_day_table(o), funnel_table(o), long_tail_table(o), activity_table(o)]
}

fn day_sum(days: &[DayCounts]) -> DayCounts {
    days.iter().fold(
        DayCounts { day_ms: days.first().map_or(0, |d| d.day_ms), ..DayCounts::default() },
        |a, d| DayCounts {
            view: a.view + d.view,
            click: a.click + d.click,
            add_to_cart: a.add_to_cart + d.add_to_cart,
            purchase: a.purchase + d.purchase,
            other: a.other + d.other,
            ..a
        },
    )
}

/// One row per day for a short series, else one per 7 days from the first day (the last week
/// may be shorter; its row says how many days it has).
fn per_day_table(o: &Overview) -> (String, Table) {
    let weekly = o.per_day.len() > DAILY_ROWS_UP_TO;
    let rows = if weekly {
        o.per_day.chunks(7).map(|w| (day_sum(w), w.len())).collect()
    } else {
        o.per_day.iter().map(|d| (*d, 1)).collect::<Vec<_>>()
    };
    let first = if weekly { "week from" } else { "day" };
    let headers = [first, "view", "click", "add_to_cart", "purchase", "other", "total"].map(String::from);
    let rows = rows
        .into_iter()
        .map(|(d, days)| {
            let label =
                if weekly && days < 7 { format!("{} ({days} d)", date(d.day_ms)) } else { date(d.day_ms) };
            let total = d.view + d.click + d.add_to_cart + d.purchase + d.other;
            let counts = [d.view, d.click, d.add_to_cart, d.purchase, d.other, total];
            std::iter::once(label).chain(counts.map(|c| c.to_string())).collect()
        })
        .collect();
    let title = if weekly {
        "Events per week (UTC; the daily series is in --output json)"
    } else {
        "Events per day (UTC)"
    };
    (title.to_owned(), Table { headers: headers.to_vec(), rows })
}

fn funnel_table(o: &Overview) -> (String, Table) {
    let f = &o.funnel;
    let rows = vec![
        vec!["view".to_owned(), f.views.to_string(), f.viewers.to_string(), String::new()],
        vec!["add_to_cart".to_owned(), f.carts.to_string(), f.carters.to_string(), pct(f.view_to_cart)],
        vec![
            "purchase".to_owned(),
            f.purchases.to_string(),
            f.buyers.to_string(),
            format!("{} (of viewers {})", pct(f.cart_to_purchase), pct(f.view_to_purchase)),
        ],
    ];
    let headers = ["stage", "events", "shoppers", "shoppers from the stage above"].map(String::from).to_vec();
    ("Funnel".to_owned(), Table { headers, rows })
}

fn long_tail_table(o: &Overview) -> (String, Table) {
    let t = &o.long_tail;
    let rows = vec![
        vec!["items with events".to_owned(), format!("{} of {}", t.items_with_events, o.items)],
        vec!["events on the top 1% of items".to_owned(), pct(t.top_1pct_share)],
        vec!["events on the top 10% of items".to_owned(), pct(t.top_10pct_share)],
        vec!["events on the top 20% of items".to_owned(), pct(t.top_20pct_share)],
        vec!["Gini of item popularity".to_owned(), format!("{:.3}", t.gini)],
    ];
    let headers = ["long tail", "value"].map(String::from).to_vec();
    ("Long tail (popularity: events of any kind per item)".to_owned(), Table { headers, rows })
}

fn activity_table(o: &Overview) -> (String, Table) {
    let active: u64 = o.activity.iter().map(|b| b.users).sum();
    let rows = o
        .activity
        .iter()
        .map(|b| {
            let range = if b.min_events == b.max_events {
                b.min_events.to_string()
            } else {
                format!("{}–{}", b.min_events, b.max_events)
            };
            let share = if active == 0 { 0.0 } else { b.users as f64 / active as f64 };
            vec![range, b.users.to_string(), pct(share)]
        })
        .collect();
    let headers = ["events", "shoppers", "share"].map(String::from).to_vec();
    (format!("Shoppers by activity ({active} with events)"), Table { headers, rows })
}

#[cfg(test)]
mod tests {
    use aisle_core::overview::DAY_MS;
    use aisle_core::{EventKind, ItemIdx, UserIdx};

    use super::*;

    /// One view a day over `days` days from 2023-11-14, by one shopper on one item.
    fn daily(days: i64) -> Overview {
        let start = 19_675 * DAY_MS;
        let events = (0..days).map(|d| Observed {
            user: UserIdx(0),
            item: ItemIdx(0),
            kind: EventKind::View,
            ts_ms: Some(start + d * DAY_MS),
        });
        overview(events, 1, 1).unwrap()
    }

    #[test]
    fn short_series_get_a_row_a_day_and_long_ones_a_row_a_week() {
        let (title, t) = per_day_table(&daily(3));
        assert!(title.contains("per day"), "{title}");
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.rows[0], ["2023-11-14", "1", "0", "0", "0", "0", "1"]);

        // 40 days: five full weeks and a last one of 5 days.
        let (title, t) = per_day_table(&daily(40));
        assert!(title.contains("per week"), "{title}");
        assert_eq!(t.rows.len(), 6);
        assert_eq!(t.rows[1][..2], ["2023-11-21", "7"]);
        assert_eq!(t.rows[5][..2], ["2023-12-19 (5 d)", "5"]);
        assert!(headline(&daily(40)).contains("2023-11-14 to 2023-12-23 (40 days, UTC)"));
    }

    #[test]
    fn imported_seconds_become_milliseconds_and_zero_is_unknown() {
        let e = |ts| Event {
            user: UserIdx(1),
            item: ItemIdx(2),
            kind: EventKind::Click,
            value: 1.0,
            ts,
            session: None,
        };
        assert_eq!(observed(&e(1_700_000_000)).ts_ms, Some(1_700_000_000_000));
        assert_eq!(observed(&e(0)).ts_ms, None);
    }
}
