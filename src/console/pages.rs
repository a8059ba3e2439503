//! The console's pages: overview (charts and numbers for 24 h / 7 d / 30 d), users (search,
//! ledger, jobs, orders, top-up with a reason, ban, API keys), jobs (filters; a job's spec,
//! checkpoints, timeline, video and refund / retry / cancel), payments (Kaspi confirmation)
//! and provider health. Every action is a POST with the session's CSRF token, safe to
//! submit twice, and written to the audit log.
use super::charts::{stacked_bars, Bar};
use super::{layout, operator, operator_posting, Console, Operator, Reply};
use crate::db::{console as q, now_ms};
use crate::jobs::JobState;
use crate::storage::ObjectStore;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::BTreeMap;

type Page = Result<Response, Reply>;

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "console page failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "the console could not read the database; try again",
    )
        .into_response()
}

/// UTC date and time of a millisecond timestamp (`2026-12-02 14:05`).
pub fn when(ms: i64) -> String {
    // UTC date and time, e.g. 2026-12-02 14:05.
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn csrf(op: &Operator) -> Markup {
    html! { input type="hidden" name="csrf" value=(op.csrf); }
}

#[derive(Deserialize, Default)]
pub struct Period {
    period: Option<String>,
}

/// The period's start, the bucket size and the bucket label format.
fn period_of(p: &str) -> (&'static str, i64, i64) {
    match p {
        "7d" => ("7d", 7 * 86_400_000, 86_400_000),
        "30d" => ("30d", 30 * 86_400_000, 86_400_000),
        _ => ("24h", 86_400_000, 3_600_000),
    }
}

fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    Some(sorted[i])
}

pub async fn overview(
    State(s): State<Console>,
    headers: HeaderMap,
    Query(p): Query<Period>,
) -> Page {
    let op = operator(&s, &headers)?;
    let (name, span, bucket) = period_of(p.period.as_deref().unwrap_or("24h"));
    let now = now_ms();
    let since = now - span;
    let first_bucket = since.div_euclid(bucket) * bucket;
    let labels: Vec<i64> = (0..)
        .map(|i| first_bucket + i * bucket)
        .take_while(|b| *b <= now)
        .collect();
    let label = |b: i64| {
        let t = when(b);
        if bucket < 86_400_000 {
            t[11..16].to_string()
        } else {
            t[5..10].to_string()
        }
    };
    // Revenue per day by method (₸).
    let revenue = q::revenue_by_day(&s.db, since).await.map_err(internal)?;
    let methods = ["stripe".to_string(), "kaspi".to_string()];
    let days: Vec<i64> = (0..)
        .map(|i| since.div_euclid(86_400_000) * 86_400_000 + i * 86_400_000)
        .take_while(|d| *d <= now)
        .collect();
    let revenue_bars: Vec<Bar> = days
        .iter()
        .map(|d| Bar {
            label: when(*d)[5..10].to_string(),
            values: methods
                .iter()
                .map(|m| {
                    revenue
                        .iter()
                        .filter(|(day, method, _)| day == d && method == m)
                        .map(|(_, _, minor)| *minor as f64 / 100.0)
                        .sum()
                })
                .collect(),
        })
        .collect();
    let revenue_total: f64 = revenue.iter().map(|(_, _, m)| *m as f64 / 100.0).sum();
    // Jobs per bucket by state.
    let jobs = q::jobs_by_bucket(&s.db, since, bucket)
        .await
        .map_err(internal)?;
    let states: Vec<String> = [
        "done",
        "failed",
        "cancelled",
        "queued",
        "running",
        "snoozed",
        "rejected",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let job_bars: Vec<Bar> = labels
        .iter()
        .map(|b| Bar {
            label: label(*b),
            values: states
                .iter()
                .map(|st| {
                    jobs.iter()
                        .filter(|(bb, state, _)| bb == b && state == st)
                        .map(|(_, _, n)| *n as f64)
                        .sum()
                })
                .collect(),
        })
        .collect();
    let count = |st: &str| {
        jobs.iter()
            .filter(|(_, s, _)| s == st)
            .map(|(_, _, n)| n)
            .sum::<i64>()
    };
    // Failures by class × provider.
    let mut failures: BTreeMap<(String, &'static str), i64> = BTreeMap::new();
    for (class, message) in q::failures(&s.db, since).await.map_err(internal)? {
        *failures
            .entry((class, crate::failure::provider_named_in(&message)))
            .or_default() += 1;
    }
    // Spend and margin from the finished jobs' checkpoints (the pricing table's costs).
    let done = crate::queue::done_since(&s.db, since)
        .await
        .map_err(internal)?;
    let income: i64 = done.iter().map(|(price, _)| price).sum();
    // The steps with fallback chains record what they cost; video generations are priced
    // from their parameters (the tier's cost in the pricing table).
    let specs = crate::queue::done_specs_since(&s.db, since)
        .await
        .map_err(internal)?;
    let estimated: f64 = specs
        .iter()
        .filter(|spec| {
            !spec.kind().composes() && spec.kind() != crate::jobs::JobKind::CharacterEdit
        })
        .map(|spec| crate::admin::job_cost_kzt(&s.prices, spec))
        .sum();
    let spent: f64 = done
        .iter()
        .map(|(_, c)| c.spent_kzt.unwrap_or(0.0))
        .sum::<f64>()
        + estimated;
    let mut by_entry: BTreeMap<String, (i64, i64, f64)> = BTreeMap::new();
    for (price, c) in &done {
        for entry in [&c.speech_by, &c.talking_head_by, &c.edit_by]
            .into_iter()
            .flatten()
        {
            let e = by_entry.entry(entry.clone()).or_default();
            e.0 += 1;
            e.1 += price;
            e.2 += c.spent_kzt.unwrap_or(0.0);
        }
    }
    let (depth, oldest_wait_ms) = crate::queue::queue_depth(&s.db).await.map_err(internal)?;
    let waits = q::waits(&s.db, since).await.map_err(internal)?;
    let active = q::active_users(&s.db, since).await.map_err(internal)?;
    let secs =
        |ms: Option<i64>| ms.map_or("—".to_string(), |m| format!("{:.1} s", m as f64 / 1000.0));
    let margin = if income > 0 {
        format!("{:.0} %", (income as f64 - spent) * 100.0 / income as f64)
    } else {
        "—".into()
    };
    let content = html! {
        p { "Period: "
            @for p in ["24h", "7d", "30d"] {
                @if p == name { strong { (p) } " " } @else { a href=(format!("/console?period={p}")) { (p) } " " }
            }
        }
        div class="cards" {
            div class="card" { "Revenue" b id="revenue" { (format!("{revenue_total:.0} ₸")) } }
            div class="card" { "Jobs" b { (jobs.iter().map(|(_, _, n)| n).sum::<i64>()) } span class="muted" { (count("done")) " done, " (count("failed")) " failed" } }
            div class="card" { "Provider spend" b { (format!("{spent:.0} ₸")) } span class="muted" { "margin " (margin) ", video priced by tier" } }
            div class="card" { "Queue" b { (depth) } span class="muted" { "oldest waits " (oldest_wait_ms / 1000) " s" } }
            div class="card" { "Wait for a worker" b { (secs(percentile(&waits, 0.5))) } span class="muted" { "p95 " (secs(percentile(&waits, 0.95))) } }
            div class="card" { "Active users" b { (active) } }
        }
        (stacked_bars("Revenue per day (₸)", &methods, &revenue_bars, "₸"))
        (stacked_bars(if bucket < 86_400_000 { "Jobs per hour by state" } else { "Jobs per day by state" }, &states, &job_bars, "jobs"))
        h2 { "Failures by class and provider" }
        @if failures.is_empty() { p class="muted" { "none" } } @else {
            table { tr { th { "class" } th { "provider" } th { "jobs" } }
                @for ((class, provider), n) in &failures { tr { td { (class) } td { (provider) } td { (n) } } } }
        }
        h2 { "Orders served by each provider" }
        @if by_entry.is_empty() { p class="muted" { "no finished jobs in this period" } } @else {
            table { tr { th { "chain entry" } th { "orders" } th { "₸ in" } th { "₸ spent" } th { "margin" } }
                @for (entry, (n, inc, sp)) in &by_entry {
                    tr { td { (entry) } td { (n) } td { (inc) } td { (format!("{sp:.0}")) }
                         td { @if *inc > 0 { (format!("{:.0} %", (*inc as f64 - sp) * 100.0 / *inc as f64)) } @else { "—" } } }
                }
            }
        }
    };
    Ok(layout("Overview", Some(&op), content).into_response())
}

#[derive(Deserialize, Default)]
pub struct Search {
    q: Option<String>,
}

pub async fn users(State(s): State<Console>, headers: HeaderMap, Query(f): Query<Search>) -> Page {
    let op = operator(&s, &headers)?;
    let query = f.q.unwrap_or_default();
    let ids = if query.trim().is_empty() {
        crate::db::users::recently_seen(&s.db, 30)
            .await
            .map_err(internal)?
            .iter()
            .map(|u| u.id)
            .collect()
    } else {
        q::search_users(&s.db, &query, 50).await.map_err(internal)?
    };
    let mut rows = Vec::new();
    for id in ids {
        if let Some(u) = crate::db::users::get_user(&s.db, id)
            .await
            .map_err(internal)?
        {
            rows.push(u);
        }
    }
    let content = html! {
        form method="get" action="/console/users" {
            input type="search" name="q" value=(query) placeholder="id or @username" autofocus;
            " " button id="search" { "Find" }
        }
        table id="users" { tr { th { "id" } th { "username" } th { "balance" } th { "last seen" } th {} }
            @for u in &rows {
                tr { td { a href=(format!("/console/users/{}", u.id)) { (u.id) } }
                     td { "@" (u.username.as_deref().unwrap_or("-")) }
                     td { (u.balance) } td { (when(u.last_seen_ms)) }
                     td { @if u.banned { span class="bad" { "banned" } } } }
            }
        }
        @if rows.is_empty() { p class="muted" { "no user matches" } }
    };
    Ok(layout("Users", Some(&op), content).into_response())
}

#[derive(Deserialize, Default)]
pub struct Flash {
    done: Option<String>,
}

pub async fn user(
    State(s): State<Console>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(f): Query<Flash>,
) -> Page {
    let op = operator(&s, &headers)?;
    let Some(u) = crate::db::users::get_user(&s.db, id)
        .await
        .map_err(internal)?
    else {
        return Err((
            StatusCode::NOT_FOUND,
            layout(
                "No such user",
                Some(&op),
                html! { p { "No user " (id) "." } },
            ),
        )
            .into_response()
            .into());
    };
    let ledger = crate::ledger::history(&s.db, id, 50)
        .await
        .map_err(internal)?;
    let jobs = crate::queue::jobs_of_user(&s.db, id, 30)
        .await
        .map_err(internal)?;
    let orders = q::orders(&s.db, id, 30).await.map_err(internal)?;
    let keys = crate::db::api::keys_of(&s.db, id).await.map_err(internal)?;
    let audit = q::audit_of(&s.db, &format!("user:{id}"))
        .await
        .map_err(internal)?;
    let nonce = crate::api::keys::random_hex(8);
    let content = html! {
        @if let Some(done) = &f.done { p class="flash" id="flash" { (flash_text(done)) } }
        p { "@" (u.username.as_deref().unwrap_or("-")) ", language " (u.language) ", first seen " (when(u.first_seen_ms))
            @if u.banned { " — " span class="bad" { "BANNED" } } }
        p { "Balance: " strong id="balance" { (u.balance) } " tokens" }
        form method="post" action=(format!("/console/users/{id}/topup")) id="topup" {
            (csrf(&op)) input type="hidden" name="nonce" value=(nonce);
            input type="number" name="amount" min="1" max="1000000" required placeholder="tokens";
            " " input type="text" name="reason" required placeholder="reason (kept in the audit log)" maxlength="200";
            " " button id="topup-button" { "Top up" }
        }
        form method="post" action=(format!("/console/users/{id}/ban")) class="inline" {
            (csrf(&op)) input type="hidden" name="banned" value=(if u.banned { "0" } else { "1" });
            button { @if u.banned { "Unban" } @else { "Ban" } }
        }
        h2 { "API keys" }
        ul { @for k in &keys { li { "rf_" (k.prefix) "_… "
            @if k.revoked_ms.is_some() { span class="muted" { "revoked" } } @else {
                form method="post" action=(format!("/console/users/{id}/keys")) class="inline" {
                    (csrf(&op)) input type="hidden" name="action" value="revoke"; input type="hidden" name="prefix" value=(k.prefix);
                    button { "Revoke" } } } } } }
        form method="post" action=(format!("/console/users/{id}/keys")) {
            (csrf(&op)) input type="hidden" name="action" value="create"; button { "Create a key" } }
        h2 { "Jobs" }
        (jobs_table(&jobs))
        h2 { "Ledger" }
        table { tr { th { "when" } th { "change" } th { "balance" } th { "reason" } th { "job" } }
            @for e in &ledger { tr { td { (when(e.created_ms)) } td { (format!("{:+}", e.delta)) } td { (e.balance_after) } td { (e.reason) }
                td { @if let Some(j) = e.job_id { a href=(format!("/console/jobs/{j}")) { "#" (j) } } } } } }
        h2 { "Orders" }
        (orders_table(&op, &orders))
        h2 { "Audit" }
        ul { @for (at, actor, action, note) in &audit { li { (when(*at)) " " (actor) ": " (action) " " span class="muted" { (note) } } } }
    };
    Ok(layout(&format!("User {id}"), Some(&op), content).into_response())
}

fn flash_text(code: &str) -> &'static str {
    match code {
        "topup" => "Topped up.",
        "topup-repeat" => "That top-up form was already submitted: nothing more was added.",
        "ban" => "Saved.",
        "revoked" => "The key is revoked.",
        "refund" => "Refunded.",
        "refund-repeat" => "Already refunded: nothing more was given back.",
        "retry" => "A new job was queued (free for the user).",
        "cancel" => "Cancelled (refunded if it had been charged).",
        "confirmed" => "The order is confirmed and credited.",
        "confirmed-repeat" => "This order was already credited.",
        _ => "Done.",
    }
}

fn jobs_table(jobs: &[crate::queue::JobRow]) -> Markup {
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

fn made_by(c: &crate::jobs::Checkpoints) -> Vec<String> {
    [
        ("speech", &c.speech_by),
        ("head", &c.talking_head_by),
        ("edit", &c.edit_by),
    ]
    .iter()
    .filter_map(|(step, by)| by.as_ref().map(|b| format!("{step}: {b}")))
    .collect()
}

fn orders_table(op: &Operator, orders: &[q::OrderRow]) -> Markup {
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

#[derive(Deserialize)]
pub struct TopupForm {
    csrf: String,
    nonce: String,
    amount: i64,
    reason: String,
}

pub async fn topup(
    State(s): State<Console>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<TopupForm>,
) -> Page {
    let op = operator_posting(&s, &headers, &f.csrf)?;
    if !(1..=1_000_000).contains(&f.amount) || f.reason.trim().is_empty() || f.nonce.len() > 64 {
        return Err((
            StatusCode::BAD_REQUEST,
            "an amount from 1 to 1 000 000 and a reason are needed",
        )
            .into_response()
            .into());
    }
    // The form's nonce is the ledger key: a double click or a resubmitted form credits once.
    let key = format!("console:{id}:{}", f.nonce);
    let applied = crate::admin::topup(&s.db, id, f.amount, &key)
        .await
        .map_err(internal)?;
    if applied.is_some() {
        q::audit(
            &s.db,
            &op.name,
            &format!("top-up {}", f.amount),
            &format!("user:{id}"),
            f.reason.trim(),
        )
        .await
        .map_err(internal)?;
    }
    let done = if applied.is_some() {
        "topup"
    } else {
        "topup-repeat"
    };
    Ok(Redirect::to(&format!("/console/users/{id}?done={done}")).into_response())
}

#[derive(Deserialize)]
pub struct BanForm {
    csrf: String,
    banned: String,
}

pub async fn ban(
    State(s): State<Console>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<BanForm>,
) -> Page {
    let op = operator_posting(&s, &headers, &f.csrf)?;
    let banned = f.banned == "1";
    crate::admin::set_banned(&s.db, id, banned)
        .await
        .map_err(internal)?;
    q::audit(
        &s.db,
        &op.name,
        if banned { "ban" } else { "unban" },
        &format!("user:{id}"),
        "",
    )
    .await
    .map_err(internal)?;
    Ok(Redirect::to(&format!("/console/users/{id}?done=ban")).into_response())
}

#[derive(Deserialize)]
pub struct KeyForm {
    csrf: String,
    action: String,
    prefix: Option<String>,
}

pub async fn keys(
    State(s): State<Console>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<KeyForm>,
) -> Page {
    let op = operator_posting(&s, &headers, &f.csrf)?;
    if f.action == "create" {
        let (key, prefix) = crate::api::keys::create(&s.db, id)
            .await
            .map_err(internal)?;
        q::audit(
            &s.db,
            &op.name,
            "API key made",
            &format!("user:{id}"),
            &prefix,
        )
        .await
        .map_err(internal)?;
        let content = html! {
            p { "The key for user " (id) " (shown once; give it to the user over a safe channel):" }
            pre id="new-key" { (key) }
            p { a href=(format!("/console/users/{id}")) { "Back to the user" } }
        };
        return Ok(layout("API key made", Some(&op), content).into_response());
    }
    let prefix = f.prefix.unwrap_or_default();
    crate::db::api::revoke_key(&s.db, id, &prefix)
        .await
        .map_err(internal)?;
    q::audit(
        &s.db,
        &op.name,
        "API key revoked",
        &format!("user:{id}"),
        &prefix,
    )
    .await
    .map_err(internal)?;
    Ok(Redirect::to(&format!("/console/users/{id}?done=revoked")).into_response())
}

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
fn day_ms(date: &str) -> Option<i64> {
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
    let op = operator(&s, &headers)?;
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
        if let Some(j) = crate::queue::job(&s.db, id).await.map_err(internal)? {
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
        @if rows.is_empty() { p class="muted" { "no job matches" } }
    };
    Ok(layout("Jobs", Some(&op), content).into_response())
}

pub async fn job(
    State(s): State<Console>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(f): Query<Flash>,
) -> Page {
    let op = operator(&s, &headers)?;
    let Some(j) = crate::queue::job(&s.db, id).await.map_err(internal)? else {
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
    let debited = crate::ledger::has_entry(&s.db, &crate::ledger::debit_key(id))
        .await
        .map_err(internal)?;
    let refunded = crate::ledger::has_entry(&s.db, &crate::ledger::refund_key(id))
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
        @if let Some(class) = &j.error_class { p class="bad" { (class) ": " (j.error_message.as_deref().unwrap_or("")) } }
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
    let op = operator_posting(&s, &headers, &f.csrf)?;
    let Some(j) = crate::queue::job(&s.db, id).await.map_err(internal)? else {
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
            let new = crate::queue::NewJob {
                user_id: j.user_id,
                spec,
                cost_tokens: 0,
                max_attempts: 5,
            };
            let (retry, _) =
                crate::queue::submit_api(&s.db, new, Some(&format!("console-retry:{id}")))
                    .await
                    .map_err(internal)?;
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
        "cancel" => {
            crate::queue::cancel(&s.db, id).await.map_err(internal)?;
            "cancel"
        }
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
    operator(&s, &headers)?;
    let key = crate::queue::job(&s.db, id)
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

pub async fn payments(
    State(s): State<Console>,
    headers: HeaderMap,
    Query(f): Query<Flash>,
) -> Page {
    let op = operator(&s, &headers)?;
    let orders = q::orders(&s.db, 0, 200).await.map_err(internal)?;
    let pending: Vec<q::OrderRow> = orders
        .iter()
        .filter(|o| o.method == "kaspi" && o.status == "pending")
        .cloned()
        .collect();
    let content = html! {
        @if let Some(done) = &f.done { p class="flash" id="flash" { (flash_text(done)) } }
        h2 { "Kaspi transfers waiting for confirmation" }
        @if pending.is_empty() { p class="muted" { "none" } } @else { (orders_table(&op, &pending)) }
        h2 { "All orders" }
        (orders_table(&op, &orders))
    };
    Ok(layout("Payments", Some(&op), content).into_response())
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

pub async fn confirm_order(
    State(s): State<Console>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Page {
    let op = operator_posting(&s, &headers, &f.csrf)?;
    let done = match crate::db::orders::credit_order(&s.db, id)
        .await
        .map_err(internal)?
    {
        crate::db::orders::OrderCredit::Credited { .. } => {
            crate::db::account::reward_for_order(&s.db, id, s.prices.referral_percent)
                .await
                .map_err(internal)?;
            q::audit(
                &s.db,
                &op.name,
                "Kaspi order confirmed",
                &format!("order:{id}"),
                "",
            )
            .await
            .map_err(internal)?;
            "confirmed"
        }
        crate::db::orders::OrderCredit::AlreadyCredited { .. } => {
            crate::db::account::reward_for_order(&s.db, id, s.prices.referral_percent)
                .await
                .map_err(internal)?;
            "confirmed-repeat"
        }
        crate::db::orders::OrderCredit::NoSuchOrder => {
            return Err((StatusCode::NOT_FOUND, "no such order")
                .into_response()
                .into())
        }
    };
    Ok(Redirect::to(&format!("/console/payments?done={done}")).into_response())
}

pub async fn providers(State(s): State<Console>, headers: HeaderMap) -> Page {
    let op = operator(&s, &headers)?;
    let report = crate::providers::health::report(&s.db)
        .await
        .map_err(internal)?;
    let spend = crate::db::providers::spend(&s.db, now_ms() - 86_400_000)
        .await
        .map_err(internal)?;
    let content = html! {
        h2 { "Last hour and breakers" }
        @if report.is_empty() { p class="muted" { "no provider calls recorded yet" } }
        ul id="health" { @for line in &report { li { (line) } } }
        h2 { "Spend, last 24 h" }
        table { tr { th { "chain entry" } th { "successful calls" } th { "₸" } }
            @for (entry, n, kzt) in &spend { tr { td { (entry) } td { (n) } td { (format!("{kzt:.0}")) } } } }
    };
    Ok(layout("Providers", Some(&op), content).into_response())
}

#[cfg(test)]
mod tests {
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
