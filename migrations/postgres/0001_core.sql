-- Users, money, jobs and the bot's memory. Times are Unix milliseconds.
CREATE TABLE users (
    id            BIGINT PRIMARY KEY,            -- Telegram user id
    username      TEXT,
    language      TEXT    NOT NULL DEFAULT 'ru',
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL,
    banned        BOOLEAN NOT NULL DEFAULT FALSE,
    referrer_id   BIGINT,
    balance       BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0)
);

-- Append-only: every balance change, with a key that makes a repeat a no-op.
CREATE TABLE ledger_entries (
    id              BIGSERIAL PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users(id),
    delta           BIGINT NOT NULL,
    balance_after   BIGINT NOT NULL,
    reason          TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL UNIQUE,
    job_id          BIGINT,
    created_ms      BIGINT NOT NULL
);
CREATE INDEX ledger_entries_user ON ledger_entries(user_id, id);

CREATE TABLE orders (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id),
    method       TEXT    NOT NULL,                -- stripe | kaspi
    external_id  TEXT    UNIQUE,
    tokens       BIGINT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency     TEXT    NOT NULL,
    status       TEXT    NOT NULL,                -- pending | paid | cancelled
    created_ms   BIGINT NOT NULL,
    paid_ms      BIGINT
);

CREATE TABLE jobs (
    id             BIGSERIAL PRIMARY KEY,
    user_id        BIGINT NOT NULL REFERENCES users(id),
    kind           TEXT    NOT NULL,
    params         TEXT    NOT NULL,              -- JSON
    state          TEXT    NOT NULL,              -- queued | running | snoozed | done | failed | cancelled
    step           TEXT,
    attempts       BIGINT NOT NULL DEFAULT 0,
    max_attempts   BIGINT NOT NULL DEFAULT 5,
    run_at_ms      BIGINT NOT NULL,
    lease_until_ms BIGINT,
    lease_token    BIGINT NOT NULL DEFAULT 0,    -- fencing token, bumped on every claim
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    worker         TEXT,
    provider_ids   TEXT    NOT NULL DEFAULT '{}', -- JSON: step -> provider request id
    cost_tokens    BIGINT NOT NULL DEFAULT 0,
    error_class    TEXT,
    error_message  TEXT,
    created_ms     BIGINT NOT NULL,
    updated_ms     BIGINT NOT NULL,
    finished_ms    BIGINT
);
CREATE INDEX jobs_claim ON jobs(state, run_at_ms);
CREATE INDEX jobs_user ON jobs(user_id, state);

CREATE TABLE job_events (
    id         BIGSERIAL PRIMARY KEY,
    job_id     BIGINT NOT NULL REFERENCES jobs(id),
    state      TEXT    NOT NULL,
    message    TEXT,
    created_ms BIGINT NOT NULL
);

CREATE TABLE generations (
    id               BIGSERIAL PRIMARY KEY,
    job_id           BIGINT REFERENCES jobs(id),
    user_id          BIGINT NOT NULL REFERENCES users(id),
    kind             TEXT    NOT NULL,
    output_key       TEXT    NOT NULL,
    thumbnail_key    TEXT,
    width            BIGINT,
    height           BIGINT,
    duration_ms      BIGINT,
    telegram_file_id TEXT,
    created_ms       BIGINT NOT NULL
);

CREATE TABLE cache_index (
    cache_key  TEXT PRIMARY KEY,                  -- hash of inputs + parameters
    object_key TEXT,
    state      TEXT    NOT NULL,                  -- building | ready
    owner      TEXT,
    expires_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);

CREATE TABLE conversations (
    user_id    BIGINT PRIMARY KEY REFERENCES users(id),
    state      TEXT    NOT NULL,                  -- JSON of the dialogue state
    updated_ms BIGINT NOT NULL
);

-- Payment webhooks already handled (Stripe delivers at least once).
CREATE TABLE webhook_events (
    event_id    TEXT PRIMARY KEY,
    received_ms BIGINT NOT NULL
);
