-- What each successful provider call cost (₸, from the pricing table), for the spend per
-- chain entry in /stats; and an index for the failure rate of one entry over a window.
ALTER TABLE provider_calls ADD COLUMN cost_kzt DOUBLE PRECISION NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS provider_calls_by_entry ON provider_calls(entry, at_ms);
-- When a good probe last closed the breaker: the failure rate counts calls after it only.
ALTER TABLE provider_breakers ADD COLUMN closed_ms BIGINT;
