-- What an Idempotency-Key was first used for (SHA-256 of the job spec): a repeat with another
-- request is refused instead of returning a job it did not ask for.
ALTER TABLE api_requests ADD COLUMN body_sha256 TEXT;
