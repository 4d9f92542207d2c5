//! A training's read: the kept segments, then the log after them, and what it leaves kept.

use std::collections::HashMap;

use aisle_store::{StateRecord, Store};

use super::{Build, Built, Write, segment_name};
use crate::train::PAGE;
use crate::{Engine, EngineError, now_ms};

/// What the writes of one read did.
struct Writes {
    /// The `seq` every write carries: above every stored segment's, so that it replaces them.
    stamp: u64,
    /// Whether every write was kept.
    all: bool,
    bytes: usize,
    /// Seconds spent writing segments.
    seconds: f64,
}

impl Engine {
    /// Reads the kept segments and the event log after them into a training snapshot's data,
    /// with `catalog` (sorted) first among the items; then keeps what it read (new segments, the
    /// last one filled up, segments holding deleted users' events written again). A failed write
    /// costs the next training a longer read, never a wrong one: it is logged, not returned.
    pub(crate) async fn read_kept(
        &self,
        catalog: Vec<String>,
        segment_events: usize,
    ) -> Result<Built, EngineError> {
        let started = std::time::Instant::now();
        let tombs: HashMap<String, u64> =
            self.store.deleted_users().await?.into_iter().map(|t| (t.user_id, t.at_seq)).collect();
        let mut b = Build::new(catalog.iter(), self.config.events, now_ms(), tombs.clone(), segment_events);
        // The log's size, as room for the snapshot: a hint only (a wrong one costs growth).
        b.reserve(self.store.counts().await?.events);
        let mut w = Writes { stamp: u64::try_from(now_ms()).unwrap_or(0), all: true, bytes: 0, seconds: 0.0 };
        let mut cut = false;
        // Each segment is fetched while the one before it is read in.
        let mut next = self.store.state(segment_name(0)).await?;
        while let Some(record) = next.take() {
            let k = b.segments();
            w.stamp = w.stamp.max(record.seq.saturating_add(1));
            if record.body.is_empty() {
                break; // emptied by an earlier read: the kept snapshot ends here
            }
            let load = tokio::task::spawn_blocking(move || {
                let loaded = b.load(record.body);
                (b, loaded)
            });
            let (loaded, fetched) = tokio::join!(load, self.store.state(segment_name(k + 1)));
            let (back, loaded) = loaded?;
            b = back;
            if let Err(why) = loaded {
                tracing::warn!(segment = k, %why, "the kept training snapshot ends before this segment: the log after it is read");
                cut = true;
                break;
            }
            next = fetched?;
        }
        let mut after = b.kept_seq();
        loop {
            let page = self.store.events_after(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            let (back, full) = tokio::task::spawn_blocking(move || {
                let full = b.add_page(page);
                (b, full)
            })
            .await?;
            b = back;
            for segment in full {
                self.keep_segment(segment, &mut w).await;
            }
        }
        let (built, ending) = tokio::task::spawn_blocking(move || b.finish()).await?;
        if let Some(open) = ending.open {
            self.keep_segment(open, &mut w).await;
        }
        let rewrite = std::sync::Arc::new(ending.rewrite);
        for i in 0..rewrite.segments.len() {
            let k = rewrite.segments[i].index;
            let body = match self.store.state(segment_name(k)).await {
                Ok(Some(record)) => {
                    let r = std::sync::Arc::clone(&rewrite);
                    tokio::task::spawn_blocking(move || r.apply(i, &record.body)).await?
                }
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(segment = k, error = %e, "a kept segment is not read again");
                    None
                }
            };
            match body {
                Some(body) => self.keep_segment((k, body), &mut w).await,
                None => w.all = false,
            }
        }
        if cut {
            self.retire_segments(ending.segments, &mut w).await;
        }
        tracing::info!(
            kept_segments = built.kept_segments,
            kept_events = built.kept_events,
            written_bytes = w.bytes,
            write_seconds = w.seconds,
            seconds = started.elapsed().as_secs_f64(),
            all_written = w.all,
            "training snapshot kept"
        );
        self.training.applied(w.all.then_some(tombs));
        Ok(built)
    }

    async fn keep_segment(&self, (k, body): Write, w: &mut Writes) {
        if body.is_empty() {
            w.all = false; // it did not encode
            return;
        }
        let (bytes, started) = (body.len(), std::time::Instant::now());
        let record = StateRecord { name: segment_name(k), seq: w.stamp, at_ms: now_ms(), body };
        let put = self.store.put_state(record).await;
        w.seconds += started.elapsed().as_secs_f64();
        match put {
            Ok(true) => w.bytes += bytes,
            Ok(false) => {
                tracing::warn!(
                    segment = k,
                    "a newer kept segment is stored under this name: this one is not kept"
                );
                w.all = false;
            }
            Err(e) => {
                tracing::warn!(segment = k, error = %e, "a kept training segment was not written");
                w.all = false;
            }
        }
    }

    /// Empties the segments from `from` on (a former generation's, or past one that failed to
    /// read), so that none of their events stays stored.
    async fn retire_segments(&self, from: usize, w: &mut Writes) {
        for k in from.. {
            let record = match self.store.state(segment_name(k)).await {
                Ok(Some(record)) => record,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(segment = k, error = %e, "a former kept segment is not emptied");
                    w.all = false;
                    break;
                }
            };
            let empty = StateRecord {
                name: segment_name(k),
                seq: w.stamp.max(record.seq),
                at_ms: now_ms(),
                body: Vec::new(),
            };
            if !matches!(self.store.put_state(empty).await, Ok(true)) {
                w.all = false;
                break;
            }
        }
    }
}
