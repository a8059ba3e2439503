-- The bot's own bookkeeping: the one progress message per job, and whether a banned user
-- has already had their one polite refusal.
ALTER TABLE users ADD COLUMN ban_notified INTEGER NOT NULL DEFAULT 0;

CREATE TABLE progress_messages (
    job_id     INTEGER PRIMARY KEY REFERENCES jobs(id),
    chat_id    INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    lang       TEXT    NOT NULL DEFAULT 'ru',
    last_text  TEXT,
    finished   INTEGER NOT NULL DEFAULT 0,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX progress_open ON progress_messages(finished);
