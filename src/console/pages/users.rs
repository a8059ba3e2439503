//! Users: search, a user's page (ledger, jobs, orders, audit), top-up, ban, API keys.
use super::{csrf, flash_text, internal, jobs_table, orders_table, when, Flash, Page};
use crate::console::{layout, operator, operator_posting, Console};
use crate::db::console as q;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use maud::html;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct Search {
    q: Option<String>,
}

pub async fn users(State(s): State<Console>, headers: HeaderMap, Query(f): Query<Search>) -> Page {
    let op = operator(&s, &headers).await?;
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
    let flagged = crate::db::reversals::flagged(&s.db, 50)
        .await
        .map_err(internal)?;
    let content = html! {
        @if !flagged.is_empty() {
            h2 { "Flagged: a card payment was refunded or disputed" }
            table id="flagged" { tr { th { "id" } th { "tokens owed" } th { "flagged" } }
                @for (id, debt, at) in &flagged {
                    tr { td { a href=(format!("/console/users/{id}")) { (id) } }
                         td { (debt) } td { (when(*at)) } }
                }
            }
        }
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
        @if rows.is_empty() {
            p class="muted" id="no-users" { @if query.trim().is_empty() { "No users yet: they appear when they send the bot /start (share its t.me link)." } @else { "No user matches." } }
        }
    };
    Ok(layout("Users", Some(&op), content).into_response())
}

pub async fn user(
    State(s): State<Console>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(f): Query<Flash>,
) -> Page {
    let op = operator(&s, &headers).await?;
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
    let ledger = crate::db::ledger::history(&s.db, id, 50)
        .await
        .map_err(internal)?;
    let jobs = crate::db::jobs::jobs_of_user(&s.db, id, 30)
        .await
        .map_err(internal)?;
    let orders = q::orders(&s.db, id, 30).await.map_err(internal)?;
    let keys = crate::db::api::keys_of(&s.db, id).await.map_err(internal)?;
    let audit = q::audit_of(&s.db, &format!("user:{id}"))
        .await
        .map_err(internal)?;
    let (debt, flagged) = crate::db::reversals::debt_of(&s.db, id)
        .await
        .map_err(internal)?;
    let nonce = crate::db::api_keys::random_hex(8);
    let content = html! {
        @if let Some(done) = &f.done { p class="flash" id="flash" { (flash_text(done)) } }
        p { "@" (u.username.as_deref().unwrap_or("-")) ", language " (u.language) ", first seen " (when(u.first_seen_ms))
            @if u.banned { " — " span class="bad" { "BANNED" } } }
        p { "Balance: " strong id="balance" { (u.balance) } " tokens" }
        @if let Some(at) = flagged {
            p class="bad" id="debt" { "Flagged " (when(at)) ": a card payment was refunded or disputed; "
                (debt) " tokens still owed (the next top-up settles them)" }
        }
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
    let op = operator_posting(&s, &headers, &f.csrf).await?;
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
    let op = operator_posting(&s, &headers, &f.csrf).await?;
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
    let op = operator_posting(&s, &headers, &f.csrf).await?;
    if f.action == "create" {
        let Some((key, prefix)) = crate::db::api_keys::create(&s.db, id)
            .await
            .map_err(internal)?
        else {
            return Err((
                StatusCode::CONFLICT,
                format!(
                    "user {id} already holds {} live API keys: revoke one first",
                    crate::db::api::MAX_LIVE_KEYS
                ),
            )
                .into_response()
                .into());
        };
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
        // Shown once: neither the browser nor a proxy keeps a copy.
        return Ok((
            [(axum::http::header::CACHE_CONTROL, "no-store")],
            layout("API key made", Some(&op), content),
        )
            .into_response());
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
