//! `/overlay`: make the composite of a finished UGC video again, ignoring the cache. The new
//! job reuses the original's speech and talking head (already paid for) and only recomposes.
use crate::db::Db;
use crate::jobs::{Checkpoints, JobSpec};
use crate::queue::{self, NewJob, QueueError};

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

/// The recompose job for `original` and the checkpoints it carries (speech, talking head).
pub async fn recompose_job(
    db: &Db,
    user: i64,
    original: i64,
    price: i64,
) -> Result<Option<(NewJob, Checkpoints)>, QueueError> {
    let Some(row) = queue::job(db, original)
        .await?
        .filter(|j| j.user_id == user)
    else {
        return Ok(None);
    };
    let (Some(JobSpec::UgcVideo(mut params) | JobSpec::Recompose(mut params)), Some(carried)) =
        (row.spec, row.checkpoints.carried_for_recompose())
    else {
        return Ok(None);
    };
    params.force_recompose = true;
    let job = NewJob {
        user_id: user,
        spec: JobSpec::Recompose(params),
        cost_tokens: price,
        max_attempts: 3,
    };
    Ok(Some((job, carried)))
}
