//! `/overlay`: make the composite of a finished UGC video again, ignoring the cache. The new
//! job reuses the original's speech and talking head (already paid for) and only recomposes.
use crate::db::Db;
use crate::on_db;
use crate::queue::{self, NewJob, QueueError};
use serde_json::Value;

/// Queues a recompose of `original` (a `ugc_video` or `recompose` job of `user`) for `price`
/// tokens; `None` when there is no such job of this user or it never got its talking head.
pub async fn submit_recompose(
    db: &Db,
    user: i64,
    original: i64,
    price: i64,
) -> Result<Option<i64>, QueueError> {
    match recompose_job(db, user, original, price).await? {
        Some((job, carried)) => Ok(Some(queue::submit_carrying(db, job, &carried).await?)),
        None => Ok(None),
    }
}

/// The recompose job for `original` and the provider ids it carries (speech, talking head).
pub async fn recompose_job(
    db: &Db,
    user: i64,
    original: i64,
    price: i64,
) -> Result<Option<(NewJob, String)>, QueueError> {
    let row: Option<(i64, String, String, String)> = on_db!(db, p => sqlx::query_as("SELECT user_id, kind, params, provider_ids FROM jobs WHERE id = $1")
        .bind(original)
        .fetch_optional(p)
        .await?);
    let Some((_, _, params, ids)) = row
        .filter(|(owner, kind, ..)| *owner == user && (kind == "ugc_video" || kind == "recompose"))
    else {
        return Ok(None);
    };
    let ids: Value = serde_json::from_str(&ids).unwrap_or(Value::Null);
    let (Some(voice), Some(head)) = (
        ids.get("voice").and_then(Value::as_str),
        ids.get("talking_head").and_then(Value::as_str),
    ) else {
        return Ok(None);
    };
    let mut params: Value = serde_json::from_str(&params).unwrap_or(Value::Null);
    params["force_recompose"] = Value::Bool(true);
    let mut carried = serde_json::json!({ "voice": voice, "talking_head": head });
    if let Some(a) = ids.get("alignment").and_then(Value::as_str) {
        carried["alignment"] = Value::String(a.to_string());
    }
    let job = NewJob {
        user_id: user,
        kind: "recompose".into(),
        params,
        cost_tokens: price,
        max_attempts: 3,
    };
    Ok(Some((job, carried.to_string())))
}
