-- Placements (every version kept), experiments, the impression log, rollups, experiment units,
-- interleaving outcomes and the attribution cursor (see `crates/store/src/impact.rs`).
CREATE TABLE placements (
    id TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    config TEXT,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (id, version)
);
CREATE TABLE experiments (
    id TEXT COLLATE "C" PRIMARY KEY,
    body TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE TABLE impressions (
    recommendation_id TEXT COLLATE "C" PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    placement TEXT NOT NULL,
    experiment TEXT NOT NULL,
    variant TEXT NOT NULL,
    unit TEXT NOT NULL,
    user_id TEXT,
    model_version BIGINT,
    covariate DOUBLE PRECISION NOT NULL,
    items TEXT NOT NULL
);
CREATE INDEX impressions_user_at ON impressions (user_id, at_ms) WHERE user_id IS NOT NULL;
CREATE INDEX impressions_at ON impressions (at_ms, recommendation_id);
CREATE TABLE impact_rollups (
    bucket_ms BIGINT NOT NULL,
    placement TEXT COLLATE "C" NOT NULL,
    experiment TEXT COLLATE "C" NOT NULL,
    variant TEXT COLLATE "C" NOT NULL,
    impressions BIGINT NOT NULL DEFAULT 0,
    shown BIGINT NOT NULL DEFAULT 0,
    clicks BIGINT NOT NULL DEFAULT 0,
    carts BIGINT NOT NULL DEFAULT 0,
    purchases BIGINT NOT NULL DEFAULT 0,
    revenue DOUBLE PRECISION NOT NULL DEFAULT 0,
    revenue_sq DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_ms, placement, experiment, variant)
);
CREATE TABLE experiment_units (
    experiment TEXT COLLATE "C" NOT NULL,
    unit TEXT COLLATE "C" NOT NULL,
    variant TEXT NOT NULL,
    first_ms BIGINT NOT NULL,
    impressions BIGINT NOT NULL DEFAULT 0,
    clicks BIGINT NOT NULL DEFAULT 0,
    carts BIGINT NOT NULL DEFAULT 0,
    purchases BIGINT NOT NULL DEFAULT 0,
    revenue DOUBLE PRECISION NOT NULL DEFAULT 0,
    covariate DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, unit)
);
CREATE TABLE interleave_outcomes (
    experiment TEXT COLLATE "C" NOT NULL,
    recommendation_id TEXT COLLATE "C" NOT NULL,
    unit TEXT NOT NULL,
    clicks_a BIGINT NOT NULL DEFAULT 0,
    clicks_b BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, recommendation_id)
);
CREATE TABLE attribution_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO attribution_cursor (id, seq) VALUES (1, 0);
