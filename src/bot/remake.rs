//! `/resume` and `/overlay`: a UGC video made again from its paid speech and talking head —
//! after a failed composite (it costs what it cost, as its tokens were returned) or to force a
//! new composite of a finished one, ignoring the cache (the compose price).
use super::app::{Ctx, HandlerError, HandlerResult};
use crate::jobs::{JobKind, JobState};

/// The user's latest UGC job in one of `states`: (id, state, cost).
async fn latest_ugc(
    ctx: &Ctx<'_>,
    states: &[JobState],
) -> Result<Option<(i64, JobState, i64)>, HandlerError> {
    let jobs = crate::queue::jobs_of_user(&ctx.app.db, ctx.user, 200).await?;
    Ok(jobs
        .into_iter()
        .filter(|j| matches!(j.kind, Some(JobKind::UgcVideo | JobKind::Recompose)))
        .find(|j| states.contains(&j.state))
        .map(|j| (j.id, j.state, j.cost_tokens)))
}

/// `/resume`: a UGC video whose composite failed is made again from its paid speech and
/// talking head (its tokens were returned, so it costs what it cost before).
pub async fn resume(ctx: &Ctx<'_>) -> HandlerResult {
    if let Some((id, ..)) = latest_ugc(
        ctx,
        &[JobState::Queued, JobState::Snoozed, JobState::Running],
    )
    .await?
    {
        let status =
            super::progress::queued_text(&ctx.app.db, &ctx.app.texts, id, ctx.lang).await?;
        return ctx
            .say(ctx.t("ugc.still_running", &[("id", &id), ("status", &status)]))
            .await;
    }
    let Some((id, _, cost)) = latest_ugc(ctx, &[JobState::Failed]).await? else {
        return ctx.say(ctx.t("ugc.nothing_to_resume", &[])).await;
    };
    recompose(ctx, id, cost).await
}

/// `/overlay`: the last finished UGC video's layout editor (its still with the buttons), then
/// composed again with the new layout, ignoring the cache.
pub async fn overlay(ctx: &Ctx<'_>) -> HandlerResult {
    let Some((id, ..)) = latest_ugc(ctx, &[JobState::Done]).await? else {
        return ctx.say(ctx.t("ugc.nothing_to_overlay", &[])).await;
    };
    if !super::ugc_layout::open_overlay(ctx, id).await? {
        return recompose(ctx, id, ctx.app.prices.compose.tokens).await;
    }
    Ok(())
}

async fn recompose(ctx: &Ctx<'_>, original: i64, price: i64) -> HandlerResult {
    match crate::pipelines::recompose::recompose_job(&ctx.app.db, ctx.user, original, price).await?
    {
        Some((job, carried)) => {
            ctx.submit(vec![job], Some(carried)).await?;
            Ok(())
        }
        None => ctx.say(ctx.t("ugc.nothing_to_resume", &[])).await,
    }
}
