-- A campaign is recorded before its jobs are made (with its scripts, so a retry of an
-- interrupted request makes the same variants), then links each variant's job here; made_ms
-- says when every variant had its job (campaign.completed waits for that and for the jobs'
-- ends, found by this link rather than by reading every campaign).
ALTER TABLE campaigns ADD COLUMN made_ms BIGINT;
CREATE TABLE IF NOT EXISTS campaign_jobs (
    campaign_id BIGINT NOT NULL,
    job_id      BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, job_id)
);
