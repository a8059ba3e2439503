-- The UGC character gallery the operator manages from Telegram (/addcharacter,
-- /characters): shown in the order added; a removed character keeps its row.
CREATE TABLE IF NOT EXISTS gallery_characters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    gender TEXT NOT NULL,
    name TEXT NOT NULL,
    object_key TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    removed_ms BIGINT
);
