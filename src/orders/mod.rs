//! The ordering service: the one way a job is made. The bot, the HTTP API, the console and
//! the operator's tools all go through the same three calls, and nothing else writes a job:
//!
//! 1. [`validate`] — every field checked against what the pipeline will accept ([`rules`]) and
//!    every stored file named by the spec checked against the caller (their own upload of the
//!    right type, or a gallery photo) → a [`Valid`] spec, the only thing the other two take;
//! 2. [`quote`] — the one price function, from the pricing table ([`price`]);
//! 3. [`submit`] — the one transaction: job + debit + event (+ idempotency claim).
//!
//! A spec refused here costs nothing and calls no provider; the error names the field.
pub mod campaign;
pub mod files;
pub mod price;
pub mod rules;
pub mod schema;

pub use price::{quote, settle_speech, Quote, Settlement, SPEECH_CHARS_PER_SECOND};
pub use rules::{MAX_DESCRIPTION_CHARS, MAX_PROMPT_CHARS, MAX_SCRIPT_CHARS};

use crate::db::jobs::{self as queue, NewJob, QueueError};
use crate::db::{Db, DbError};
use crate::jobs::{Checkpoints, FileRole, JobSpec};
use crate::pricing::PriceTable;

/// A field the pipeline cannot use: which one and why (a 422 problem on the API, a plain
/// message in the bot).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

/// A spec that passed [`validate`]. Only this module makes one, so a job can only be priced and
/// submitted after its fields and files were checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Valid {
    spec: JobSpec,
}

impl Valid {
    pub fn spec(&self) -> &JobSpec {
        &self.spec
    }
}

/// Who orders, which decides what stored files a spec may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A spec written by an API client: its files must be the caller's own uploads of the
    /// right type (or gallery photos).
    Api,
    /// A spec the service built itself from a dialogue or an earlier job (the bot, the
    /// console, the operator's tools): its files were stored by the service.
    Service,
}

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Not enough tokens: nothing was taken.
    #[error("the job costs {needed} tokens, the balance is {balance}")]
    InsufficientFunds { needed: i64, balance: i64 },
    /// The `Idempotency-Key` was used before for a different request.
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyMismatch,
    #[error(transparent)]
    Queue(QueueError),
}

impl From<QueueError> for OrderError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Ledger(crate::db::ledger::LedgerError::InsufficientFunds {
                needed,
                balance,
            }) => OrderError::InsufficientFunds { needed, balance },
            QueueError::IdempotencyMismatch => OrderError::IdempotencyMismatch,
            other => OrderError::Queue(other),
        }
    }
}

impl From<crate::db::ledger::LedgerError> for OrderError {
    fn from(e: crate::db::ledger::LedgerError) -> Self {
        QueueError::Ledger(e).into()
    }
}

impl From<DbError> for OrderError {
    fn from(e: DbError) -> Self {
        OrderError::Queue(QueueError::Db(e))
    }
}

/// The fields alone (no files): what the bot's dialogues and the admin tools check.
pub fn check(spec: JobSpec, prices: &PriceTable) -> Result<Valid, Invalid> {
    rules::check(&spec, prices)?;
    Ok(Valid { spec })
}

/// Every field, and every stored file the spec names, for `user` ordering from `origin`.
pub async fn validate(
    db: &Db,
    prices: &PriceTable,
    user: i64,
    origin: Origin,
    spec: JobSpec,
) -> Result<Valid, OrderError> {
    rules::check(&spec, prices)?;
    if origin == Origin::Api {
        for (role, field, key) in spec.files() {
            check_file(db, user, role, field, key).await?;
        }
        if let JobSpec::UgcVideo(p) = &spec {
            if let Some(logo) = p.brand.as_ref().and_then(|b| b.logo.as_deref()) {
                // A logo is one of the caller's uploads (not a gallery portrait), ≤ 2 MB.
                let bytes = crate::db::api::upload_bytes(db, user, logo).await?;
                if bytes.is_none_or(|b| b > rules::MAX_LOGO_BYTES) {
                    return Err(Invalid {
                        field: "logo",
                        message: "a logo is a photo upload of yours of at most 2 MB".into(),
                    }
                    .into());
                }
            }
        }
    }
    Ok(Valid { spec })
}

async fn check_file(
    db: &Db,
    user: i64,
    role: FileRole,
    field: &'static str,
    key: &str,
) -> Result<(), OrderError> {
    // A gallery portrait: only a live character's (not a removed one, not any stored object).
    if role == FileRole::Photo && crate::db::characters::is_live_portrait(db, key).await? {
        return Ok(());
    }
    match crate::db::api::upload_type(db, user, key).await? {
        None => Err(Invalid {
            field,
            message: format!("'{key}' is not one of your uploads (POST /v1/uploads first)"),
        }
        .into()),
        // A photo is any image an upload or a product kept (a logo keeps its PNG alpha).
        Some(t) if role == FileRole::Photo && t.starts_with("image/") => Ok(()),
        Some(t) if t != role.content_type() => Err(Invalid {
            field,
            message: format!(
                "'{key}' is {t}; this field takes {} (a {})",
                role.content_type(),
                match role {
                    FileRole::Photo => "photo",
                    FileRole::Clip => "video clip",
                }
            ),
        }
        .into()),
        Some(_) => Ok(()),
    }
}

/// A checked and priced job, ready for [`submit`].
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub valid: Valid,
    pub quote: Quote,
    /// Attempts the job gets.
    pub max_attempts: i64,
}

impl Order {
    /// `spec` checked ([`check`]) and priced ([`quote`]; `measured_speech`: the previewed
    /// speech's length, when there is one).
    pub fn priced(
        prices: &PriceTable,
        spec: JobSpec,
        measured_speech: Option<f64>,
        max_attempts: i64,
    ) -> Result<Self, Invalid> {
        let valid = check(spec, prices)?;
        let quote = quote(prices, &valid, measured_speech)?;
        Ok(Self {
            valid,
            quote,
            max_attempts,
        })
    }

    /// An operator's job that costs the user nothing (a console retry, a queue benchmark).
    pub fn free(prices: &PriceTable, spec: JobSpec, max_attempts: i64) -> Result<Self, Invalid> {
        Ok(Self {
            valid: check(spec, prices)?,
            quote: Quote::free(),
            max_attempts,
        })
    }
}

/// The outcome of [`submit`]: the job and whether this call made it (an idempotent repeat
/// returns the first job).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted {
    pub id: i64,
    pub made: bool,
}

pub use crate::db::jobs::Channel;

/// The one transaction that makes a job: recorded, debited `order.quote.tokens` and queued
/// together (a refused balance records a `rejected` job and takes nothing). `carried`: step
/// results from an earlier job or a preview (speech, talking head); `channel`: the API (its
/// webhook events, an idempotency key), the service, or the service once per key.
pub async fn submit(
    db: &Db,
    user: i64,
    order: Order,
    carried: Option<&Checkpoints>,
    channel: Channel<'_>,
) -> Result<Submitted, OrderError> {
    // A language version joins its group's album as its job is made.
    let version = match &order.valid.spec {
        JobSpec::UgcVideo(p) => p.versions.clone(),
        _ => None,
    };
    let job = NewJob {
        user_id: user,
        spec: order.valid.spec,
        cost_tokens: order.quote.tokens,
        max_attempts: order.max_attempts.max(1),
    };
    let mut checkpoints = carried.cloned().unwrap_or_default();
    if order.quote.estimated {
        // Settled on the measured speech before the talking head is bought.
        checkpoints.quoted_speech_seconds = order.quote.speech_seconds;
    }
    let (id, made) = queue::submit_with(db, job, &checkpoints, channel).await?;
    if let Some(v) = version {
        // The job is made and paid: a failed link only sends it by itself, never fails the
        // order (which would invite a second, paid one).
        if let Err(e) = crate::db::versions::link(db, &v.group, user, i64::from(v.of), id, id).await
        {
            tracing::error!(job_id = id, error = %e, "a language version was not linked to its album");
        }
    }
    Ok(Submitted { id, made })
}

/// What [`submit_all`] made: the jobs made, and why the rest were not (a balance spent by
/// another order between the check and a submit).
#[derive(Debug)]
pub struct SubmittedAll {
    pub ids: Vec<i64>,
    pub refused: Option<OrderError>,
}

/// Submits `orders` together: when the balance cannot cover them all, none is made and
/// nothing taken. Each is its own transaction, so a balance spent meanwhile by another order
/// can stop the rest: the jobs already made are returned with the reason. `carried[i]` (a
/// previewed speech) goes to order `i`: one without (a variant with a script of its own)
/// makes its own.
pub async fn submit_all(
    db: &Db,
    user: i64,
    orders: Vec<Order>,
    carried: Vec<Option<Checkpoints>>,
) -> Result<SubmittedAll, OrderError> {
    let needed: i64 = orders.iter().map(|o| o.quote.tokens).sum();
    let balance = crate::db::ledger::balance_of(db, user).await?;
    if balance < needed {
        return Err(OrderError::InsufficientFunds { needed, balance });
    }
    let mut ids = Vec::new();
    for (i, o) in orders.into_iter().enumerate() {
        let carried = carried.get(i).and_then(|c| c.as_ref());
        match submit(db, user, o, carried, Channel::Service).await {
            Ok(made) => ids.push(made.id),
            Err(e) if !ids.is_empty() => {
                return Ok(SubmittedAll {
                    ids,
                    refused: Some(e),
                })
            }
            Err(e) => return Err(e),
        }
    }
    Ok(SubmittedAll { ids, refused: None })
}

#[cfg(test)]
mod tests {
    /// Every `.rs` file below `src/<dir>` with its path from `src/` and its text.
    fn sources(dir: &str) -> Vec<(String, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        let mut stack = vec![root.join(dir)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let rel = path
                        .strip_prefix(&root)
                        .unwrap()
                        .to_string_lossy()
                        .to_string();
                    files.push((rel, std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
        files
    }

    /// Only the ordering service (and the queue's own tests and tools) writes a job: no other
    /// file of the service calls the queue's submit functions or builds a `NewJob`.
    #[test]
    fn only_the_ordering_service_makes_jobs() {
        let mut offenders = Vec::new();
        for (rel, text) in sources("") {
            if rel.starts_with("orders") || rel.starts_with("db/jobs") {
                continue;
            }
            for needle in [
                "submit_with(",
                "submit_carrying(",
                "submit_api(",
                "NewJob {",
                "queue::submit(",
            ] {
                if text.contains(needle) {
                    offenders.push(format!("{rel}: {needle}"));
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "jobs made outside orders/: {offenders:?}"
        );
    }

    /// The surfaces stand side by side on the service: bot/, api/ and console/ do not reach
    /// into each other (shared helpers live in orders/, db/ or dates.rs).
    #[test]
    fn the_surfaces_do_not_import_each_other() {
        let surfaces = ["bot", "api", "console"];
        let mut offenders = Vec::new();
        for surface in surfaces {
            for (rel, text) in sources(surface) {
                for other in surfaces.iter().filter(|o| **o != surface) {
                    if text.contains(&format!("crate::{other}::")) {
                        offenders.push(format!("{rel}: crate::{other}"));
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "{offenders:?}");
    }
}
