//! What replicas tell each other through the database: `NOTIFY` of the writes others must follow
//! ([`ChangeFeed`]) and the leader's session advisory lock ([`Lease`]).

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnection, PgListener};
use sqlx::{Connection, Executor, Postgres};

use super::{PgStore, db};
use crate::StoreResult;

/// A write another replica made, announced when its transaction committed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// Events were appended, up to this sequence number.
    Events {
        /// The highest sequence number written.
        last_seq: u64,
    },
    /// Items were written or deleted: these ids, or (`None`) too many to name.
    Items {
        /// The ids, when few enough to name.
        ids: Option<Vec<String>>,
    },
    /// A user and their events were deleted.
    UserDeleted {
        /// Their id.
        id: String,
        /// The tombstone's sequence number ([`crate::UserRemoval::at_seq`]).
        at_seq: u64,
    },
    /// A model version was activated.
    Model {
        /// The now serving version.
        version: u64,
    },
    /// The feed's connection was lost and re-made: notifications in between may be missing, so
    /// the listener must re-read what it follows.
    Lost,
}

/// Sends `change` on the store's channel as part of the transaction `conn` is in: listeners get it
/// when (and only if) the transaction commits.
pub(super) async fn notify<'c>(
    conn: impl Executor<'c, Database = Postgres>,
    store: &PgStore,
    change: &Change,
) -> StoreResult<()> {
    let payload = serde_json::to_string(change).map_err(db)?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(&store.inner.channel)
        .bind(payload)
        .execute(conn)
        .await
        .map_err(db)?;
    Ok(())
}

/// The changes other replicas (and this one) commit, in commit order.
pub struct ChangeFeed {
    listener: PgListener,
}

impl std::fmt::Debug for ChangeFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeFeed").finish_non_exhaustive()
    }
}

impl ChangeFeed {
    /// The next change; [`Change::Lost`] after the connection dropped (it reconnects by itself).
    /// A payload this build cannot read (a newer replica's) also reads as `Lost`, which makes
    /// the listener re-read everything: safe, only slower.
    pub async fn next(&mut self) -> StoreResult<Change> {
        match self.listener.try_recv().await.map_err(db)? {
            None => Ok(Change::Lost),
            Some(n) => Ok(serde_json::from_str(n.payload()).unwrap_or(Change::Lost)),
        }
    }
}

/// Leadership among the replicas of one store: held while the session holding the advisory lock
/// lives. A replica that dies loses its session, and so the lock, within PostgreSQL's detection of
/// the dead connection (at once for a killed process; TCP keepalive for a lost machine).
pub struct Lease {
    conn: PgConnection,
    epoch: u64,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").finish_non_exhaustive()
    }
}

impl Lease {
    /// This leadership's epoch: one more than the previous leader's. Activations a leader makes
    /// carry it as their fence.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether the lease is still held: its session answers and still owns the lock.
    pub async fn check(&mut self) -> bool {
        let held: Result<bool, _> = sqlx::query_scalar(
            "SELECT count(*) > 0 FROM pg_locks
                WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()",
        )
        .fetch_one(&mut self.conn)
        .await;
        held.unwrap_or(false)
    }

    /// Gives leadership up (also what dropping the lease does, when the session closes).
    pub async fn release(mut self) {
        // Unlocking first makes the lock free when this returns (a closing session frees it only
        // once its backend has exited); a failure means the session is gone, and the lock with it.
        let _unlocked = sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut self.conn).await;
        let _closed = self.conn.close().await;
    }
}

impl PgStore {
    /// Subscribes to the changes committed on this store.
    pub async fn changes(&self) -> StoreResult<ChangeFeed> {
        let mut listener = PgListener::connect_with(self.pool()).await.map_err(db)?;
        listener.listen(&self.inner.channel).await.map_err(db)?;
        Ok(ChangeFeed { listener })
    }

    /// Takes leadership if no live session holds it; `None` when another replica leads.
    pub async fn try_lead(&self) -> StoreResult<Option<Lease>> {
        let mut conn = PgConnection::connect_with(&self.inner.options).await.map_err(db)?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(self.inner.leader_lock)
            .fetch_one(&mut conn)
            .await
            .map_err(db)?;
        if got {
            // Taking the lock starts a new epoch, recorded with this session's pid: the fence of
            // every activation this leader makes.
            let epoch: i64 = sqlx::query_scalar(
                "INSERT INTO leadership (id, epoch, holder_pid) VALUES (1, 1, pg_backend_pid())
                    ON CONFLICT (id) DO UPDATE SET epoch = leadership.epoch + 1, holder_pid = pg_backend_pid()
                    RETURNING epoch",
            )
            .fetch_one(&mut conn)
            .await
            .map_err(db)?;
            Ok(Some(Lease { conn, epoch: super::stored_u64("leadership epoch", epoch)? }))
        } else {
            let _closed = conn.close().await;
            Ok(None)
        }
    }
}
