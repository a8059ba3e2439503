//! What admins do, as plain functions over the database, shared by the bot's admin commands
//! and `reelforge admin …`: find users, top up, ban, refund a job, and the numbers for
//! `/stats` (users, jobs by state, revenue, provider spend, videos per hour).
use crate::db::users::{get_user, User};
use crate::db::{now_ms, Db, DbError};
use crate::ledger::{self, LedgerError, Reason};
use crate::on_db;
use crate::pricing::PriceTable;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no user '{0}' (use a Telegram id or an @username the bot has seen)")]
    NoSuchUser(String),
    #[error("no job #{0}")]
    NoSuchJob(i64),
    #[error("job #{0} has no tokens to refund")]
    NothingToRefund(i64),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
}

impl From<sqlx::Error> for AdminError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(DbError::Sql(e))
    }
}

/// `@username` or a numeric Telegram id.
pub async fn find_user(db: &Db, who: &str) -> Result<User, AdminError> {
    let who = who.trim();
    let id = match who.strip_prefix('@') {
        Some(name) => {
            let id: Option<i64> = on_db!(db, p => sqlx::query_scalar("SELECT id FROM users WHERE lower(username) = lower($1)")
                .bind(name)
                .fetch_optional(p)
                .await?);
            id
        }
        None => who.parse::<i64>().ok(),
    };
    match id {
        Some(id) => get_user(db, id)
            .await?
            .ok_or_else(|| AdminError::NoSuchUser(who.to_string())),
        None => Err(AdminError::NoSuchUser(who.to_string())),
    }
}

/// Credits `amount` tokens; `key` makes a repeated command (a redelivered update) a no-op.
/// Returns the balance after, or `None` when this key was already applied.
pub async fn topup(db: &Db, user: i64, amount: i64, key: &str) -> Result<Option<i64>, AdminError> {
    match ledger::credit(db, user, amount, Reason::AdminTopup, key, None).await? {
        ledger::Outcome::Applied { balance } => Ok(Some(balance)),
        ledger::Outcome::AlreadyApplied => Ok(None),
    }
}

pub async fn set_banned(db: &Db, user: i64, banned: bool) -> Result<(), AdminError> {
    let changed = on_db!(db, p => sqlx::query("UPDATE users SET banned = $2, ban_notified = FALSE WHERE id = $1")
        .bind(user)
        .bind(banned)
        .execute(p)
        .await?
        .rows_affected());
    if changed == 0 {
        return Err(AdminError::NoSuchUser(user.to_string()));
    }
    Ok(())
}

/// Gives a job's tokens back (once: the refund key is the job's). Returns the user and the
/// amount, or `None` when the job was already refunded.
pub async fn refund_job(db: &Db, job: i64) -> Result<Option<(i64, i64)>, AdminError> {
    let row: Option<(i64, i64)> = on_db!(db, p => sqlx::query_as("SELECT user_id, cost_tokens FROM jobs WHERE id = $1")
        .bind(job)
        .fetch_optional(p)
        .await?);
    let (user, cost) = row.ok_or(AdminError::NoSuchJob(job))?;
    if cost <= 0 {
        return Err(AdminError::NothingToRefund(job));
    }
    match ledger::credit(
        db,
        user,
        cost,
        Reason::AdminRefund,
        &ledger::refund_key(job),
        Some(job),
    )
    .await?
    {
        ledger::Outcome::Applied { .. } => Ok(Some((user, cost))),
        ledger::Outcome::AlreadyApplied => Ok(None),
    }
}

/// The most recently seen users.
pub async fn recent_users(db: &Db, limit: i64) -> Result<(i64, Vec<User>), AdminError> {
    let total: i64 = on_db!(db, p => sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM users").fetch_one(p).await?);
    let users = on_db!(db, p => sqlx::query_as::<_, User>(
        "SELECT id, username, language, first_seen_ms, last_seen_ms, banned, referrer_id, balance FROM users ORDER BY last_seen_ms DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(p)
    .await?);
    Ok((total, users))
}

/// One user's card: the user, job counts by state and tokens paid in.
pub async fn user_card(db: &Db, who: &str) -> Result<String, AdminError> {
    let u = find_user(db, who).await?;
    let jobs: Vec<(String, i64)> = on_db!(db, p => sqlx::query_as("SELECT state, CAST(COUNT(*) AS BIGINT) FROM jobs WHERE user_id = $1 GROUP BY state ORDER BY state")
        .bind(u.id)
        .fetch_all(p)
        .await?);
    let paid: Option<i64> = on_db!(db, p => sqlx::query_scalar("SELECT CAST(SUM(amount_minor) AS BIGINT) FROM orders WHERE user_id = $1 AND status = 'paid'")
        .bind(u.id)
        .fetch_one(p)
        .await?);
    let jobs = if jobs.is_empty() {
        "none".to_string()
    } else {
        jobs.iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(format!(
        "user {} (@{}), language {}, balance {}{}\njobs: {jobs}\npaid: {} ₸",
        u.id,
        u.username.as_deref().unwrap_or("-"),
        u.language,
        u.balance,
        if u.banned { ", BANNED" } else { "" },
        paid.unwrap_or(0) / 100
    ))
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub users: i64,
    pub users_today: i64,
    pub jobs_by_state: Vec<(String, i64)>,
    /// Paid orders, in tenge.
    pub revenue_kzt: i64,
    /// Provider cost of the finished jobs, in tenge, from the pricing table.
    pub provider_spend_kzt: f64,
    pub videos_last_hour: i64,
    pub videos_per_hour_24h: f64,
}

pub async fn stats(db: &Db, prices: &PriceTable) -> Result<Stats, AdminError> {
    let now = now_ms();
    let day_ago = now - 24 * 3600 * 1000;
    let users: i64 = on_db!(db, p => sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM users").fetch_one(p).await?);
    let users_today: i64 = on_db!(db, p => sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM users WHERE first_seen_ms >= $1").bind(day_ago).fetch_one(p).await?);
    let jobs_by_state = crate::queue::counts_by_state(db).await?;
    let revenue: Option<i64> = on_db!(db, p => sqlx::query_scalar("SELECT CAST(SUM(amount_minor) AS BIGINT) FROM orders WHERE status = 'paid'").fetch_one(p).await?);
    let done: Vec<(String, String)> = on_db!(db, p => sqlx::query_as("SELECT kind, params FROM jobs WHERE state = 'done'").fetch_all(p).await?);
    let provider_spend_kzt = done
        .iter()
        .map(|(kind, params)| job_cost_kzt(prices, kind, params))
        .sum();
    let videos_last_hour: i64 = on_db!(db, p => sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM generations WHERE created_ms >= $1").bind(now - 3600 * 1000).fetch_one(p).await?);
    let videos_day: i64 = on_db!(db, p => sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM generations WHERE created_ms >= $1").bind(day_ago).fetch_one(p).await?);
    Ok(Stats {
        users,
        users_today,
        jobs_by_state,
        revenue_kzt: revenue.unwrap_or(0) / 100,
        provider_spend_kzt,
        videos_last_hour,
        videos_per_hour_24h: videos_day as f64 / 24.0,
    })
}

/// What a finished job cost at the providers, from its parameters and the pricing table.
fn job_cost_kzt(prices: &PriceTable, kind: &str, params: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(params).unwrap_or_default();
    let usd = match kind {
        "text_to_video" | "image_to_video" | "product_video" => {
            let tier = v["tier"].as_str().unwrap_or("fast");
            let res = crate::pricing::resolution_of(v["size"].as_str().unwrap_or("720x1280"));
            let secs = v["seconds"].as_f64().unwrap_or(8.0);
            prices
                .video
                .iter()
                .find(|r| r.tier == tier && r.resolution == res)
                .map(|r| r.cost_usd_per_second * secs)
                .unwrap_or(0.0)
        }
        "ugc_video" => {
            let words = v["script"]
                .as_str()
                .unwrap_or("")
                .split_whitespace()
                .count();
            let secs = (words as f64 / 2.5).max(3.0);
            prices.talking_head.cost_usd_per_second * secs + prices.compose.cost_usd
        }
        "recompose" => prices.compose.cost_usd,
        "character_edit" => prices.image_edit.cost_usd,
        _ => 0.0,
    };
    usd * prices.kzt_per_usd
}

impl Stats {
    pub fn render(&self) -> String {
        let jobs = self
            .jobs_by_state
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "users: {} (+{} in 24 h)\njobs: {}\nrevenue: {} ₸\nprovider spend: {:.0} ₸\nvideos: {} in the last hour, {:.1}/h over 24 h",
            self.users,
            self.users_today,
            if jobs.is_empty() { "none".into() } else { jobs },
            self.revenue_kzt,
            self.provider_spend_kzt,
            self.videos_last_hour,
            self.videos_per_hour_24h
        )
    }
}
