-- The public HTTP API: keys (only a hash is kept), idempotent job creation, uploads, webhooks
-- and their durable outbox.
CREATE TABLE IF NOT EXISTS api_keys (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    prefix TEXT NOT NULL UNIQUE,
    secret_sha256 TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    revoked_ms BIGINT,
    last_used_ms BIGINT
);
CREATE INDEX IF NOT EXISTS api_keys_by_user ON api_keys(user_id);
CREATE TABLE IF NOT EXISTS api_requests (
    user_id BIGINT NOT NULL,
    idem_key TEXT NOT NULL,
    job_id BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
CREATE TABLE IF NOT EXISTS api_uploads (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL,
    object_key TEXT NOT NULL,
    content_type TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS api_uploads_by_user ON api_uploads(user_id, object_key);
CREATE TABLE IF NOT EXISTS api_webhooks (
    user_id BIGINT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_events (
    id BIGSERIAL PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL,
    job_id BIGINT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_at_ms BIGINT NOT NULL,
    delivered_ms BIGINT,
    gave_up_ms BIGINT,
    last_error TEXT,
    created_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS api_events_due ON api_events(delivered_ms, next_at_ms);
ALTER TABLE jobs ADD COLUMN via_api BOOLEAN NOT NULL DEFAULT FALSE;
