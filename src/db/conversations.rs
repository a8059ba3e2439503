//! Where each user is in a conversation with the bot, as the dialogue's JSON.
use crate::db::{now_ms, Db, DbError};

pub async fn load(db: &Db, user: i64) -> Result<Option<String>, DbError> {
    Ok(
        on_db!(db, p => sqlx::query_scalar("SELECT state FROM conversations WHERE user_id = $1").bind(user).fetch_optional(p).await?),
    )
}

pub async fn save(db: &Db, user: i64, state_json: &str) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query(
        "INSERT INTO conversations (user_id, state, updated_ms) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms",
    )
    .bind(user)
    .bind(state_json)
    .bind(now_ms())
    .execute(p)
    .await?
    .rows_affected());
    Ok(())
}

/// Replaces the state `expected` (the stored text as read) with `state_json`; `false` when it
/// changed meanwhile (another button, process or page got there first).
pub async fn replace(
    db: &Db,
    user: i64,
    expected: &str,
    state_json: &str,
) -> Result<bool, DbError> {
    let n = on_db!(db, p => sqlx::query(
        "UPDATE conversations SET state = $3, updated_ms = $4 WHERE user_id = $1 AND state = $2",
    )
    .bind(user)
    .bind(expected)
    .bind(state_json)
    .bind(now_ms())
    .execute(p)
    .await?
    .rows_affected());
    Ok(n == 1)
}
