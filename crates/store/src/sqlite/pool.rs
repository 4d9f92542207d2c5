//! The read-only connections: opened on first need, at most [`MAX_READERS`] at a time.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, PoisonError};

use rusqlite::{Connection, OpenFlags};

use super::{OpenError, db, lock, schema};
use crate::StoreResult;

/// More readers than this would only contend for the same few cores and page cache.
const MAX_READERS: usize = 4;

/// A bounded, lazily filled pool of read-only connections to one database.
pub(super) struct ReaderPool {
    path: PathBuf,
    state: Mutex<PoolState>,
    returned: Condvar,
}

struct PoolState {
    idle: Vec<Connection>,
    /// Connections that exist, idle or lent out.
    open: usize,
}

/// A lent connection; it goes back to the pool when dropped, also during a panic, so that a
/// panicking reader cannot leak a slot.
struct Lease<'a> {
    pool: &'a ReaderPool,
    conn: Option<Connection>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            lock(&self.pool.state).idle.push(conn);
            self.pool.returned.notify_one();
        }
    }
}

impl ReaderPool {
    pub(super) fn new(path: PathBuf) -> ReaderPool {
        ReaderPool {
            path,
            state: Mutex::new(PoolState { idle: Vec::with_capacity(MAX_READERS), open: 0 }),
            returned: Condvar::new(),
        }
    }

    /// Runs `f` on a read-only connection, waiting for one when all are lent out.
    pub(super) fn with<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let lease = self.lease()?;
        match &lease.conn {
            Some(conn) => f(conn),
            None => unreachable!("a lease holds its connection until dropped"),
        }
    }

    fn lease(&self) -> StoreResult<Lease<'_>> {
        let mut state = lock(&self.state);
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(Lease { pool: self, conn: Some(conn) });
            }
            if state.open < MAX_READERS {
                state.open += 1;
                break;
            }
            state = self.returned.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        drop(state);
        // Opening reads the schema from disk, so it happens outside the lock.
        match open_reader(&self.path) {
            Ok(conn) => Ok(Lease { pool: self, conn: Some(conn) }),
            Err(e) => {
                lock(&self.state).open -= 1;
                self.returned.notify_one();
                Err(e)
            }
        }
    }
}

fn open_reader(path: &Path) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|source| super::db(OpenError::Open { path: path.to_path_buf(), source }))?;
    schema::configure_reader(&conn).map_err(db)?;
    Ok(conn)
}
