-- The user's side: a language chosen with /language (kept over Telegram's setting), promo
-- codes and who redeemed them (once per user, within uses and expiry).
ALTER TABLE users ADD COLUMN language_chosen BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE IF NOT EXISTS promo_codes (
    code TEXT PRIMARY KEY,
    tokens BIGINT NOT NULL,
    uses_left BIGINT NOT NULL,
    expires_ms BIGINT,
    created_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS promo_redemptions (
    code TEXT NOT NULL,
    user_id BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (code, user_id)
);
CREATE INDEX IF NOT EXISTS users_by_referrer ON users(referrer_id);
