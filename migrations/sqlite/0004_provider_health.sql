-- Provider health shared by every worker process: a circuit breaker per chain entry
-- (provider:model) and a log of calls for the success rate the operator sees.
CREATE TABLE IF NOT EXISTS provider_breakers (
    entry TEXT PRIMARY KEY,
    failures BIGINT NOT NULL DEFAULT 0,
    opened_until_ms BIGINT,
    probe_until_ms BIGINT,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS provider_calls (
    entry TEXT NOT NULL,
    ok BOOLEAN NOT NULL,
    class TEXT,
    latency_ms BIGINT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS provider_calls_by_time ON provider_calls(at_ms);
