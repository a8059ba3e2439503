//! Language versions of one ad delivered together: each version is a job of its own (its own
//! speech, talking head, price and refund), and they reach the user as one album.
//!
//! A version whose video is made commits to delivery (the same write a single video makes
//! before its upload, so a cancel can no longer refund it) and waits, snoozing, until every
//! other version of its order is made or has ended — at most [`WAIT_MAX_MS`], so a slow or
//! stuck sibling never holds a finished video back for long. Then one member claims the
//! group, marks the members its album carries, and sends it; the others find their album
//! message on waking and end delivered. An album whose outcome is unknown is settled as a
//! single upload is: every member it carried offers a re-send instead of a second copy. A
//! member the album left out (too late, or past Telegram's ten items) sends the next one.
use super::delivery::{self, Delivery, MoreFormat};
use super::{Services, StepError};
use crate::db::versions::{self as rows, Sent};
use crate::failure::ErrorClass;
use crate::jobs::{Delivered, JobSpec, VersionOf};
use crate::queue::worker::JobCtx;
use crate::storage::ObjectStore;
use std::time::Duration;

/// How long a made version waits for the others before its album goes without them.
pub const WAIT_MAX_MS: i64 = 10 * 60 * 1000;
/// A sender silent this long (its process died mid-album) is taken over: longer than the
/// longest upload Telegram is given (ten 50 MB videos), so a slow album is never sent twice.
const STALE_SENDER_MS: i64 = 30 * 60 * 1000;
/// Telegram's limit on the items of one album.
pub const ALBUM_ITEMS: usize = 10;
/// How often a waiting version looks again.
const POLL: Duration = Duration::from_secs(2);

/// A language's name in its own language, as the album labels it.
pub fn language_name(code: &str) -> &'static str {
    match code.split('+').next().unwrap_or(code) {
        "kk" => "Қазақша",
        "en" => "English",
        _ => "Русский",
    }
}

/// What a made version does next.
pub enum Turn {
    /// Another member's album carried it (or was settled for it): nothing more to send.
    Settled,
    /// It sends the album now.
    Send,
    /// It sends itself, carrying no other version (not linked, or an album with it was
    /// refused).
    Alone,
}

/// Commits a made version to delivery and waits for its turn; see the module comment.
pub async fn turn(s: &Services, ctx: &mut JobCtx, v: &VersionOf) -> Result<Turn, StepError> {
    let (user, job) = (ctx.job.user_id, ctx.job.id);
    if ctx.checkpoints().delivery_started_ms.is_none() {
        ctx.ensure_lease()?;
        let cancelled = ctx.cancelled() || !ctx.begin_delivery(crate::db::now_ms()).await?;
        if cancelled {
            return Err(StepError::Fail(
                ErrorClass::Permanent,
                "cancelled by the user".into(),
            ));
        }
    }
    rows::ready(&s.db, job).await?;
    let Some(group) = rows::group(&s.db, &v.group, user).await? else {
        // Not linked (its link failed after the job was made): sent alone.
        return Ok(Turn::Alone);
    };
    let Some(me) = group.member(job).cloned() else {
        return Ok(Turn::Alone);
    };
    if let Some(message) = me.album_message {
        settle_carried(s, ctx, message).await?;
        return Ok(Turn::Settled);
    }
    if me.uncertain {
        delivery::settle_uncertain(s, ctx).await?;
        return Ok(Turn::Settled);
    }
    if let Some(by) = me.sending_by {
        // Carried by an album on its way: wait for it — unless its sender ended, was taken
        // over or went silent without saying how it went (this one's own earlier attempt
        // included), when the outcome is unknown and a re-send is offered instead.
        let sender_on = group.sender.is_some_and(|(sender, since)| {
            sender == by && crate::db::now_ms() - since < STALE_SENDER_MS
        });
        let sender_ended = group.member(by).is_none_or(|m| m.ended);
        if by != job && sender_on && !sender_ended {
            return Err(StepError::Wait(POLL));
        }
        tracing::warn!(
            sender = by,
            "an album's outcome is unknown: a re-send is offered"
        );
        rows::sent(&s.db, (user, &v.group), by, Sent::Uncertain).await?;
        delivery::settle_uncertain(s, ctx).await?;
        return Ok(Turn::Settled);
    }
    if me.alone {
        return Ok(Turn::Alone);
    }
    let made = group.members.len() as i64 >= group.size;
    let waiting = group
        .members
        .iter()
        .any(|m| m.job != job && !m.alone && m.ready_ms.is_none() && !m.ended);
    let waited = crate::db::now_ms() - me.ready_ms.unwrap_or(0);
    if (!made || waiting) && waited < WAIT_MAX_MS {
        return Err(StepError::Wait(POLL));
    }
    if !rows::claim(&s.db, (user, &v.group), job, STALE_SENDER_MS).await? {
        return Err(StepError::Wait(POLL));
    }
    Ok(Turn::Send)
}

/// Delivered in another version's album (`message`; 0: the user could not be reached).
async fn settle_carried(s: &Services, ctx: &mut JobCtx, message: i64) -> Result<(), StepError> {
    let unreachable = message == 0;
    ctx.checkpoint(crate::jobs::Step::Delivered, |c| {
        c.delivered = Some(Delivered {
            message_id: message,
            file_id: String::new(),
            uncertain: false,
            unreachable,
        })
    })
    .await?;
    crate::metrics::delivery(if unreachable { "unreachable" } else { "sent" });
    if !unreachable {
        crate::metrics::video_delivered();
    }
    s.deliver.delivered(ctx.job.id).await;
    Ok(())
}

/// A version delivered by its own album whose members were not told (the database failed
/// after the upload): they are told now, from its checkpoint.
pub async fn after_delivered(s: &Services, ctx: &JobCtx, v: &VersionOf) -> Result<(), StepError> {
    let Some(d) = &ctx.checkpoints().delivered else {
        return Ok(());
    };
    let outcome = if d.uncertain {
        Sent::Uncertain
    } else if d.unreachable {
        Sent::Album(0)
    } else {
        Sent::Album(d.message_id.max(1))
    };
    rows::sent(&s.db, (ctx.job.user_id, &v.group), ctx.job.id, outcome).await?;
    Ok(())
}

/// Sends the album: this version's video (and formats) first, then every other made version
/// not yet sent, as long as they fit in one album (none when `alone`). An album carrying
/// others that Telegram refuses is tried once more with this version alone, and the others
/// are sent by themselves: one version Telegram will not take never costs the rest.
pub async fn send(
    s: &Services,
    ctx: &mut JobCtx,
    v: &VersionOf,
    mut own: Delivery,
    scratch: &super::Scratch,
    alone: bool,
) -> Result<(), StepError> {
    let (user, job) = (ctx.job.user_id, ctx.job.id);
    own.versions = vec![language_of(ctx)];
    own.language = Some(language_name(&own.versions[0]).to_string());
    let single = own.clone();
    let carried = if alone {
        // Marked as on its way, so a crash mid-upload is settled as unknown, not sent twice.
        rows::sending(&s.db, job, &[job]).await?;
        Vec::new()
    } else {
        carry_siblings(s, (user, job), v, &mut own, scratch).await?
    };
    ctx.ensure_lease()?;
    let sent = upload(s, &own).await;
    let sent = match sent {
        Err(delivery::DeliverError::NotSent(e)) if !carried.is_empty() => {
            tracing::warn!(error = %e, "an album of versions was refused: each goes alone");
            rows::sent(&s.db, (user, &v.group), job, Sent::NotSent).await?;
            rows::alone(&s.db, &carried).await?;
            rows::sending(&s.db, job, &[job]).await?;
            upload(s, &single).await
        }
        other => other,
    };
    tracing::info!(versions = carried.len() + 1, "language versions sent");
    let (outcome, result) = match sent {
        Ok(sent) => {
            let file_id = sent.file_id.clone();
            ctx.checkpoint(crate::jobs::Step::Delivered, |c| {
                c.delivered = Some(Delivered {
                    message_id: sent.message_id,
                    file_id: sent.file_id,
                    uncertain: false,
                    unreachable: false,
                })
            })
            .await?;
            crate::metrics::delivery("sent");
            crate::metrics::video_delivered();
            s.deliver.delivered(job).await;
            rows::sent(
                &s.db,
                (user, &v.group),
                job,
                Sent::Album(sent.message_id.max(1)),
            )
            .await?;
            if let Some(generation) = ctx.checkpoints().generation {
                crate::db::generations::set_file_id(&s.db, generation, &file_id).await?;
            }
            return Ok(());
        }
        Err(delivery::DeliverError::NotSent(e)) => {
            crate::metrics::delivery("refused");
            // Nothing went out: this version is no longer carried by others, and a cancel may
            // refund it again until its next try commits it.
            rows::unready(&s.db, job, false).await?;
            ctx.checkpoint(crate::jobs::Step::Delivery, |c| {
                c.delivery_started_ms = None
            })
            .await?;
            (Sent::NotSent, Err(e.into()))
        }
        Err(delivery::DeliverError::Unknown(e)) => {
            tracing::warn!(error = %e, "album upload outcome unknown");
            (Sent::Uncertain, delivery::settle_uncertain(s, ctx).await)
        }
        Err(delivery::DeliverError::RecipientGone(e)) => {
            tracing::info!(error = %e, "the user cannot be reached: the versions wait in /history");
            crate::metrics::delivery("unreachable");
            ctx.checkpoint(crate::jobs::Step::Delivered, |c| {
                c.delivered = Some(Delivered {
                    message_id: 0,
                    file_id: String::new(),
                    uncertain: false,
                    unreachable: true,
                })
            })
            .await?;
            (Sent::Album(0), Ok(()))
        }
    };
    rows::sent(&s.db, (user, &v.group), job, outcome).await?;
    result
}

/// Adds to `own` the other made versions not yet sent, as long as the album has room, and
/// marks them (and `own`'s job) as carried by it; returns the siblings carried. Only the
/// members still free when marked ride along.
async fn carry_siblings(
    s: &Services,
    (user, job): (i64, i64),
    v: &VersionOf,
    own: &mut Delivery,
    scratch: &super::Scratch,
) -> Result<Vec<i64>, StepError> {
    let group = rows::group(&s.db, &v.group, user).await?;
    let mut items = 1 + own.more.len();
    let mut picked = Vec::new();
    for m in group.iter().flat_map(|g| &g.members) {
        let free = m.ready_ms.is_some()
            && m.album_message.is_none()
            && m.sending_by.is_none()
            && !m.uncertain
            && !m.alone
            && !m.ended;
        if m.job == job || !free {
            continue;
        }
        let Some((language, videos)) = sibling_videos(s, user, m.job, scratch).await? else {
            continue;
        };
        if items + videos.len() > ALBUM_ITEMS {
            continue;
        }
        items += videos.len();
        picked.push((m.job, language, videos));
    }
    let ids: Vec<i64> = std::iter::once(job)
        .chain(picked.iter().map(|p| p.0))
        .collect();
    let marked = rows::sending(&s.db, job, &ids).await?;
    let mut carried = Vec::new();
    for (id, language, videos) in picked {
        if marked.contains(&id) {
            own.versions.push(language);
            own.more.extend(videos);
            carried.push(id);
        }
    }
    Ok(carried)
}

/// One upload to the chat, timed as the delivery step.
async fn upload(s: &Services, d: &Delivery) -> Result<delivery::Sent, delivery::DeliverError> {
    let span = tracing::info_span!("step", step = "delivery", provider = "telegram");
    let started = std::time::Instant::now();
    let sent = tracing::Instrument::instrument(s.deliver.deliver(d), span).await;
    crate::metrics::step_duration(crate::jobs::Step::Delivery, started.elapsed());
    sent
}

fn language_of(ctx: &JobCtx) -> String {
    match &ctx.job.spec {
        Ok(JobSpec::UgcVideo(p)) => p.language_code().to_string(),
        _ => "ru".into(),
    }
}

/// A made sibling's videos (its main format, then its others), labelled with its language.
async fn sibling_videos(
    s: &Services,
    user: i64,
    job: i64,
    scratch: &super::Scratch,
) -> Result<Option<(String, Vec<MoreFormat>)>, StepError> {
    let Some(row) = crate::db::jobs::job(&s.db, job).await? else {
        return Ok(None);
    };
    let (Some(JobSpec::UgcVideo(p)), Some(output)) = (&row.spec, &row.checkpoints.output) else {
        return Ok(None);
    };
    // Only a sibling committed to delivery (a cancel can no longer refund it) rides along.
    if row.user_id != user || row.checkpoints.delivery_started_ms.is_none() {
        return Ok(None);
    }
    let language = p.language_code().to_string();
    let name = language_name(&language);
    let mut keys = vec![(String::new(), output.clone())];
    keys.extend(p.more_output_keys(output));
    let mut videos = Vec::new();
    for (i, (format, key)) in keys.into_iter().enumerate() {
        let path = scratch.file(&format!("version-{job}-{i}.mp4"));
        s.storage.get_to_file(&key, &path).await?;
        let (width, height, duration_s) = super::video_shape(&path)?;
        let format = if format.is_empty() {
            crate::jobs::layout::format_of(width as usize, height as usize)
                .map_or_else(|| format!("{width}×{height}"), String::from)
        } else {
            format
        };
        videos.push(MoreFormat {
            label: format!("{name} · {format}"),
            video: path,
            width,
            height,
            duration_s,
        });
    }
    Ok(Some((language, videos)))
}
