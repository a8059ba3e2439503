//! Payments (Kaspi confirmation) and provider health.
use super::{flash_text, internal, orders_table, Flash, Page};
use crate::console::{layout, operator, operator_posting, Console};
use crate::db::{console as q, now_ms};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use maud::html;
use serde::Deserialize;

pub async fn payments(
    State(s): State<Console>,
    headers: HeaderMap,
    Query(f): Query<Flash>,
) -> Page {
    let op = operator(&s, &headers).await?;
    let orders = q::orders(&s.db, 0, 200).await.map_err(internal)?;
    let pending: Vec<q::OrderRow> = orders
        .iter()
        .filter(|o| o.method == "kaspi" && o.status == "pending")
        .cloned()
        .collect();
    let refund_due: Vec<q::OrderRow> = orders
        .iter()
        .filter(|o| o.status == "refund_due")
        .cloned()
        .collect();
    let content = html! {
        @if let Some(done) = &f.done { p class="flash" id="flash" { (flash_text(done)) } }
        @if !refund_due.is_empty() {
            h2 { "Paid after the account was erased: refund these in Stripe" }
            div id="refund-due" { (orders_table(&op, &refund_due)) }
        }
        h2 { "Kaspi transfers waiting for confirmation" }
        @if pending.is_empty() { p class="muted" { "none" } } @else { (orders_table(&op, &pending)) }
        h2 { "All orders" }
        @if orders.is_empty() {
            p class="muted" id="no-payments" { "No payments yet. Card payments need STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET (Stripe's webhook pointed at /webhooks/stripe); Kaspi transfers need KASPI_PHONE. Users buy packs with /buy in the bot." }
        } @else {
            (orders_table(&op, &orders))
        }
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
    let op = operator_posting(&s, &headers, &f.csrf).await?;
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
        crate::db::orders::OrderCredit::NotPendingKaspi { method, status, .. } => {
            return Err((
                StatusCode::CONFLICT,
                format!(
                    "not confirmed: a {method} order, {status} (only a pending Kaspi order is)"
                ),
            )
                .into_response()
                .into())
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
    let op = operator(&s, &headers).await?;
    let report = crate::admin::provider_report(&s.db)
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
