-- Card payments that are refunded or disputed take their tokens back: the order remembers its
-- PaymentIntent (the Charge's only link back) and what was reversed so far; what a balance can
-- no longer cover is the user's debt, settled by their next top-up, and the account is
-- flagged for the operator.
ALTER TABLE orders ADD COLUMN payment_intent TEXT;
ALTER TABLE orders ADD COLUMN reversed_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN reversed_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN debt_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN flagged_ms BIGINT;
ALTER TABLE orders ADD COLUMN dispute_id TEXT;
