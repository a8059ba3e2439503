//! Users as the bot sees them: Telegram id, username, language, when first and last seen.
use super::{now_ms, Db, DbError};
use crate::on_db;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: Option<String>,
    pub language: String,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub banned: bool,
    pub referrer_id: Option<i64>,
    pub balance: i64,
}

/// Records a visit: creates the user on first sight, refreshes name, language and last seen.
/// Returns the user and whether they are new.
pub async fn touch_user(
    db: &Db,
    id: i64,
    username: Option<&str>,
    language: &str,
) -> Result<(User, bool), DbError> {
    let now = now_ms();
    let created = on_db!(db, p => sqlx::query(
        "INSERT INTO users (id, username, language, first_seen_ms, last_seen_ms) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(username)
    .bind(language)
    .bind(now)
    .execute(p)
    .await?
    .rows_affected())
        == 1;
    if !created {
        on_db!(db, p => sqlx::query("UPDATE users SET username = $2, language = $3, last_seen_ms = $4 WHERE id = $1")
            .bind(id)
            .bind(username)
            .bind(language)
            .bind(now)
            .execute(p)
            .await?
            .rows_affected());
    }
    let user = get_user(db, id)
        .await?
        .ok_or(DbError::Sql(sqlx::Error::RowNotFound))?;
    Ok((user, created))
}

pub async fn get_user(db: &Db, id: i64) -> Result<Option<User>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as::<_, User>(
        "SELECT id, username, language, first_seen_ms, last_seen_ms, banned, referrer_id, balance FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(p)
    .await?))
}
