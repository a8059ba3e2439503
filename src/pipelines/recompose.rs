//! `/overlay`: make the composite of a finished UGC video again, ignoring the cache. The new
//! job reuses the original's speech and talking head (already paid for) and only recomposes.
use crate::db::jobs::{self as queue, QueueError};
use crate::db::Db;
use crate::jobs::{Checkpoints, JobSpec, UgcParams};
use crate::orders::{self, OrderError};
use crate::pricing::PriceTable;

/// Queues a recompose of `original` (a `ugc_video` or `recompose` job of `user`) through the
/// ordering service at its price; `None` when there is no such job of this user or it never
/// got its talking head.
pub async fn submit_recompose(
    db: &Db,
    prices: &PriceTable,
    user: i64,
    original: i64,
) -> Result<Option<i64>, OrderError> {
    let Some((params, carried)) = recompose_of(db, user, original).await? else {
        return Ok(None);
    };
    let order = orders::Order::priced(prices, JobSpec::Recompose(params), None, 3)?;
    let made = orders::submit(db, user, order, Some(&carried), orders::Channel::Service).await?;
    Ok(Some(made.id))
}

/// The parameters of a recompose of `original` (its own, made again) and the checkpoints it
/// carries (speech, talking head); `None` when it is not a finished UGC video of `user`.
pub async fn recompose_of(
    db: &Db,
    user: i64,
    original: i64,
) -> Result<Option<(UgcParams, Checkpoints)>, QueueError> {
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
    Ok(Some((params, carried)))
}
