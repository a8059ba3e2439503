//! Brand kits (see `bot::brand`): one row per user.
use crate::db::{now_ms, Db, DbError};

#[derive(Debug, Clone, PartialEq, Default, sqlx::FromRow)]
pub struct BrandKit {
    pub logo_key: Option<String>,
    pub accent: Option<String>,
    pub end_card: bool,
    pub call_to_action: Option<String>,
}

pub async fn get(db: &Db, user: i64) -> Result<Option<BrandKit>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as::<_, BrandKit>(
        "SELECT logo_key, accent, end_card, call_to_action FROM brand_kits WHERE user_id = $1",
    )
    .bind(user)
    .fetch_optional(p)
    .await?))
}

/// Stores the user's kit as a whole.
pub async fn put(db: &Db, user: i64, kit: &BrandKit) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query(
        "INSERT INTO brand_kits (user_id, logo_key, accent, end_card, call_to_action, updated_ms)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (user_id) DO UPDATE SET logo_key = $2, accent = $3, end_card = $4,
             call_to_action = $5, updated_ms = $6",
    )
    .bind(user)
    .bind(&kit.logo_key)
    .bind(&kit.accent)
    .bind(kit.end_card)
    .bind(&kit.call_to_action)
    .bind(now_ms())
    .execute(p)
    .await?
    .rows_affected());
    Ok(())
}

pub async fn remove(db: &Db, user: i64) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("DELETE FROM brand_kits WHERE user_id = $1")
        .bind(user)
        .execute(p)
        .await?
        .rows_affected());
    Ok(())
}
