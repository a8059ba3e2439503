-- Console sessions live in the database: signing out ends one on every server, and a
-- Telegram sign-in payload is used once.
CREATE TABLE IF NOT EXISTS console_sessions (
    id TEXT PRIMARY KEY,
    who TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    ended_ms BIGINT
);
CREATE TABLE IF NOT EXISTS console_logins (
    hash TEXT PRIMARY KEY,
    used_ms BIGINT NOT NULL
);
