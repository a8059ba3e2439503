//! Jobs: the filtered list, a job's page with its video, and refund / retry / cancel.
use super::{csrf, flash_text, internal, jobs_table, made_by, when, Flash, Page};
use crate::console::{layout, operator, operator_posting, Console, Reply};
use crate::db::console as q;
use crate::jobs::JobState;
use crate::storage::ObjectStore;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use maud::html;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct JobFilter {
    state: Option<String>,
    kind: Option<String>,
    user: Option<String>,
    provider: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// `2026-12-02` → its first millisecond (UTC).
pub(super) fn day_ms(date: &str) -> Option<i64> {
    let mut it = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (it.next()??, it.next()??, it.next()??);
    // Days from civil (inverse of civil_from_days).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400_000)
}

pub async fn jobs(
    State(s): State<Console>,
    headers: HeaderMap,
    Query(f): Query<JobFilter>,
) -> Page {
    let op = operator(&s, &headers).await?;
    let state = f.state.clone().unwrap_or_default();
    let kind = f.kind.clone().unwrap_or_default();
    let user: i64 = f
        .user
        .as_deref()
        .and_then(|u| u.trim().parse().ok())
        .unwrap_or(0);
    let provider = f.provider.clone().unwrap_or_default();
    let from = f.from.as_deref().and_then(day_ms).unwrap_or(0);
    let to =
        f.to.as_deref()
            .and_then(day_ms)
            .map_or(i64::MAX, |t| t + 86_400_000 - 1);
    let ids = q::job_ids(&s.db, &state, &kind, user, from, to, 200)
        .await
        .map_err(internal)?;
    let mut rows = Vec::new();
    for id in ids {
        if let Some(j) = crate::db::jobs::job(&s.db, id).await.map_err(internal)? {
            let mentions = provider.is_empty()
                || made_by(&j.checkpoints)
                    .iter()
                    .any(|m| m.contains(&provider))
                || j.error_message
                    .as_deref()
                    .is_some_and(|m| m.starts_with(&provider));
            if mentions {
                rows.push(j);
            }
        }
    }
    let content = html! {
        form method="get" action="/console/jobs" {
            select name="state" { option value="" { "any state" }
                @for st in JobState::ALL { option value=(st.name()) selected[state == st.name()] { (st.name()) } } }
            " " select name="kind" { option value="" { "any kind" }
                @for k in crate::jobs::JobKind::ALL { option value=(k.name()) selected[kind == k.name()] { (k.name()) } } }
            " " input type="text" name="user" placeholder="user id" value=(f.user.clone().unwrap_or_default()) size="10";
            " " input type="text" name="provider" placeholder="provider (fal, openai, local…)" value=(provider) size="18";
            " " input type="date" name="from" value=(f.from.clone().unwrap_or_default());
            " " input type="date" name="to" value=(f.to.clone().unwrap_or_default());
            " " button { "Filter" }
        }
        (jobs_table(&rows))
        @if rows.is_empty() { p class="muted" id="no-jobs" { "No job matches. Jobs are made when users order in the bot (/start) or through the API." } }
    };
    Ok(layout("Jobs", Some(&op), content).into_response())
}

pub async fn job(
    State(s): State<Console>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(f): Query<Flash>,
) -> Page {
    let op = operator(&s, &headers).await?;
    let Some(j) = crate::db::jobs::job(&s.db, id).await.map_err(internal)? else {
        return Err((
            StatusCode::NOT_FOUND,
            layout("No such job", Some(&op), html! { p { "No job " (id) "." } }),
        )
            .into_response()
            .into());
    };
    let events = q::events(&s.db, id).await.map_err(internal)?;
    let spec = j
        .spec
        .as_ref()
        .and_then(|s| serde_json::to_string_pretty(s).ok())
        .unwrap_or_default();
    let checkpoints = serde_json::to_string_pretty(&j.checkpoints).unwrap_or_default();
    let debited = crate::db::ledger::has_entry(&s.db, &crate::db::ledger::debit_key(id))
        .await
        .map_err(internal)?;
    let refunded = crate::db::ledger::has_entry(&s.db, &crate::db::ledger::refund_key(id))
        .await
        .map_err(internal)?;
    let video = j.checkpoints.output.is_some() && j.kind.is_some_and(|k| k.makes_video());
    let action = |name: &str, label: &str| {
        html! {
            form method="post" action=(format!("/console/jobs/{id}/action")) class="inline" {
                (csrf(&op)) input type="hidden" name="action" value=(name); button id=(format!("job-{name}")) { (label) } }
        }
    };
    let content = html! {
        @if let Some(done) = &f.done { p class="flash" id="flash" { (flash_text(done)) } }
        p { (j.kind.map_or("?", |k| k.name())) " for " a href=(format!("/console/users/{}", j.user_id)) { "user " (j.user_id) }
            ", " strong id="state" { (j.state.name()) } ", " (j.cost_tokens) " tokens, attempt " (j.attempts)
            @if refunded { ", " span class="ok" { "refunded" } } }
        @for m in made_by(&j.checkpoints) { p { (m) } }
        @if let Some(note) = &j.checkpoints.voice_note { p { "voice stood in: " (note) } }
        @if let Some(spent) = j.checkpoints.spent_kzt { p { "provider cost: " (format!("{spent:.1} ₸")) } }
        @if let Some(class) = j.error_class { p class="bad" { (class.name()) " (" (j.error_provider.as_deref().unwrap_or("internal")) "): " (j.error_message.as_deref().unwrap_or("")) } }
        p {
            @if debited && !refunded && j.state.is_final() { (action("refund", "Refund")) " " }
            @if matches!(j.state, JobState::Failed | JobState::Cancelled) { (action("retry", "Retry (free)")) " " }
            @if !j.state.is_final() { (action("cancel", "Cancel")) }
        }
        @if video {
            video id="result" controls preload="metadata" src=(format!("/console/jobs/{id}/video")) {}
        }
        h2 { "Timeline" }
        table id="timeline" { tr { th { "when" } th { "step" } th { "after" } th { "note" } }
            @for (i, (state, message, at)) in events.iter().enumerate() {
                tr { td { (when(*at)) } td { (state) }
                     td { @if i > 0 { (format!("{:.1} s", (*at - events[i - 1].2) as f64 / 1000.0)) } }
                     td { (message.as_deref().unwrap_or("")) } }
            }
        }
        h2 { "Spec" } pre { (spec) }
        h2 { "Checkpoints" } pre { (checkpoints) }
    };
    Ok(layout(&format!("Job #{id}"), Some(&op), content).into_response())
}

#[derive(Deserialize)]
pub struct ActionForm {
    csrf: String,
    action: String,
}

pub async fn job_action(
    State(s): State<Console>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> Page {
    let op = operator_posting(&s, &headers, &f.csrf).await?;
    let Some(j) = crate::db::jobs::job(&s.db, id).await.map_err(internal)? else {
        return Err((StatusCode::NOT_FOUND, "no such job")
            .into_response()
            .into());
    };
    let done = match f.action.as_str() {
        "refund" => match crate::admin::refund_job(&s.db, id).await {
            Ok(Some(_)) => "refund",
            Ok(None) => "refund-repeat",
            Err(e) => return Err((StatusCode::CONFLICT, e.to_string()).into_response().into()),
        },
        "retry" => {
            let Some(spec) = j.spec.clone() else {
                return Err((StatusCode::CONFLICT, "the job's spec cannot be read")
                    .into_response()
                    .into());
            };
            // Once per job: the retry's key is the job's, a second click finds the first retry.
            // Free (the user paid for the first one, or was refunded), and checked by the
            // same rules as every order: a spec the pipeline cannot use is not retried.
            let order = match crate::orders::Order::free(&s.prices, spec, 5) {
                Ok(order) => order,
                Err(invalid) => {
                    return Err((StatusCode::CONFLICT, format!("not retried: {invalid}"))
                        .into_response()
                        .into())
                }
            };
            let key = format!("console-retry:{id}");
            // A UGC video's paid speech and talking head are carried, not bought again.
            let carried = j.checkpoints.carried_for_recompose();
            let once = crate::orders::Channel::Once(&key);
            let retry = crate::orders::submit(&s.db, j.user_id, order, carried.as_ref(), once)
                .await
                .map_err(internal)?
                .id;
            q::audit(
                &s.db,
                &op.name,
                "retry",
                &format!("job:{id}"),
                &format!("as job {retry}"),
            )
            .await
            .map_err(internal)?;
            return Ok(Redirect::to(&format!("/console/jobs/{retry}?done=retry")).into_response());
        }
        "cancel" => match crate::db::jobs::cancel(&s.db, id).await.map_err(internal)? {
            crate::db::jobs::Cancelled::TooLate => "cancel-too-late",
            _ => "cancel",
        },
        _ => {
            return Err((StatusCode::BAD_REQUEST, "unknown action")
                .into_response()
                .into())
        }
    };
    q::audit(&s.db, &op.name, &f.action, &format!("job:{id}"), "")
        .await
        .map_err(internal)?;
    Ok(Redirect::to(&format!("/console/jobs/{id}?done={done}")).into_response())
}

/// The job's video for the page's player, with byte ranges (seeking).
pub async fn job_video(State(s): State<Console>, headers: HeaderMap, Path(id): Path<i64>) -> Page {
    operator(&s, &headers).await?;
    let key = crate::db::jobs::job(&s.db, id)
        .await
        .map_err(internal)?
        .and_then(|j| j.checkpoints.output)
        .ok_or_else(|| Reply::from((StatusCode::NOT_FOUND, "no video").into_response()))?;
    let bytes = s.storage.get_bytes(&key).await.map_err(internal)?;
    let total = bytes.len();
    let range = headers
        .get("range")
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| {
            let start: usize = a.parse().ok()?;
            let end: usize = if b.is_empty() {
                total.saturating_sub(1)
            } else {
                b.parse().ok()?
            };
            (start <= end && end < total).then_some((start, end))
        });
    Ok(match range {
        Some((start, end)) => (
            StatusCode::PARTIAL_CONTENT,
            [
                ("content-type", "video/mp4".to_string()),
                ("accept-ranges", "bytes".to_string()),
                ("content-range", format!("bytes {start}-{end}/{total}")),
            ],
            bytes[start..=end].to_vec(),
        )
            .into_response(),
        None => (
            [("content-type", "video/mp4"), ("accept-ranges", "bytes")],
            bytes,
        )
            .into_response(),
    })
}
