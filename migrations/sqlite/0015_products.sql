-- A seller's products, read from a shop page or told in a few words, kept for reuse ("my
-- products", the API's /v1/products). /deletedata removes them; the main photo is an upload
-- row of the user's (origin 'product') that the housekeeping keeps while a product names it.
CREATE TABLE IF NOT EXISTS products (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     BIGINT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    brand       TEXT,
    price       TEXT,
    currency    TEXT,
    images      TEXT NOT NULL,
    image_key   TEXT,
    source_url  TEXT,
    created_ms  BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS products_by_user ON products(user_id, id);

-- The scripts last written for a user's product in the bot, and the one they picked for the
-- video they are ordering (offered at the script step of /create).
CREATE TABLE IF NOT EXISTS product_scripts (
    user_id    BIGINT PRIMARY KEY,
    product_id BIGINT NOT NULL,
    scripts    TEXT NOT NULL,
    picked     TEXT,
    created_ms BIGINT NOT NULL
);
