//! The overview: revenue, jobs, failures, spend and margin, queue and waits, active users.
use super::{internal, when, Page};
use crate::console::charts::{stacked_bars, Bar};
use crate::console::{layout, operator, Console, Reply};
use crate::db::{console as q, now_ms};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use maud::html;
use serde::Deserialize;
use std::collections::BTreeMap;

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
    let op = operator(&s, &headers).await?;
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
    let (methods, revenue_bars, revenue_total) = revenue(&s, since, now).await?;
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
    let mut failures: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (class, provider) in q::failures(&s.db, since).await.map_err(internal)? {
        *failures.entry((class, provider)).or_default() += 1;
    }
    let Spend {
        income,
        spent,
        by_entry,
    } = spend(&s, since).await?;
    let (depth, oldest_wait_ms) = crate::db::jobs::queue_depth(&s.db)
        .await
        .map_err(internal)?;
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
        @if jobs.is_empty() && revenue_total == 0.0 {
            p class="flash" id="first-use" { "Nothing here yet: users order in the bot (send it /start) or through the API (a key from /api in the bot). Payments appear once Stripe (STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET) or Kaspi (KASPI_PHONE) is set up — see the README." }
        }
        div class="cards" {
            div class="card" { "Revenue" b id="revenue" { (crate::console::money::tenge(revenue_total, crate::console::money::Lang::En)) } }
            div class="card" { "Jobs" b { a href="/console/jobs" id="jobs-all" { (jobs.iter().map(|(_, _, n)| n).sum::<i64>()) } }
                span class="muted" { a href="/console/jobs?state=done" id="jobs-done" { (count("done")) " done" } ", "
                                     a href="/console/jobs?state=failed" id="jobs-failed" { (count("failed")) " failed" } } }
            div class="card" { "Provider spend" b id="spend" { (crate::console::money::tenge(spent, crate::console::money::Lang::En)) } span class="muted" { "margin " (margin) "; a provider's video at its tier's cost, the offline backend's at none" } }
            div class="card" { "Queue" b { a href="/console/jobs?state=queued" { (depth) } } span class="muted" { "oldest waits " (oldest_wait_ms / 1000) " s" } }
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
        h2 { "Talking-head tiers" }
        (tiers_table(&s.prices))
        h2 { "Orders served by each provider" }
        @if by_entry.is_empty() { p class="muted" { "no finished jobs in this period" } } @else {
            table id="by-entry" { tr { th { "chain entry" } th { "orders" } th { "₸ in" } th { "₸ spent" } th { "margin" } }
                @for (entry, (n, inc, sp)) in &by_entry {
                    tr { td { (entry) } td { (n) } td { (inc) } td { (format!("{sp:.0}")) }
                         td { @if *inc > 0 { (format!("{:.0} %", (*inc as f64 - sp) * 100.0 / *inc as f64)) } @else { "—" } } }
                }
            }
        }
    };
    Ok(layout("Overview", Some(&op), content).into_response())
}

/// Each talking-head tier: its model, its price and cost a second, its margin.
fn tiers_table(prices: &crate::pricing::PriceTable) -> maud::Markup {
    html! {
        table id="tiers" { tr { th { "tier" } th { "model" } th { "₸ per second" } th { "cost per second" } th { "margin" } }
            @for t in prices.head_tiers() {
                @let cost = t.cost_usd_per_second * prices.kzt_per_usd;
                tr { td { (t.name) } td { (t.entry) } td { (t.tokens_per_second) } td { (format!("{cost:.1} ₸")) }
                     td { @if t.tokens_per_second > 0 { (format!("{:.0} %", (t.tokens_per_second as f64 - cost) * 100.0 / t.tokens_per_second as f64)) } @else { "—" } } }
            }
        }
    }
}

/// Revenue per day by payment method (₸): the methods, one bar per day, the total.
async fn revenue(s: &Console, since: i64, now: i64) -> Result<([String; 2], Vec<Bar>, f64), Reply> {
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
    Ok((methods, revenue_bars, revenue_total))
}

/// What the period's finished jobs brought and cost at the providers.
struct Spend {
    income: i64,
    spent: f64,
    /// Per chain entry: orders served, tokens in, ₸ spent.
    by_entry: BTreeMap<String, (i64, i64, f64)>,
}

/// Spend and margin from the finished jobs' checkpoints (the pricing table's costs).
async fn spend(s: &Console, since: i64) -> Result<Spend, Reply> {
    let done = crate::db::jobs::done_since(&s.db, since)
        .await
        .map_err(internal)?;
    let income: i64 = done.iter().map(|(price, _)| price).sum();
    // The steps with fallback chains record what they cost; video generations are priced
    // from their parameters (the tier's cost in the pricing table).
    let specs = crate::db::jobs::done_specs_since(&s.db, since)
        .await
        .map_err(internal)?;
    // A video the offline backend made cost nothing; one a provider made costs its tier's
    // price-table cost (the checkpoints say which made it).
    let estimated: f64 = specs
        .iter()
        .filter(|(spec, c)| {
            !spec.kind().composes()
                && spec.kind() != crate::jobs::JobKind::CharacterEdit
                && c.video_by.as_deref() != Some("local")
        })
        .map(|(spec, _)| crate::admin::job_cost_kzt(&s.prices, spec))
        .sum();
    let spent: f64 = done
        .iter()
        .map(|(_, c)| c.spent_kzt.unwrap_or(0.0))
        .sum::<f64>()
        + estimated;
    let by_entry = crate::admin::orders_by_entry(&done);
    Ok(Spend {
        income,
        spent,
        by_entry,
    })
}
