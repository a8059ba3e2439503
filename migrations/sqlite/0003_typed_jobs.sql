-- The typed job contract: what a job's steps made is a `Checkpoints` JSON document (it held
-- provider request ids only at first, hence the old name). The progress loop and the job
-- views look events up by job.
ALTER TABLE jobs RENAME COLUMN provider_ids TO checkpoints;
CREATE INDEX IF NOT EXISTS job_events_by_job ON job_events(job_id);
