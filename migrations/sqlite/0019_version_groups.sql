-- Language versions of one ad (ru / kk / en), each its own job, delivered together as one
-- album: the group's members (linked by the ordering service as their jobs are made), when
-- each was ready to be sent, and which album carried it. `sender_job` is the member sending
-- the album now (one at a time); `sending_by` marks the members in that album; `alone`: an
-- album carrying it was refused, so it is sent by itself.
CREATE TABLE IF NOT EXISTS version_groups (
    group_key   TEXT PRIMARY KEY,
    user_id     BIGINT NOT NULL,
    size        BIGINT NOT NULL,
    sender_job  BIGINT,
    sender_ms   BIGINT,
    created_ms  BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS version_members (
    job_id        BIGINT PRIMARY KEY,
    group_key     TEXT NOT NULL,
    position      BIGINT NOT NULL,
    ready_ms      BIGINT,
    sending_by    BIGINT,
    album_message BIGINT,
    uncertain     BOOLEAN NOT NULL DEFAULT FALSE,
    alone         BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX IF NOT EXISTS version_members_group ON version_members (group_key);
