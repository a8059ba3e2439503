//! The character gallery the operator manages from Telegram: a portrait in storage, its
//! gender and name, in the order added.
use crate::db::{now_ms, Db, DbError};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct GalleryCharacter {
    pub id: i64,
    pub gender: String,
    pub name: String,
    pub object_key: String,
}

pub async fn add(db: &Db, gender: &str, name: &str, object_key: &str) -> Result<i64, DbError> {
    Ok(on_db!(db, p => sqlx::query_scalar(
        "INSERT INTO gallery_characters (gender, name, object_key, created_ms) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(gender)
    .bind(name)
    .bind(object_key)
    .bind(now_ms())
    .fetch_one(p)
    .await?))
}

/// The live characters of a gender (all genders for `None`), in the order added.
pub async fn list(db: &Db, gender: Option<&str>) -> Result<Vec<GalleryCharacter>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as::<_, GalleryCharacter>(
        "SELECT id, gender, name, object_key FROM gallery_characters
         WHERE removed_ms IS NULL AND ($1 = '' OR gender = $1) ORDER BY id",
    )
    .bind(gender.unwrap_or(""))
    .fetch_all(p)
    .await?))
}

/// Whether `object_key` is the portrait of a live gallery character (an order may name it).
pub async fn is_live_portrait(db: &Db, object_key: &str) -> Result<bool, DbError> {
    let n: i64 = on_db!(db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM gallery_characters WHERE object_key = $1 AND removed_ms IS NULL",
    )
    .bind(object_key)
    .fetch_one(p)
    .await?);
    Ok(n > 0)
}

/// Takes a character out of the gallery; false when there was no such live one.
pub async fn remove(db: &Db, id: i64) -> Result<bool, DbError> {
    let n = on_db!(db, p => sqlx::query("UPDATE gallery_characters SET removed_ms = $2 WHERE id = $1 AND removed_ms IS NULL")
        .bind(id)
        .bind(now_ms())
        .execute(p)
        .await?
        .rows_affected());
    Ok(n == 1)
}
