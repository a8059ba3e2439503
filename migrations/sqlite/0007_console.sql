-- What operators did in the console (top-ups with their reason, bans, refunds, retries,
-- cancels, Kaspi confirmations), newest last.
CREATE TABLE IF NOT EXISTS console_audit (
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS console_audit_by_target ON console_audit(target);
CREATE INDEX IF NOT EXISTS orders_paid ON orders(status, paid_ms);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_ms);
