//! Training jobs and model versions: one job at a time, on a schedule or on demand; the gate;
//! publication by atomic swap; activation of any stored version (rollback); pruning.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use aisle_core::models::registry::ModelSpec;
use aisle_store::{ModelRecord, NewModel, Store, Tombstone};
use serde::{Deserialize, Serialize};

use crate::config::{ModelChoice, ModelConfig};
use crate::gate::{Comparison, decide};
use crate::published::{Artifact, Published};
use crate::select::{Budget, Selection, select};
use crate::serving::Swapping;
use crate::train::{Fitted, GateInput, fit, fit_all};
use crate::{Engine, EngineError, now_ms};

/// What to train.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainRequest {
    /// A model other than the configured one (name and parameters).
    pub model: Option<ModelConfig>,
    /// Publish whatever the gate says.
    pub force: bool,
    /// Store the version without publishing it, whatever the gate says: a candidate to pin in
    /// an experiment's variant (or to evaluate with `aisle ope`) before it goes live.
    pub candidate: bool,
}

/// What one training job did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainOutcome {
    /// The stored version.
    pub model: ModelRecord,
    /// Whether it now serves.
    pub published: bool,
    /// Why it was or was not published.
    pub reason: String,
    /// What the gate compared it with, and the figures.
    pub comparison: Comparison,
    /// The NDCG@10 of what it was compared with, when there was a comparison.
    pub serving_ndcg: Option<f64>,
    /// With `model.name = "auto"`: every candidate's figure and which was trained.
    pub selection: Option<Selection>,
    /// The slow candidates (`model.slow_candidates`) a follow-up job now fits against this
    /// version's setting, in the background; empty when none follows.
    pub follow_up: Vec<String>,
    /// Wall time of the whole job, seconds.
    pub seconds: f64,
}

/// What the follow-up of an `auto` training did: its slow candidates against the setting that
/// training chose, on a fresh snapshot's validation split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FollowUp {
    /// The version whose setting the slow candidates were compared with.
    pub after_version: u64,
    /// Every candidate's figure, that setting's among them; `None` when the job failed before.
    pub selection: Option<Selection>,
    /// The version it stored, when a slow candidate scored higher.
    pub version: Option<u64>,
    /// Whether that version now serves.
    pub published: bool,
    /// What happened, in words (the error, when it failed).
    pub reason: String,
    /// Wall time, seconds.
    pub seconds: f64,
    /// When it ended, Unix ms.
    pub finished_at_ms: i64,
}

/// The state of training, for `GET /v1/models`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TrainingStatus {
    /// When the running job started (Unix ms), if one runs.
    pub running_since_ms: Option<i64>,
    /// The last finished job.
    pub last: Option<TrainOutcome>,
    /// The last failure, if the last job failed.
    pub last_error: Option<String>,
    /// Jobs finished since start-up.
    pub jobs: u64,
    /// Trainings in a row whose gate could not evaluate.
    pub unevaluated_in_a_row: u32,
    /// The last follow-up of an `auto` training, when one has ended.
    pub follow_up: Option<FollowUp>,
}

/// A trained model on its way to the store: what [`Engine::finish`] stores and publishes.
struct Trained {
    name: String,
    spec: ModelSpec,
    selection: Option<Selection>,
    fitted: Fitted,
    last_seq: u64,
}

/// Releases the training slot however the job ends.
struct Slot(Arc<Engine>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.training.end();
    }
}

/// Training: the part of the [`Engine`] that holds the one training slot and what the jobs
/// did, behind one std mutex (a leaf: never held across an await nor with another lock).
#[derive(Debug, Default)]
pub(crate) struct Training {
    status: Mutex<TrainingStatus>,
    /// The tombstones (user → `at_seq`) the last training's read applied to the kept training
    /// snapshot; `None` when some of its writes failed (then it may still hold any of them).
    applied: Mutex<Option<HashMap<String, u64>>>,
}

impl Training {
    fn lock(&self) -> MutexGuard<'_, TrainingStatus> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state, for `GET /v1/models`.
    pub(crate) fn status(&self) -> TrainingStatus {
        self.lock().clone()
    }

    /// Takes the slot at `now_ms`; refused while a job (or its follow-up) holds it.
    pub(crate) fn start(&self, now_ms: i64) -> Result<(), EngineError> {
        let mut t = self.lock();
        if let Some(started_at_ms) = t.running_since_ms {
            return Err(EngineError::TrainingBusy { started_at_ms });
        }
        t.running_since_ms = Some(now_ms);
        Ok(())
    }

    /// Notes the tombstones a read applied to the kept training snapshot.
    pub(crate) fn applied(&self, tombs: Option<HashMap<String, u64>>) {
        *self.applied.lock().unwrap_or_else(PoisonError::into_inner) = tombs;
    }

    /// The `at_seq` below which tombstones may be pruned: below `oldest` (no kept version needs
    /// them), and below every tombstone the kept training snapshot has not had applied yet (it
    /// may hold that user's events; the next read drops them).
    pub(crate) fn prune_bound(&self, oldest: u64, stones: &[Tombstone]) -> u64 {
        let applied = self.applied.lock().unwrap_or_else(PoisonError::into_inner);
        stones
            .iter()
            .filter(|t| applied.as_ref().and_then(|a| a.get(&t.user_id)) != Some(&t.at_seq))
            .map(|t| t.at_seq)
            .fold(oldest, u64::min)
    }

    /// Frees the slot.
    pub(crate) fn end(&self) {
        self.lock().running_since_ms = None;
    }

    /// Whether a job holds the slot.
    pub(crate) fn running(&self) -> bool {
        self.lock().running_since_ms.is_some()
    }

    /// Records a finished job.
    pub(crate) fn record(&self, result: &Result<TrainOutcome, EngineError>) {
        let mut t = self.lock();
        t.jobs += 1;
        match result {
            Ok(o) => {
                t.last = Some(o.clone());
                t.last_error = None;
            }
            Err(e) => t.last_error = Some(e.to_string()),
        }
    }

    /// Records the end of an `auto` training's follow-up.
    pub(crate) fn follow_up_ended(&self, f: FollowUp) {
        self.lock().follow_up = Some(f);
    }

    /// Trainings in a row whose gate could not evaluate.
    pub(crate) fn unevaluated_in_a_row(&self) -> u32 {
        self.lock().unevaluated_in_a_row
    }

    /// Counts a gate decision: one that could not evaluate and did not publish lengthens the
    /// run of unevaluated trainings, anything else ends it.
    pub(crate) fn gate_decided(&self, unevaluated: bool) {
        let mut t = self.lock();
        t.unevaluated_in_a_row = if unevaluated { t.unevaluated_in_a_row + 1 } else { 0 };
    }
}

fn spec_of(record: &ModelRecord) -> Option<ModelSpec> {
    let mut spec: ModelSpec = record.model.name.parse().ok()?;
    spec.merge(&record.model.params).ok()?;
    Some(spec)
}

impl Engine {
    /// Training state.
    pub fn training_status(&self) -> TrainingStatus {
        self.training.status()
    }

    /// Every stored version, newest first.
    pub async fn models(&self) -> Result<Vec<ModelRecord>, EngineError> {
        Ok(self.store.models().await?)
    }

    /// Trains, evaluates, stores and (gate permitting) publishes a model. One job at a time.
    ///
    /// The job runs in a task of its own and holds the training slot until it ends, also when
    /// the caller stops waiting (a client that hung up on `"wait": true`). With `auto`'s slow
    /// candidates the answer comes when the quick winner is stored, and the slot stays held
    /// until their follow-up ends ([`Engine::training_finished`]).
    pub async fn train(self: &Arc<Self>, req: &TrainRequest) -> Result<TrainOutcome, EngineError> {
        self.check_leader()?;
        let model_cfg = req.model.clone().unwrap_or_else(|| self.config.model.clone());
        let choice = model_cfg.choice()?;
        self.training.start(now_ms())?;
        let slot = Slot(Arc::clone(self));
        let (force, candidate) = (req.force, req.candidate);
        tokio::spawn(async move {
            let engine = Arc::clone(&slot.0);
            let result = engine.run_job(choice.clone(), force, candidate).await;
            engine.training.record(&result);
            // A natural moment to keep the state: the next start then reads the log from about
            // the last training on, even after a crash.
            if result.is_ok()
                && let Err(e) = engine.save_state().await
            {
                tracing::warn!(error = %e, "the engine state was not kept: the next start reads more of the log");
            }
            match (&result, choice) {
                (Ok(o), ModelChoice::Auto { slow, validation_steps, .. }) if !o.follow_up.is_empty() => {
                    let slow = slow.into_iter().filter(|(name, _)| o.follow_up.contains(name)).collect();
                    let after = o.model.clone();
                    // The follow-up keeps the slot: no other training starts until it ends.
                    tokio::spawn(async move {
                        let engine = Arc::clone(&slot.0);
                        engine.follow_up(after, slow, validation_steps).await;
                        drop(slot);
                    });
                }
                _ => drop(slot),
            }
            result
        })
        .await?
    }

    /// Waits until no training job (nor follow-up) runs.
    pub async fn training_finished(&self) {
        while self.training.running() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The follow-up of an `auto` training: `slow` fitted with their defaults beside `after`'s
    /// setting on a fresh snapshot's validation split; the best trained on everything and
    /// published (gate: its validation figure not below the setting's) if a slow one wins.
    async fn follow_up(&self, after: ModelRecord, slow: Vec<(String, ModelSpec)>, validation_steps: usize) {
        let started = Instant::now();
        let version = after.version;
        let names: Vec<&str> = slow.iter().map(|(n, _)| n.as_str()).collect();
        tracing::info!(after = version, candidates = ?names, "follow-up: slow candidates against the chosen setting");
        let (selection, result) = self.run_follow_up(after, slow, validation_steps).await;
        let (stored, published, reason) = match result {
            Ok(Some(o)) => {
                let out = (Some(o.model.version), o.published, o.reason.clone());
                self.training.record(&Ok(o));
                out
            }
            Ok(None) => {
                let why = selection.as_ref().map_or_else(String::new, |s| s.reason.clone());
                (None, false, format!("no slow candidate scored higher, nothing stored: {why}"))
            }
            Err(e) => (None, false, format!("the follow-up failed: {e}")),
        };
        tracing::info!(after = version, ?stored, published, %reason, "follow-up finished");
        self.training.follow_up_ended(FollowUp {
            after_version: version,
            selection,
            version: stored,
            published,
            reason,
            seconds: started.elapsed().as_secs_f64(),
            finished_at_ms: now_ms(),
        });
    }

    async fn run_follow_up(
        &self,
        after: ModelRecord,
        slow: Vec<(String, ModelSpec)>,
        validation_steps: usize,
    ) -> (Option<Selection>, Result<Option<TrainOutcome>, EngineError>) {
        let started = Instant::now();
        let Some(spec) = spec_of(&after) else {
            let e = EngineError::Training(format!("version {}'s setting no longer parses", after.version));
            return (None, Err(e));
        };
        let snapshot = match self.snapshot().await {
            Ok(s) => s,
            Err(e) => return (None, Err(e)),
        };
        let (weights, t) = (self.config.weights, self.config.training.clone());
        let (name, version) = (after.model.name.clone(), after.version);
        let job = tokio::task::spawn_blocking(move || {
            let mut candidates = vec![(name.clone(), spec)];
            candidates.extend(slow);
            let budget = Budget { trials: 1, validation_steps };
            let (chosen, spec, selection) = select(&snapshot, &candidates, budget, &weights, &t)?;
            let score = |n: &str| selection.candidates.iter().find(|c| c.name == n).and_then(|c| c.ndcg);
            let (Some(candidate_ndcg), false) = (score(&chosen), chosen == name) else {
                return Ok((selection, None));
            };
            let comparison = Comparison::Validation {
                version,
                cases: selection.cases,
                candidate_ndcg,
                serving_ndcg: score(&name),
            };
            let fitted = fit_all(&snapshot, &spec, &weights, &t, Default::default(), comparison)?;
            let last_seq = snapshot.last_seq;
            let trained =
                Trained { name: chosen, spec, selection: Some(selection.clone()), fitted, last_seq };
            Ok::<_, EngineError>((selection, Some(trained)))
        });
        let (selection, trained) = match job.await.map_err(EngineError::from).and_then(|r| r) {
            Ok(done) => done,
            Err(e) => return (None, Err(e)),
        };
        let Some(trained) = trained else { return (Some(selection), Ok(None)) };
        let outcome = self.finish(trained, false, false, Vec::new(), started).await;
        (Some(selection), outcome.map(Some))
    }

    /// What the gate needs of the serving version.
    fn gate_input(&self, snapshot: &crate::train::Snapshot) -> Option<GateInput> {
        let serving = self.serving()?;
        let hidden = self.log.forgotten.hidden_in(&snapshot.users, serving.trained_on_seq());
        Some(GateInput { spec: spec_of(&serving.record), serving, hidden })
    }

    async fn run_job(
        &self,
        choice: ModelChoice,
        force: bool,
        candidate: bool,
    ) -> Result<TrainOutcome, EngineError> {
        let started = Instant::now();
        let snapshot = self.snapshot().await?;
        if (snapshot.events.len() as u64) < self.config.training.min_events {
            return Err(EngineError::Training(format!(
                "{} events stored; training needs at least training.min_events = {}",
                snapshot.events.len(),
                self.config.training.min_events
            )));
        }
        let gate = self.gate_input(&snapshot);
        let (weights, t) = (self.config.weights, self.config.training.clone());
        let slow: Vec<String> = match &choice {
            ModelChoice::Auto { slow, .. } if !candidate => slow.iter().map(|(n, _)| n.clone()).collect(),
            _ => Vec::new(),
        };
        let trained = tokio::task::spawn_blocking(move || {
            let (name, spec, selection) = match choice {
                ModelChoice::Fixed(name, spec) => (name, spec, None),
                ModelChoice::Auto { candidates, trials, validation_steps, .. } => {
                    let (name, spec, selection) =
                        select(&snapshot, &candidates, Budget { trials, validation_steps }, &weights, &t)?;
                    tracing::info!(reason = %selection.reason, "model selection");
                    (name, spec, Some(selection))
                }
            };
            let fitted = fit(&snapshot, &spec, gate.as_ref(), &weights, &t)?;
            Ok::<_, EngineError>(Trained { name, spec, selection, fitted, last_seq: snapshot.last_seq })
        })
        .await??;
        // Slow candidates follow when the choice was validated, except the chosen one itself.
        let validated = trained.selection.as_ref().is_some_and(|s| s.cases > 0);
        let follow_up = slow.into_iter().filter(|n| validated && *n != trained.name).collect();
        self.finish(trained, force, candidate, follow_up, started).await
    }

    /// Stores a trained model, and publishes it if the gate (or `force`) lets it.
    async fn finish(
        &self,
        trained: Trained,
        force: bool,
        candidate: bool,
        follow_up: Vec<String>,
        started: Instant,
    ) -> Result<TrainOutcome, EngineError> {
        let Trained { name, spec, selection, mut fitted, last_seq } = trained;
        if let Some(sel) = &selection {
            fitted.metrics.extend(sel.metrics());
        }
        let unevaluated = self.training.unevaluated_in_a_row();
        let (publish, reason) = match decide(&self.config.training, force, &fitted.comparison, unevaluated) {
            (_, reason) if candidate => {
                (false, format!("stored as a candidate, not published (the gate: {reason})"))
            }
            decided => decided,
        };
        let reason = match &selection {
            Some(sel) => format!("{}; {reason}", sel.reason),
            None => reason,
        };
        let ndcg = fitted.metrics.get("ndcg@10").copied();
        let comparison = fitted.comparison.clone();
        self.training.gate_decided(matches!(comparison, Comparison::Unevaluable { .. }) && !publish);
        let outcome = if publish { "published" } else { "rejected" };
        metrics::counter!("aisle_training_gate_total", "outcome" => outcome, "comparison" => comparison.kind())
            .increment(1);
        if publish {
            tracing::info!(%reason, "the gate publishes the new model");
        } else {
            tracing::warn!(%reason, "the gate keeps the serving model");
        }
        let artifact = fitted.artifact;
        let quantized_min = self.config.cache.quantized_min_items;
        let bytes = tokio::task::spawn_blocking(move || {
            let encoded = artifact.encode()?;
            artifact.prepare(quantized_min);
            Ok::<_, EngineError>((encoded, artifact))
        })
        .await??;
        let new = NewModel {
            name,
            params: spec.params(),
            trained_on_seq: last_seq,
            metrics: fitted.metrics,
            created_at_ms: now_ms(),
        };
        let record = self.store.put_model(new, bytes.0).await?;
        metrics::histogram!("aisle_training_duration_seconds").record(started.elapsed().as_secs_f64());
        if let Some(v) = ndcg {
            metrics::gauge!("aisle_training_ndcg_at_10").set(v);
        }
        let record = if publish {
            let swap = self.serving.swapping().await;
            // Fenced: if this replica lost the lease while it trained, a successor leads and this
            // activation is refused inside its transaction.
            let fence = self.replication.fence();
            if self.store.is_shared() && fence.is_none() {
                // The lease was lost (or never held) while this job ran: publishing is the new
                // leader's to do.
                return Err(EngineError::NotLeader);
            }
            let record = self.store.activate_model(record.version, fence).await?;
            self.publish(&swap, record.clone(), bytes.1);
            record
        } else {
            record
        };
        self.prune().await?;
        tracing::info!(version = record.version, publish, %reason, "training finished");
        Ok(TrainOutcome {
            model: record,
            published: publish,
            reason,
            serving_ndcg: comparison.serving_ndcg(),
            comparison,
            selection,
            follow_up,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Prunes old versions, published or rejected alike, then the tombstones no kept version
    /// needs any more.
    async fn prune(&self) -> Result<(), EngineError> {
        self.store.prune_models(self.config.training.keep_versions).await?;
        let oldest = self.store.models().await?.iter().map(|m| m.model.trained_on_seq).min();
        if let Some(oldest) = oldest {
            let below = self.training.prune_bound(oldest, &self.store.deleted_users().await?);
            self.store.prune_deleted_users(below).await?;
            self.log.forgotten.prune(below);
        }
        Ok(())
    }

    /// Swaps in a version (readers see the old or the new one, never a mix).
    fn publish(&self, swap: &Swapping<'_>, record: ModelRecord, artifact: Artifact) {
        let catalog = self.catalog.read();
        let version = record.version;
        self.log.history.advance_floor(record.model.trained_on_seq);
        let p = Published::new(record, artifact, catalog.values().map(|r| r.as_ref()));
        self.serving.publish(swap, p);
        drop(catalog);
        metrics::gauge!("aisle_serving_model_version").set(version as f64);
    }

    /// A stored version's artifact, decoded off the async workers.
    async fn artifact(&self, version: u64) -> Result<Artifact, EngineError> {
        let bytes = self
            .store
            .model_artifact(version)
            .await?
            .ok_or_else(|| EngineError::NotFound { what: "model", id: version.to_string() })?;
        let quantized_min = self.config.cache.quantized_min_items;
        tokio::task::spawn_blocking(move || {
            let artifact = Artifact::decode(version, &bytes)?;
            artifact.prepare(quantized_min);
            Ok(artifact)
        })
        .await?
    }

    /// A stored version as a servable value, without publishing it (an experiment's pinned
    /// version); the serving one when it is that version.
    pub async fn published(&self, version: u64) -> Result<Arc<Published>, EngineError> {
        if let Some(p) = self.serving().filter(|p| p.version() == version) {
            return Ok(p);
        }
        let record = self
            .store
            .models()
            .await?
            .into_iter()
            .find(|m| m.version == version)
            .ok_or_else(|| EngineError::NotFound { what: "model", id: version.to_string() })?;
        let artifact = self.artifact(version).await?;
        let catalog = self.catalog.read();
        Ok(Arc::new(Published::new(record, artifact, catalog.values().map(|r| r.as_ref()))))
    }

    /// Loads a stored version's artifact and publishes it.
    pub(crate) async fn load_version(
        &self,
        swap: &Swapping<'_>,
        record: ModelRecord,
    ) -> Result<(), EngineError> {
        let artifact = self.artifact(record.version).await?;
        self.publish(swap, record, artifact);
        Ok(())
    }

    /// Serves the store's active version; when its artifact does not decode (corrupt, or written
    /// by a newer aisle after a rollback of the binary), the newest version that does, else
    /// popular lists — and says so in the log and in [`Engine::serving_health`].
    pub(crate) async fn load_or_fall_back(
        &self,
        swap: &Swapping<'_>,
        active: ModelRecord,
    ) -> Result<(), EngineError> {
        let version = active.version;
        let err = match self.load_version(swap, active).await {
            Ok(()) => return Ok(()),
            Err(e @ (EngineError::Artifact { .. } | EngineError::NotFound { .. })) => e,
            Err(e) => return Err(e),
        };
        let mut degraded = format!("the active model version {version} cannot be served ({err})");
        self.serving.mark_unreadable(version);
        for older in self.store.models().await?.into_iter().filter(|m| m.version < version) {
            match self.artifact(older.version).await {
                Ok(artifact) => {
                    degraded.push_str(&format!("; serving version {} instead", older.version));
                    self.publish(swap, older, artifact);
                    break;
                }
                Err(EngineError::Artifact { .. } | EngineError::NotFound { .. }) => {
                    self.serving.mark_unreadable(older.version);
                }
                Err(e) => return Err(e),
            }
        }
        if self.serving().is_none() {
            degraded.push_str("; no stored version can be read: serving popular lists");
        }
        tracing::error!(reason = %degraded, "serving is degraded");
        self.serving.degrade(degraded);
        Ok(())
    }

    /// Makes a stored version the serving one (also a rollback). An operator's activation is not
    /// fenced: it may run on any replica.
    pub async fn activate(&self, version: u64) -> Result<ModelRecord, EngineError> {
        let artifact = self.artifact(version).await?;
        let swap = self.serving.swapping().await;
        let record = self.store.activate_model(version, None).await?;
        self.publish(&swap, record.clone(), artifact);
        Ok(record)
    }

    /// Runs scheduled training until `shutdown` resolves: once at start when nothing serves (if
    /// `training.on_start`), then every `training.interval_s` (never when it is 0).
    pub async fn run_schedule(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let t = self.config.training.clone();
        // On a shared store the replica that becomes leader trains on start instead.
        if t.on_start && self.serving().is_none() && !self.store.is_shared() {
            self.scheduled_job().await;
        }
        if t.interval_s == 0 {
            shutdown.await;
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_secs(t.interval_s));
        tick.tick().await;
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => self.scheduled_job().await,
            }
        }
    }

    pub(crate) async fn scheduled_job(self: &Arc<Self>) {
        if !self.is_leader() {
            return;
        }
        match self.train(&TrainRequest::default()).await {
            Ok(o) => {
                tracing::info!(version = o.model.version, published = o.published, "scheduled training done")
            }
            Err(e) => tracing::warn!(error = %e, "scheduled training did not publish"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_job_holds_the_slot_and_the_status_records_what_jobs_did() {
        let t = Training::default();
        assert!(!t.running());
        t.start(1_000).expect("a free slot");
        assert!(t.running());
        match t.start(2_000) {
            Err(EngineError::TrainingBusy { started_at_ms }) => assert_eq!(started_at_ms, 1_000),
            other => panic!("a second job must wait for the first: {other:?}"),
        }
        t.record(&Err(EngineError::Training("no events".into())));
        assert_eq!(
            (t.status().jobs, t.status().last_error.as_deref()),
            (1, Some("training failed: no events"))
        );
        t.end();
        assert!(!t.running());
        t.start(3_000).expect("freed");
        // The gate's run of trainings it could not evaluate: lengthened, then ended.
        t.gate_decided(true);
        t.gate_decided(true);
        assert_eq!(t.unevaluated_in_a_row(), 2);
        t.gate_decided(false);
        assert_eq!(t.unevaluated_in_a_row(), 0);
        assert_eq!(t.status().running_since_ms, Some(3_000));
    }
}
