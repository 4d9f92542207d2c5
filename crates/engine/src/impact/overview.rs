//! The shop overview of the stored event log (`aisle_core::overview`): events per day by type,
//! the view → cart → purchase funnel, the long tail of item popularity and shoppers by activity.
//! Two passes over the log (ids are interned in the first, so the second streams dense events
//! into the one-pass tally without holding the log), cached for [`TTL_MS`] and computed by one
//! request at a time.

use std::collections::HashMap;
use std::sync::Arc;

use aisle_core::overview::{Observed, Overview, overview};
use aisle_core::{ItemIdx, UserIdx};
use aisle_store::Store;

use super::Impact;
use crate::{EngineError, now_ms};

/// How long a computed overview is served before it is computed again.
pub const TTL_MS: i64 = 300_000;
/// Events read per page.
const PAGE: usize = 50_000;

/// The cached overview and when it was computed.
pub(crate) type Cached = tokio::sync::Mutex<Option<(i64, Arc<Overview>)>>;

impl Impact {
    /// The overview of the stored events (at most five minutes old).
    pub async fn overview(&self) -> Result<Arc<Overview>, EngineError> {
        let mut cached = self.overview.lock().await;
        if let Some((at, o)) = cached.as_ref()
            && now_ms() - at < TTL_MS
        {
            return Ok(Arc::clone(o));
        }
        let store = self.engine.store();
        let (mut users, mut items): (HashMap<String, u32>, HashMap<String, u32>) =
            (HashMap::new(), HashMap::new());
        let mut end = 0;
        loop {
            let page = store.events_after(end, PAGE).await?;
            let Some(last) = page.last() else { break };
            end = last.seq;
            for e in page {
                let n = users.len() as u32;
                users.entry(e.event.user_id).or_insert(n);
                let n = items.len() as u32;
                items.entry(e.event.item_id).or_insert(n);
            }
        }
        let (n_users, n_items) = (users.len(), items.len());
        // The tally runs on the blocking pool and is fed page by page: the log is never held.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Observed>>(4);
        let tally = tokio::task::spawn_blocking(move || {
            overview(std::iter::from_fn(move || rx.blocking_recv()).flatten(), n_users, n_items)
        });
        let mut after = 0;
        // Up to the first pass's end: later events have no index.
        while after < end {
            let page = store.events_after(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            let batch: Vec<Observed> = page
                .into_iter()
                .filter(|e| e.seq <= end)
                .filter_map(|e| {
                    let (u, i) = (users.get(&e.event.user_id)?, items.get(&e.event.item_id)?);
                    Some(Observed {
                        user: UserIdx(*u),
                        item: ItemIdx(*i),
                        kind: e.event.kind,
                        ts_ms: Some(e.event.ts_ms),
                    })
                })
                .collect();
            if tx.send(batch).await.is_err() {
                break;
            }
        }
        drop(tx);
        let o = Arc::new(tally.await?.map_err(|e| EngineError::Invalid(e.to_string()))?);
        *cached = Some((now_ms(), Arc::clone(&o)));
        Ok(o)
    }
}
