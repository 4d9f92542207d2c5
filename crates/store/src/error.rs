//! Why a store operation failed.

/// A store failure: a missing record the caller named, or the backend itself.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named record does not exist.
    #[error("{what} {id:?} not found")]
    NotFound {
        /// `model`, `item`, ...
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// A record could not be encoded or decoded (a corrupt row or a newer schema).
    #[error("corrupt {what}: {reason}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The database could not be opened, migrated or written.
    #[error("store backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}
