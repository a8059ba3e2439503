-- Users, money, jobs and the bot's memory. Times are Unix milliseconds.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,            -- Telegram user id
    username      TEXT,
    language      TEXT    NOT NULL DEFAULT 'ru',
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL,
    banned        INTEGER NOT NULL DEFAULT 0,
    referrer_id   INTEGER,
    balance       INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0)
);

-- Append-only: every balance change, with a key that makes a repeat a no-op.
CREATE TABLE ledger_entries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL REFERENCES users(id),
    delta           INTEGER NOT NULL,
    balance_after   INTEGER NOT NULL,
    reason          TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL UNIQUE,
    job_id          INTEGER,
    created_ms      INTEGER NOT NULL
);
CREATE INDEX ledger_entries_user ON ledger_entries(user_id, id);

CREATE TABLE orders (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users(id),
    method       TEXT    NOT NULL,                -- stripe | kaspi
    external_id  TEXT    UNIQUE,
    tokens       INTEGER NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency     TEXT    NOT NULL,
    status       TEXT    NOT NULL,                -- pending | paid | cancelled
    created_ms   INTEGER NOT NULL,
    paid_ms      INTEGER
);

CREATE TABLE jobs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        INTEGER NOT NULL REFERENCES users(id),
    kind           TEXT    NOT NULL,
    params         TEXT    NOT NULL,              -- JSON
    state          TEXT    NOT NULL,              -- queued | running | snoozed | done | failed | cancelled
    step           TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    max_attempts   INTEGER NOT NULL DEFAULT 5,
    run_at_ms      INTEGER NOT NULL,
    lease_until_ms INTEGER,
    lease_token    INTEGER NOT NULL DEFAULT 0,    -- fencing token, bumped on every claim
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    worker         TEXT,
    provider_ids   TEXT    NOT NULL DEFAULT '{}', -- JSON: step -> provider request id
    cost_tokens    INTEGER NOT NULL DEFAULT 0,
    error_class    TEXT,
    error_message  TEXT,
    created_ms     INTEGER NOT NULL,
    updated_ms     INTEGER NOT NULL,
    finished_ms    INTEGER
);
CREATE INDEX jobs_claim ON jobs(state, run_at_ms);
CREATE INDEX jobs_user ON jobs(user_id, state);

CREATE TABLE job_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     INTEGER NOT NULL REFERENCES jobs(id),
    state      TEXT    NOT NULL,
    message    TEXT,
    created_ms INTEGER NOT NULL
);

CREATE TABLE generations (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id           INTEGER REFERENCES jobs(id),
    user_id          INTEGER NOT NULL REFERENCES users(id),
    kind             TEXT    NOT NULL,
    output_key       TEXT    NOT NULL,
    thumbnail_key    TEXT,
    width            INTEGER,
    height           INTEGER,
    duration_ms      INTEGER,
    telegram_file_id TEXT,
    created_ms       INTEGER NOT NULL
);

CREATE TABLE cache_index (
    cache_key  TEXT PRIMARY KEY,                  -- hash of inputs + parameters
    object_key TEXT,
    state      TEXT    NOT NULL,                  -- building | ready
    owner      TEXT,
    expires_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE TABLE conversations (
    user_id    INTEGER PRIMARY KEY REFERENCES users(id),
    state      TEXT    NOT NULL,                  -- JSON of the dialogue state
    updated_ms INTEGER NOT NULL
);

-- Payment webhooks already handled (Stripe delivers at least once).
CREATE TABLE webhook_events (
    event_id    TEXT PRIMARY KEY,
    received_ms INTEGER NOT NULL
);
