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
    let jobs = crate::db::jobs::jobs_of_user(&ctx.app.db, ctx.user, 200).await?;
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
    // The video again, its speech and head carried, priced as the first: a UGC video on its
    // speech, a failed recompose as a recompose.
    let was_recompose = crate::db::jobs::job(&ctx.app.db, id)
        .await?
        .is_some_and(|j| j.kind == Some(JobKind::Recompose));
    match crate::pipelines::recompose::recompose_of(&ctx.app.db, ctx.user, id).await? {
        Some((mut params, carried)) => {
            let spec = if was_recompose {
                crate::jobs::JobSpec::Recompose(params)
            } else {
                params.force_recompose = false;
                crate::jobs::JobSpec::UgcVideo(params)
            };
            let speech = carried.speech_seconds.or_else(|| {
                crate::orders::price::speech_seconds_of_ugc_price(&ctx.app.prices, cost)
            });
            let mut order = super::app::BotOrder::one(spec, 3);
            order.measured_speech = speech;
            order.carried = Some(carried);
            ctx.submit(order).await?;
            Ok(())
        }
        None => ctx.say(ctx.t("ugc.nothing_to_resume", &[])).await,
    }
}

/// `/overlay`: the last finished UGC video's layout editor (its still with the buttons), then
/// composed again with the new layout, ignoring the cache.
pub async fn overlay(ctx: &Ctx<'_>) -> HandlerResult {
    let Some((id, ..)) = latest_ugc(ctx, &[JobState::Done]).await? else {
        return ctx.say(ctx.t("ugc.nothing_to_overlay", &[])).await;
    };
    if !super::ugc::layout::open_overlay(ctx, id).await? {
        return recompose(ctx, id).await;
    }
    Ok(())
}

async fn recompose(ctx: &Ctx<'_>, original: i64) -> HandlerResult {
    match crate::pipelines::recompose::recompose_of(&ctx.app.db, ctx.user, original).await? {
        Some((params, carried)) => {
            let mut order = super::app::BotOrder::one(crate::jobs::JobSpec::Recompose(params), 3);
            order.carried = Some(carried);
            ctx.submit(order).await?;
            Ok(())
        }
        None => ctx.say(ctx.t("ugc.nothing_to_resume", &[])).await,
    }
}
