-- The bot's uploads (photos, background clips, speech previews) are recorded like the API's:
-- /deletedata removes them and the hourly housekeeping removes any no job used within a day.
-- Only the API's count against its daily upload quota.
ALTER TABLE api_uploads ADD COLUMN origin TEXT NOT NULL DEFAULT 'api';
CREATE INDEX IF NOT EXISTS api_uploads_by_key ON api_uploads(object_key);

-- Accounts erased by /deletedata, as a keyed hash of the Telegram id (HMAC-SHA256 with a
-- random secret kept in this database): a returning user gets no second welcome bonus, and
-- nothing else about them is kept. The anonymised ledger's keys lose the id.
CREATE TABLE IF NOT EXISTS erased_accounts (
    tag TEXT PRIMARY KEY,
    erased_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Request limits that hold across every serve process: the API's requests per key per
-- minute and the console's failed sign-ins per client.
CREATE TABLE IF NOT EXISTS rate_windows (
    scope TEXT NOT NULL,
    subject TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    PRIMARY KEY (scope, subject, window_start)
);
