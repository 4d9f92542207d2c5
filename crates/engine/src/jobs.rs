//! Training jobs and model versions: one job at a time, on a schedule or on demand; the gate;
//! publication by atomic swap; activation of any stored version (rollback); pruning.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aisle_core::models::registry::ModelSpec;
use aisle_store::{ModelRecord, NewModel, Store};
use serde::Serialize;

use crate::config::{Gate, ModelConfig};
use crate::published::{Artifact, Published};
use crate::train::fit;
use crate::{Engine, EngineError, now_ms};

/// What to train.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainRequest {
    /// A model other than the configured one (name and parameters).
    pub model: Option<ModelConfig>,
    /// Publish whatever the gate says.
    pub force: bool,
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
    /// The serving configuration's NDCG@10 on the same split, when the gate compared.
    pub serving_ndcg: Option<f64>,
    /// Wall time of the whole job, seconds.
    pub seconds: f64,
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
}

/// Releases the training slot however the job ends.
struct Slot<'a>(&'a Engine);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.lock_training().running_since_ms = None;
    }
}

fn spec_of(record: &ModelRecord) -> Option<ModelSpec> {
    let mut spec: ModelSpec = record.model.name.parse().ok()?;
    spec.merge(&record.model.params).ok()?;
    Some(spec)
}

impl Engine {
    fn lock_training(&self) -> std::sync::MutexGuard<'_, crate::TrainingStatus> {
        self.training.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Training state.
    pub fn training_status(&self) -> TrainingStatus {
        self.lock_training().clone()
    }

    /// Every stored version, newest first.
    pub async fn models(&self) -> Result<Vec<ModelRecord>, EngineError> {
        Ok(self.store.models().await?)
    }

    /// Trains, evaluates, stores and (gate permitting) publishes a model. One job at a time.
    pub async fn train(&self, req: &TrainRequest) -> Result<TrainOutcome, EngineError> {
        self.check_leader()?;
        let model_cfg = req.model.clone().unwrap_or_else(|| self.config.model.clone());
        let spec = model_cfg.spec()?;
        {
            let mut t = self.lock_training();
            if let Some(started_at_ms) = t.running_since_ms {
                return Err(EngineError::TrainingBusy { started_at_ms });
            }
            t.running_since_ms = Some(now_ms());
        }
        let _slot = Slot(self);
        let result = self.run_job(&model_cfg.name, spec, req.force).await;
        let mut t = self.lock_training();
        t.jobs += 1;
        match &result {
            Ok(o) => {
                t.last = Some(o.clone());
                t.last_error = None;
            }
            Err(e) => t.last_error = Some(e.to_string()),
        }
        result
    }

    async fn run_job(&self, name: &str, spec: ModelSpec, force: bool) -> Result<TrainOutcome, EngineError> {
        let started = Instant::now();
        let snapshot = self.snapshot().await?;
        if (snapshot.events.len() as u64) < self.config.training.min_events {
            return Err(EngineError::Training(format!(
                "{} events stored; training needs at least training.min_events = {}",
                snapshot.events.len(),
                self.config.training.min_events
            )));
        }
        let serving = self.serving();
        let serving_spec = serving.as_ref().and_then(|p| spec_of(&p.record));
        let (weights, t) = (self.config.weights, self.config.training.clone());
        let job_spec = spec.clone();
        let (fitted, last_seq) = tokio::task::spawn_blocking(move || {
            fit(&snapshot, &job_spec, serving_spec.as_ref(), &weights, t.holdout_ratio, t.seed)
                .map(|f| (f, snapshot.last_seq))
        })
        .await??;
        let ndcg = fitted.metrics.get("ndcg@10").copied();
        let (publish, reason) =
            match (force, self.config.training.gate, serving.is_some(), ndcg, fitted.serving_ndcg) {
                (true, ..) => (true, "forced".to_owned()),
                (_, Gate::Always, ..) => (true, "gate is `always`".to_owned()),
                (_, Gate::NotWorse, false, ..) => (true, "no model was serving".to_owned()),
                (_, Gate::NotWorse, true, Some(new), Some(old)) => {
                    let ok = new + self.config.training.tolerance >= old;
                    (ok, format!("holdout NDCG@10 {new:.4} vs serving configuration {old:.4}"))
                }
                (_, Gate::NotWorse, true, ..) => {
                    (false, "the holdout split could not evaluate both models".to_owned())
                }
            };
        let artifact = fitted.artifact;
        let bytes = tokio::task::spawn_blocking(move || artifact.encode().map(|b| (b, artifact))).await??;
        let new = NewModel {
            name: name.to_owned(),
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
            let _m = self.model_lock.lock().await;
            let record = self.store.activate_model(record.version).await?;
            self.publish(record.clone(), bytes.1);
            self.store.prune_models(self.config.training.keep_versions).await?;
            record
        } else {
            record
        };
        tracing::info!(version = record.version, publish, %reason, "training finished");
        Ok(TrainOutcome {
            model: record,
            published: publish,
            reason,
            serving_ndcg: fitted.serving_ndcg,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Swaps in a version (readers see the old or the new one, never a mix).
    fn publish(&self, record: ModelRecord, artifact: Artifact) {
        let catalog = self.catalog.read();
        let version = record.version;
        self.history.advance_floor(record.model.trained_on_seq);
        let p = Published::new(record, artifact, catalog.values().map(|r| r.as_ref()));
        self.serving.store(Some(Arc::new(p)));
        drop(catalog);
        metrics::gauge!("aisle_serving_model_version").set(version as f64);
    }

    /// Loads a stored version's artifact and publishes it.
    pub(crate) async fn load_version(&self, record: ModelRecord) -> Result<(), EngineError> {
        let version = record.version;
        let bytes = self
            .store
            .model_artifact(version)
            .await?
            .ok_or_else(|| EngineError::NotFound { what: "model", id: version.to_string() })?;
        let artifact = tokio::task::spawn_blocking(move || Artifact::decode(version, &bytes)).await??;
        self.publish(record, artifact);
        Ok(())
    }

    /// Makes a stored version the serving one (also a rollback).
    pub async fn activate(&self, version: u64) -> Result<ModelRecord, EngineError> {
        let bytes = self
            .store
            .model_artifact(version)
            .await?
            .ok_or_else(|| EngineError::NotFound { what: "model", id: version.to_string() })?;
        let artifact = tokio::task::spawn_blocking(move || Artifact::decode(version, &bytes)).await??;
        let _m = self.model_lock.lock().await;
        let record = self.store.activate_model(version).await?;
        self.publish(record.clone(), artifact);
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

    pub(crate) async fn scheduled_job(&self) {
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
