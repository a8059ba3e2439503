-- A campaign: one order of up to three variants of a UGC ad (different scripts; the same
-- character, voice, background, layout and formats), each its own paid job, reported
-- together (GET /v1/campaigns/{id}) and announced once all have ended (campaign.completed).
-- Its jobs are submitted under the keys 'campaign:<idem_key>:<n>', so a repeat of the request
-- (or a retry after a crash half-way) finds the jobs already made instead of paying twice.
CREATE TABLE IF NOT EXISTS campaigns (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     BIGINT NOT NULL,
    idem_key    TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    product_id  BIGINT,
    jobs        TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    event_ms    BIGINT,
    UNIQUE (user_id, idem_key)
);
