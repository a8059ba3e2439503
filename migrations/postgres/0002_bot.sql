-- The bot's own bookkeeping: the one progress message per job, and whether a banned user
-- has already had their one polite refusal.
ALTER TABLE users ADD COLUMN ban_notified BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE progress_messages (
    job_id     BIGINT PRIMARY KEY REFERENCES jobs(id),
    chat_id    BIGINT NOT NULL,
    message_id BIGINT NOT NULL,
    lang       TEXT   NOT NULL DEFAULT 'ru',
    last_text  TEXT,
    finished   BOOLEAN NOT NULL DEFAULT FALSE,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX progress_open ON progress_messages(finished);
