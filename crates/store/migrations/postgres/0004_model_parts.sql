-- Artifacts in parts of at most `ARTIFACT_PART_BYTES` (crates/store/src/lib.rs): a large shop's
-- artifact passes the one-gigabyte limit of a `bytea`. A version's `models.artifact` is then
-- empty; versions written before keep theirs there and have no parts.
CREATE TABLE model_parts (
    version BIGINT NOT NULL,
    part INTEGER NOT NULL,
    bytes BYTEA NOT NULL,
    PRIMARY KEY (version, part)
);
