-- A seller's brand kit, set once with /brand and copied into every UGC order until changed:
-- the logo (an upload of theirs, kept while the kit names it), the captions' accent colour,
-- whether an end card closes the video, and its call to action.
CREATE TABLE IF NOT EXISTS brand_kits (
    user_id        BIGINT PRIMARY KEY,
    logo_key       TEXT,
    accent         TEXT,
    end_card       BOOLEAN NOT NULL DEFAULT FALSE,
    call_to_action TEXT,
    updated_ms     BIGINT NOT NULL
);

-- Variants: the other scripts of a product's set picked with the first ("A + B"), ordered
-- with it as videos of their own (a JSON list).
ALTER TABLE product_scripts ADD COLUMN variants TEXT;
