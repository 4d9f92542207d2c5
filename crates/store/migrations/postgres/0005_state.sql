-- State derived from the event log, by name (see `Store::put_state`): a start reads the log only
-- after `seq`. A newer `seq` replaces an older one, whichever replica wrote it.
CREATE TABLE state (
    name TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    body BYTEA NOT NULL
);
