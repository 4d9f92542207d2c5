//! Why an engine operation failed. The server maps each variant to an HTTP status in one match.

use aisle_store::StoreError;

/// An engine failure.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A config key has a bad value.
    #[error("config {key}: {reason}")]
    Config {
        /// The dotted key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The request names something that does not exist.
    #[error("{what} {id:?} not found")]
    NotFound {
        /// `item`, `user`, `model`, ...
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The request is well-formed but cannot be answered (e.g. an item the model cannot score).
    #[error("{0}")]
    Invalid(String),
    /// A training job is already running.
    #[error("a training job is already running (started {started_at_ms} ms after the epoch)")]
    TrainingBusy {
        /// When it started, Unix ms.
        started_at_ms: i64,
    },
    /// Only the leader replica trains, and this one is not it.
    #[error("this replica is not the leader: training runs on the replica holding the store's leader lock")]
    NotLeader,
    /// Training failed.
    #[error("training failed: {0}")]
    Training(String),
    /// A stored model artifact could not be decoded.
    #[error("model artifact {version} is unreadable: {reason}")]
    Artifact {
        /// The version.
        version: u64,
        /// What is wrong.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A background task panicked or was cancelled.
    #[error("internal task failed: {0}")]
    Task(String),
}

impl From<tokio::task::JoinError> for EngineError {
    fn from(e: tokio::task::JoinError) -> Self {
        EngineError::Task(e.to_string())
    }
}
