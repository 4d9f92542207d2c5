//! The background task: writes queued impressions in batches, attributes new events,
//! applies retention and answers flushes.

use std::sync::Weak;

use aisle_store::{ImpactStore, Impression};
use tokio::sync::{mpsc, oneshot};

use super::{Duration, Impact, attribution, log::Queue};
use crate::now_ms;

const DAY_MS: i64 = 86_400_000;
/// How often retention runs.
const PRUNE_EVERY_MS: i64 = 3_600_000;
/// How often a replica on a shared store rereads placements and experiments.
const FOLLOW_EVERY_MS: i64 = 2_000;

pub(super) async fn run(
    impact: Weak<Impact>,
    mut queue: Queue,
    mut flushes: mpsc::Receiver<oneshot::Sender<()>>,
) {
    let Some(config) = impact.upgrade().map(|i| i.engine.config().impact.clone()) else { return };
    let mut tick = tokio::time::interval(Duration::from_millis(config.flush_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch: Vec<Impression> = Vec::new();
    let mut pruned_at = 0_i64;
    let mut followed_at = now_ms();
    let mut seen: std::collections::VecDeque<(i64, u64)> = std::collections::VecDeque::new();
    let grace_ms = 2 * i64::try_from(config.flush_ms).unwrap_or(60_000) + 1000;
    loop {
        let flush: Option<oneshot::Sender<()>> = tokio::select! {
            got = queue.recv() => match got {
                Some(i) => {
                    batch.push(i);
                    if batch.len() < config.batch {
                        continue;
                    }
                    None
                }
                None => return,
            },
            _ = tick.tick() => None,
            Some(done) = flushes.recv() => Some(done),
        };
        let Some(impact) = impact.upgrade() else { return };
        // Events stored up to here are attributed this round, after everything queued by
        // now is written: a list is queued before its response leaves, so before any event
        // it leads to is stored (and so before this mark passes that event).
        let stored = impact.engine.tail_cursor();
        while let Ok(i) = queue.try_recv() {
            batch.push(i);
        }
        if !write(&impact, &mut batch, config.batch, config.queue).await {
            // Events are attributed only after the impressions before them are written.
            if let Some(done) = flush {
                let _ = done.send(());
            }
            continue;
        }
        let window_ms = i64::from(config.window_days) * DAY_MS;
        let upto = if impact.engine.store().is_shared() {
            // Another replica may have served the list an event follows and not yet written
            // its impression: attribute only events this replica saw a grace period ago.
            let now = now_ms();
            seen.push_back((now, stored));
            while seen.len() > 1 && seen[1].0 <= now - grace_ms {
                seen.pop_front();
            }
            seen.front().filter(|(at, _)| *at <= now - grace_ms).map_or(0, |(_, c)| *c)
        } else {
            stored
        };
        // Catch up on events (bounded per round, so a long backlog does not starve writes).
        for _ in 0..if flush.is_some() { 1000 } else { 4 } {
            match attribution::step(&impact.engine, window_ms, Some(upto)).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "attribution step failed; retried on the next tick");
                    break;
                }
            }
        }
        let now = now_ms();
        if impact.engine.store().is_shared() && now - followed_at >= FOLLOW_EVERY_MS {
            // Other replicas write placements and experiments too.
            followed_at = now;
            let store = impact.engine.store();
            if let Err(e) = impact.placements.load(store).await {
                tracing::warn!(error = %e, "reloading placements failed");
            }
            if let Err(e) = impact.experiments.load(store).await {
                tracing::warn!(error = %e, "reloading experiments failed");
            }
        }
        if now - pruned_at >= PRUNE_EVERY_MS {
            pruned_at = now;
            let before = now.saturating_sub(i64::from(config.retention_days) * DAY_MS);
            if let Err(e) = impact.engine.store().prune_impressions(before).await {
                tracing::warn!(error = %e, "impression retention failed");
            }
        }
        if let Some(done) = flush {
            let _ = done.send(());
        }
    }
}

/// Writes the batch (in chunks); on failure keeps it for the next round, dropping (and
/// counting) the oldest beyond `cap`, and answers false.
async fn write(impact: &Impact, batch: &mut Vec<Impression>, chunk: usize, cap: usize) -> bool {
    while !batch.is_empty() {
        let take = batch.len().min(chunk);
        let part: Vec<Impression> = batch[..take].to_vec();
        match impact.engine.store().log_impressions(part).await {
            Ok(_) => {
                batch.drain(..take);
                metrics::counter!("aisle_impressions_written_total").increment(take as u64);
            }
            Err(e) => {
                tracing::warn!(error = %e, waiting = batch.len(), "impressions not written; retried");
                if batch.len() > cap {
                    let over = batch.len() - cap;
                    batch.drain(..over);
                    impact.log.note_dropped(over as u64);
                }
                return false;
            }
        }
    }
    true
}
