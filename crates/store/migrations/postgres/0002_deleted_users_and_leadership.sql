-- Deleted users: a model version trained on events up to `at_seq` may hold the user and must not
-- serve them (after a restart, on every replica, after a rollback). Pruned once no stored version
-- is that old.
CREATE TABLE deleted_users (
    user_id TEXT COLLATE "C" PRIMARY KEY,
    at_seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL
);

-- The current leadership: each replica that takes the leader's advisory lock bumps `epoch` and
-- records its backend pid. A leader's activation commits only if its epoch is still current and
-- that pid still holds the lock (fencing an old leader that lost its session while it trained).
CREATE TABLE leadership (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch BIGINT NOT NULL,
    holder_pid INTEGER NOT NULL
);
