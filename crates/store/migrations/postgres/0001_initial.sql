-- The PostgreSQL schema of aisle's store; mirrors the SQLite one (crates/store/src/sqlite/schema.rs).
-- Append-only: add a new numbered file, never edit a released one.

-- Ids compare bytewise (COLLATE "C"), as in SQLite: listings page in byte order on the index.
CREATE TABLE items (
    id TEXT COLLATE "C" PRIMARY KEY,
    -- The record minus its own columns, as JSON text (exact round trip of every float).
    body TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT COLLATE "C" PRIMARY KEY,
    attributes TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

-- Sequence numbers are taken from this sequence under a transaction advisory lock, so that they
-- increase in commit order: a replica tailing `seq > cursor` never skips an event committed late.
CREATE SEQUENCE events_seq AS BIGINT;

CREATE TABLE events (
    seq BIGINT PRIMARY KEY,
    event_id TEXT COLLATE "C" UNIQUE,
    user_id TEXT COLLATE "C" NOT NULL,
    item_id TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL,
    value REAL,
    ts_ms BIGINT NOT NULL,
    session_id TEXT,
    recommendation_id TEXT
);
CREATE INDEX events_user_seq ON events (user_id, seq);

CREATE TABLE models (
    version BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    params TEXT NOT NULL,
    trained_on_seq BIGINT NOT NULL,
    metrics TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    artifact_bytes BIGINT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT FALSE,
    artifact BYTEA NOT NULL
);
-- Exactly one active version is a database invariant.
CREATE UNIQUE INDEX models_one_active ON models (active) WHERE active;

CREATE TABLE dead_letters (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source TEXT NOT NULL,
    partition INTEGER NOT NULL,
    msg_offset BIGINT NOT NULL,
    payload BYTEA NOT NULL,
    reason TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    UNIQUE (source, partition, msg_offset)
);
