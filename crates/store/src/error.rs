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
    /// The database could not be reached or is busy (a lost connection, a server restarting, a
    /// lock held too long): the operation may succeed if retried later.
    #[error("the store is unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database's disk is full: writes fail until space is freed (reads still work).
    #[error("the store's disk is full: {0}")]
    Full(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A write only the leader may make came from a replica that no longer holds the lease.
    #[error("fenced: {0}")]
    Fenced(String),
    /// The database could not be opened, migrated or written.
    #[error("store backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Sorts a backend failure into what a caller can act on: retry later ([`StoreError::Unavailable`]),
/// free disk space ([`StoreError::Full`]), or nothing ([`StoreError::Backend`]).
pub(crate) fn classify(e: Box<dyn std::error::Error + Send + Sync>) -> StoreError {
    use rusqlite::ErrorCode;
    if let Some(rusqlite::Error::SqliteFailure(f, _)) = e.downcast_ref::<rusqlite::Error>() {
        return match f.code {
            ErrorCode::DiskFull => StoreError::Full(e),
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure => StoreError::Unavailable(e),
            _ => StoreError::Backend(e),
        };
    }
    if let Some(s) = e.downcast_ref::<sqlx::Error>() {
        return match s {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            sqlx::Error::Database(d) => match d.code().as_deref() {
                Some("53100") => StoreError::Full(e),
                Some(c)
                    if c.starts_with("08")
                        || c.starts_with("57P")
                        || c == "53300"
                        || c == "40001"
                        || c == "40P01" =>
                {
                    StoreError::Unavailable(e)
                }
                _ => StoreError::Backend(e),
            },
            _ => StoreError::Backend(e),
        };
    }
    StoreError::Backend(e)
}
