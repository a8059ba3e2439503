//! What admins do, as plain functions over the database, shared by the bot's admin commands
//! and `reelforge admin …`: find users, top up, ban, refund a job, and the numbers for
//! `/stats` (users, jobs by state, revenue, provider spend, videos per hour).
use crate::db::ledger::{self, LedgerError, Reason};
use crate::db::users::{get_user, User};
use crate::db::{now_ms, Db, DbError};
use crate::jobs::JobSpec;
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
    Queue(#[from] crate::db::jobs::QueueError),
}

impl From<sqlx::Error> for AdminError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(DbError::Sql(e))
    }
}

/// A translator: a locale key and its arguments → the text (the bot passes the admin's
/// language; the command line reads English).
pub type Tr<'a> = &'a (dyn Fn(&str, &[(&str, &(dyn std::fmt::Display + Sync))]) -> String + Sync);

/// The English texts of the locale files (the command line's language).
pub fn english(key: &str, args: &[(&str, &(dyn std::fmt::Display + Sync))]) -> String {
    static TEXTS: std::sync::LazyLock<crate::bot::texts::Texts> =
        std::sync::LazyLock::new(crate::bot::texts::Texts::bundled);
    TEXTS.get(crate::bot::texts::Lang::En, key, args)
}

impl AdminError {
    /// The error in the reader's language (the database's own errors stay as they are).
    pub fn message_in(&self, t: Tr<'_>) -> String {
        match self {
            AdminError::NoSuchUser(who) => t("adm.no_user", &[("who", who)]),
            AdminError::NoSuchJob(id) => t("adm.no_job", &[("id", id)]),
            AdminError::NothingToRefund(id) => t("adm.nothing_to_refund", &[("id", id)]),
            other => other.to_string(),
        }
    }
}

/// `@username` or a numeric Telegram id.
pub async fn find_user(db: &Db, who: &str) -> Result<User, AdminError> {
    let who = who.trim();
    let id = match who.strip_prefix('@') {
        Some(name) => crate::db::users::id_by_username(db, name).await?,
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
    if !crate::db::users::set_banned(db, user, banned).await? {
        return Err(AdminError::NoSuchUser(user.to_string()));
    }
    Ok(())
}

/// Gives a job's tokens back (once: the refund key is the job's). Returns the user and the
/// amount, or `None` when the job was already refunded.
pub async fn refund_job(db: &Db, job: i64) -> Result<Option<(i64, i64)>, AdminError> {
    let row = crate::db::jobs::job(db, job)
        .await?
        .ok_or(AdminError::NoSuchJob(job))?;
    // Only tokens that were taken can be given back: a rejected job was never debited.
    if row.cost_tokens <= 0 || !ledger::has_entry(db, &ledger::debit_key(job)).await? {
        return Err(AdminError::NothingToRefund(job));
    }
    // What is still taken, read and given back in one transaction holding the job.
    Ok(crate::db::jobs::refund_taken(db, job, Reason::AdminRefund).await?)
}

/// The most recently seen users.
pub async fn recent_users(db: &Db, limit: i64) -> Result<(i64, Vec<User>), AdminError> {
    let total = crate::db::users::count_since(db, 0).await?;
    let users = crate::db::users::recently_seen(db, limit).await?;
    Ok((total, users))
}

/// One user's card: the user, job counts by state and tokens paid in.
pub async fn user_card(db: &Db, who: &str) -> Result<String, AdminError> {
    user_card_in(db, who, &english).await
}

pub async fn user_card_in(db: &Db, who: &str, t: Tr<'_>) -> Result<String, AdminError> {
    let u = find_user(db, who).await?;
    let jobs = crate::db::jobs::counts_by_state_of_user(db, u.id).await?;
    let paid = crate::db::orders::paid_total_minor(db, Some(u.id)).await?;
    let jobs = if jobs.is_empty() {
        t("adm.none", &[])
    } else {
        jobs.iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let banned = if u.banned {
        t("adm.banned_mark", &[])
    } else {
        String::new()
    };
    Ok(t(
        "adm.user_card",
        &[
            ("id", &u.id),
            ("name", &u.username.as_deref().unwrap_or("-")),
            ("lang", &u.language),
            ("balance", &u.balance),
            ("banned", &banned),
            ("jobs", &jobs),
            ("paid", &(paid / 100)),
        ],
    ))
}

/// One job for the operator: state, price, which provider made each step (and a stand-in
/// voice), what the providers cost, the error, the spec.
pub async fn job_card(db: &Db, id: i64) -> Result<String, AdminError> {
    job_card_in(db, id, &english).await
}

pub async fn job_card_in(db: &Db, id: i64, t: Tr<'_>) -> Result<String, AdminError> {
    let j = crate::db::jobs::job(db, id)
        .await?
        .ok_or(AdminError::NoSuchJob(id))?;
    let c = &j.checkpoints;
    let kind = j.kind.map_or("unknown", |k| k.name());
    let mut lines = vec![t(
        "adm.job_head",
        &[
            ("id", &j.id),
            ("kind", &kind),
            ("state", &j.state.name()),
            ("attempts", &j.attempts),
            ("price", &j.cost_tokens),
            ("user", &j.user_id),
        ],
    )];
    for (step, by) in [
        ("speech", &c.speech_by),
        ("talking_head", &c.talking_head_by),
        ("image_edit", &c.edit_by),
    ] {
        if let Some(by) = by {
            let step = t(&format!("adm.step.{step}"), &[]);
            lines.push(t("adm.job_step", &[("step", &step), ("by", by)]));
        }
    }
    if let Some(voice) = &c.voice_note {
        lines.push(t("adm.job_voice", &[("voice", voice)]));
    }
    if let Some(spent) = c.spent_kzt {
        lines.push(t("adm.job_cost", &[("cost", &format!("{spent:.1}"))]));
    }
    if let Some(class) = j.error_class {
        let message = j.error_message.as_deref().unwrap_or("");
        lines.push(t(
            "adm.job_error",
            &[("class", &class.name()), ("message", &message)],
        ));
    }
    if let Some(spec) = &j.spec {
        let spec = serde_json::to_string(spec).unwrap_or_default();
        lines.push(t("adm.job_spec", &[("spec", &spec)]));
    }
    Ok(lines.join("\n"))
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
    /// The orders each chain entry served in the last 24 h: entry → (orders, ₸ in, ₸ spent
    /// on the whole order).
    pub by_entry: std::collections::BTreeMap<String, (i64, i64, f64)>,
}

pub async fn stats(db: &Db, prices: &PriceTable) -> Result<Stats, AdminError> {
    let now = now_ms();
    let day_ago = now - 24 * 3600 * 1000;
    let users = crate::db::users::count_since(db, 0).await?;
    let users_today = crate::db::users::count_since(db, day_ago).await?;
    let jobs_by_state = crate::db::jobs::counts_by_state(db).await?;
    let revenue = crate::db::orders::paid_total_minor(db, None).await?;
    let provider_spend_kzt = crate::db::jobs::done_specs(db)
        .await?
        .iter()
        .map(|spec| job_cost_kzt(prices, spec))
        .sum();
    let videos_last_hour = crate::db::generations::count_since(db, now - 3600 * 1000).await?;
    let videos_day = crate::db::generations::count_since(db, day_ago).await?;
    let by_entry = orders_by_entry(&crate::db::jobs::done_since(db, day_ago).await?);
    Ok(Stats {
        by_entry,
        users,
        users_today,
        jobs_by_state,
        revenue_kzt: revenue / 100,
        provider_spend_kzt,
        videos_last_hour,
        videos_per_hour_24h: videos_day as f64 / 24.0,
    })
}

/// Per chain entry (`provider:model`): the finished orders it served, the tokens they
/// brought and the ₸ they cost (for `/stats` and the console's overview).
pub fn orders_by_entry(
    done: &[(i64, crate::jobs::Checkpoints)],
) -> std::collections::BTreeMap<String, (i64, i64, f64)> {
    let mut by_entry = std::collections::BTreeMap::new();
    for (price, c) in done {
        for entry in [&c.video_by, &c.speech_by, &c.talking_head_by, &c.edit_by]
            .into_iter()
            .flatten()
        {
            let e: &mut (i64, i64, f64) = by_entry.entry(entry.clone()).or_default();
            e.0 += 1;
            e.1 += price;
            e.2 += c.spent_kzt.unwrap_or(0.0);
        }
    }
    by_entry
}

/// What a finished job cost at the providers, from its parameters and the pricing table.
pub fn job_cost_kzt(prices: &PriceTable, spec: &JobSpec) -> f64 {
    let video = |tier: &str, size: &str, seconds: u32| {
        let res = crate::pricing::resolution_of(size);
        prices
            .video
            .iter()
            .find(|r| r.tier == tier && r.resolution == res)
            .map(|r| r.cost_usd_per_second * f64::from(seconds))
            .unwrap_or(0.0)
    };
    let usd = match spec {
        JobSpec::TextToVideo(p) | JobSpec::ImageToVideo(p) => video(&p.tier, &p.size, p.seconds),
        JobSpec::ProductVideo(p) => video(&p.tier, &p.size, p.seconds),
        JobSpec::UgcVideo(p) => {
            // The same speech length the ordering service quotes a script at.
            let secs = crate::orders::price::estimated_speech_seconds(&p.script);
            prices.talking_head.cost_usd_per_second * secs + prices.compose.cost_usd
        }
        JobSpec::Recompose(_) => prices.compose.cost_usd,
        JobSpec::CharacterEdit(_) => prices.image_edit.cost_usd,
    };
    usd * prices.kzt_per_usd
}

impl Stats {
    pub fn render(&self) -> String {
        self.render_in(&english)
    }

    pub fn render_in(&self, t: Tr<'_>) -> String {
        let jobs = self
            .jobs_by_state
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let jobs = if jobs.is_empty() {
            t("adm.none", &[])
        } else {
            jobs
        };
        let mut out = t(
            "adm.stats",
            &[
                ("users", &self.users),
                ("today", &self.users_today),
                ("jobs", &jobs),
                ("revenue", &self.revenue_kzt),
                ("spend", &format!("{:.0}", self.provider_spend_kzt)),
                ("hour", &self.videos_last_hour),
                ("rate", &format!("{:.1}", self.videos_per_hour_24h)),
            ],
        );
        // Per chain entry: the orders it served in 24 h, what they brought and cost, the margin.
        if !self.by_entry.is_empty() {
            out.push('\n');
            out.push_str(&t("adm.by_provider", &[]));
        }
        for (entry, (orders, income, spent)) in &self.by_entry {
            let margin = if *income > 0 {
                format!("{:.0} %", (*income as f64 - spent) * 100.0 / *income as f64)
            } else {
                "—".into()
            };
            out.push('\n');
            out.push_str(&t(
                "adm.entry_line",
                &[
                    ("entry", entry),
                    ("orders", orders),
                    ("income", income),
                    ("spent", &format!("{spent:.0}")),
                    ("margin", &margin),
                ],
            ));
        }
        out
    }
}

/// One line per entry for the operator: calls and success rate in the last hour, breaker.
pub async fn provider_report(db: &Db) -> Result<Vec<String>, DbError> {
    provider_report_in(db, &english).await
}

pub async fn provider_report_in(db: &Db, t: Tr<'_>) -> Result<Vec<String>, DbError> {
    let now = crate::db::now_ms();
    let counts = crate::db::providers::success_counts(db, now - 3_600_000).await?;
    let breakers = crate::db::providers::breakers(db).await?;
    let mut entries: Vec<String> = counts.iter().map(|(e, _, _)| e.clone()).collect();
    entries.extend(breakers.iter().map(|b| b.entry.clone()));
    entries.sort();
    entries.dedup();
    Ok(entries
        .iter()
        .map(|entry| {
            let (calls, ok) = counts
                .iter()
                .find(|(e, _, _)| e == entry)
                .map_or((0, 0), |(_, c, o)| (*c, *o));
            let state = match breakers.iter().find(|b| &b.entry == entry) {
                Some(b) => match b.opened_until_ms {
                    Some(until) if until > now => {
                        t("adm.breaker_open", &[("s", &((until - now + 999) / 1000))])
                    }
                    Some(_) => t("adm.breaker_half", &[]),
                    None if b.failures > 0 => t("adm.breaker_failing", &[("n", &b.failures)]),
                    None => t("adm.breaker_closed", &[]),
                },
                None => t("adm.breaker_closed", &[]),
            };
            let rate = if calls > 0 {
                format!("{:.0} %", ok as f64 * 100.0 / calls as f64)
            } else {
                "—".to_string()
            };
            t(
                "adm.provider_line",
                &[
                    ("entry", entry),
                    ("calls", &calls),
                    ("rate", &rate),
                    ("state", &state),
                ],
            )
        })
        .collect())
}
