//! The console's pages: overview (charts and numbers for 24 h / 7 d / 30 d), users (search,
//! ledger, jobs, orders, top-up with a reason, ban, API keys), jobs (filters; a job's spec,
//! checkpoints, timeline, video and refund / retry / cancel), payments (Kaspi confirmation)
//! and provider health. Every action is a POST with the session's CSRF token, safe to
//! submit twice, and written to the audit log.
mod jobs;
mod overview;
mod payments;
mod users;

pub use jobs::{job, job_action, job_video, jobs};
pub use overview::overview;
pub use payments::{confirm_order, payments, providers};
pub use users::{ban, keys, topup, user, users};

use super::{Operator, Reply};
use crate::db::console as q;
use crate::jobs::JobState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;

pub(crate) type Page = Result<Response, Reply>;

pub(crate) fn internal(e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "console page failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "the console could not read the database; try again",
    )
        .into_response()
}

pub use crate::dates::when;

pub(crate) fn csrf(op: &Operator) -> Markup {
    html! { input type="hidden" name="csrf" value=(op.csrf); }
}

#[derive(Deserialize, Default)]
pub struct Flash {
    done: Option<String>,
}

pub(crate) fn flash_text(code: &str) -> &'static str {
    match code {
        "topup" => "Topped up.",
        "topup-repeat" => "That top-up form was already submitted: nothing more was added.",
        "ban" => "Saved.",
        "revoked" => "The key is revoked.",
        "refund" => "Refunded.",
        "refund-repeat" => "Already refunded: nothing more was given back.",
        "retry" => "A new job was queued (free for the user).",
        "cancel" => "Cancelled (refunded if it had been charged).",
        "cancel-too-late" => {
            "Not cancelled: its result is already being delivered (it ends done and paid)."
        }
        "confirmed" => "The order is confirmed and credited.",
        "confirmed-repeat" => "This order was already credited.",
        _ => "Done.",
    }
}

pub(crate) fn jobs_table(jobs: &[crate::db::jobs::JobRow]) -> Markup {
    html! {
        table class="jobs" { tr { th { "job" } th { "kind" } th { "user" } th { "state" } th { "price" } th { "created" } th { "made by" } }
            @for j in jobs {
                tr { td { a href=(format!("/console/jobs/{}", j.id)) { "#" (j.id) } } td { (j.kind.map_or("?", |k| k.name())) }
                     td { a href=(format!("/console/users/{}", j.user_id)) { (j.user_id) } }
                     td class=(if j.state == JobState::Failed { "bad" } else if j.state == JobState::Done { "ok" } else { "" }) { (j.state.name()) }
                     td { (j.cost_tokens) } td { (when(j.created_ms)) }
                     td { (made_by(&j.checkpoints).join(", ")) } }
            }
        }
    }
}

pub(crate) fn made_by(c: &crate::jobs::Checkpoints) -> Vec<String> {
    [
        ("video", &c.video_by),
        ("speech", &c.speech_by),
        ("head", &c.talking_head_by),
        ("edit", &c.edit_by),
    ]
    .iter()
    .filter_map(|(step, by)| by.as_ref().map(|b| format!("{step}: {b}")))
    .collect()
}

pub(crate) fn orders_table(op: &Operator, orders: &[q::OrderRow]) -> Markup {
    html! {
        table id="orders" { tr { th { "order" } th { "user" } th { "method" } th { "tokens" } th { "amount" } th { "status" } th { "created" } th { "paid" } th {} }
            @for o in orders {
                tr { td { "#" (o.id) } td { a href=(format!("/console/users/{}", o.user_id)) { (o.user_id) } } td { (o.method) } td { (o.tokens) }
                     td { (o.amount_minor / 100) " " (o.currency) } td { (o.status) } td { (when(o.created_ms)) }
                     td { @if let Some(p) = o.paid_ms { (when(p)) } }
                     td { @if o.method == "kaspi" && o.status == "pending" {
                         form method="post" action=(format!("/console/payments/{}/confirm", o.id)) class="inline" {
                             (csrf(op)) button class="confirm" { "Confirm payment" } } } } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::jobs::day_ms;
    use super::*;

    #[test]
    fn dates_convert_both_ways() {
        assert_eq!(when(0), "1970-01-01 00:00");
        let d = day_ms("2026-12-02").unwrap();
        assert_eq!(when(d), "2026-12-02 00:00");
        assert_eq!(
            when(day_ms("2024-02-29").unwrap() + 3_600_000 * 13 + 60_000 * 5),
            "2024-02-29 13:05"
        );
        assert!(day_ms("yesterday").is_none());
    }
}
