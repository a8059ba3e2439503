//! Accepting a job: recorded, debited and queued in one transaction, with the API's
//! idempotency keys (the ordering service's `submit` calls [`submit_with`]).
use super::{record_event, NewJob, QueueError};
use crate::db::ledger::{self, LedgerError, Reason, Step};
use crate::db::{now_ms, Db};
use crate::jobs::Checkpoints;

/// Accepts a job: records it, takes its tokens (key `job:{id}:debit`), then queues it. When
/// the balance is too low the job is marked `rejected` and the error returned; nothing is taken.
pub async fn submit(db: &Db, job: NewJob) -> Result<i64, QueueError> {
    submit_carrying(db, job, &Checkpoints::default()).await
}

/// Like [`submit`], with step results carried over from an earlier job (a recompose reuses
/// the speech and talking head it already paid for), set before the job can be claimed.
pub async fn submit_carrying(
    db: &Db,
    job: NewJob,
    carried: &Checkpoints,
) -> Result<i64, QueueError> {
    Ok(submit_with(db, job, carried, Channel::Service).await?.0)
}

/// A job ordered through the HTTP API: marked as such (its webhook events), and with an
/// `Idempotency-Key` the first job made under that key is returned instead of a second one
/// (never a second charge). Returns the job and whether this call made it.
pub async fn submit_api(
    db: &Db,
    job: NewJob,
    idempotency_key: Option<&str>,
) -> Result<(i64, bool), QueueError> {
    submit_with(
        db,
        job,
        &Checkpoints::default(),
        Channel::Api(idempotency_key),
    )
    .await
}

/// How long an `Idempotency-Key` is remembered (24 h).
const IDEMPOTENCY_KEY_MS: i64 = 24 * 3_600_000;

/// How a job came: it decides its webhook events and whether a key makes a repeat return the
/// first job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel<'a> {
    /// The bot or the operator's tools.
    Service,
    /// The HTTP API (its webhook events); with an `Idempotency-Key`, a repeat returns the first.
    Api(Option<&'a str>),
    /// The service, at most once per key (an operator's retry of a job).
    Once(&'a str),
}

/// Records, debits and queues a job in one transaction (the ordering service's `submit`;
/// the other `submit*` are shorthands for tests and tools). `api`: `None` for the bot and
/// admin tools; `Some(key)` for the API.
pub async fn submit_with(
    db: &Db,
    job: NewJob,
    carried: &Checkpoints,
    channel: Channel<'_>,
) -> Result<(i64, bool), QueueError> {
    let now = now_ms();
    let (via_api, idem) = match channel {
        Channel::Service => (false, None),
        Channel::Api(key) => (true, key),
        Channel::Once(key) => (false, Some(key)),
    };
    let params = job.spec.params_json();
    let kind = job.spec.kind().name();
    let carried = carried.to_json();
    // What the request asked for, to tell a repeat from another request under the same key.
    let request_sha = crate::storage::sha256_hex(format!("{kind}\n{params}").as_bytes());
    // Record, debit and enqueue in one transaction: a crash can leave no half-made job.
    let outcome: Result<(i64, bool), Step> = on_db!(db, p => {
        let mut tx = p.begin().await?;
        let claimed = match idem {
            // The key is claimed first: a concurrent repeat waits on it, then finds the job. A
            // key older than a day is forgotten (as Stripe's are).
            Some(key) => {
                sqlx::query("DELETE FROM api_requests WHERE user_id = $1 AND idem_key = $2 AND created_ms < $3")
                    .bind(job.user_id).bind(key).bind(now - IDEMPOTENCY_KEY_MS).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO api_requests (user_id, idem_key, job_id, created_ms, body_sha256) VALUES ($1, $2, 0, $3, $4) ON CONFLICT DO NOTHING")
                    .bind(job.user_id).bind(key).bind(now).bind(&request_sha).execute(&mut *tx).await?.rows_affected() == 1
            }
            None => true,
        };
        if !claimed {
            tx.rollback().await?;
            let (first, sha): (i64, Option<String>) = sqlx::query_as("SELECT job_id, body_sha256 FROM api_requests WHERE user_id = $1 AND idem_key = $2")
                .bind(job.user_id).bind(idem.unwrap_or_default()).fetch_one(p).await?;
            if sha.is_some_and(|sha| sha != request_sha) {
                return Err(QueueError::IdempotencyMismatch);
            }
            return Ok((first, false));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO jobs (user_id, kind, params, state, max_attempts, run_at_ms, cost_tokens, created_ms, updated_ms, checkpoints, via_api)
             VALUES ($1, $2, $3, 'queued', $4, $5, $6, $5, $5, $7, $8) RETURNING id",
        )
        .bind(job.user_id)
        .bind(kind)
        .bind(&params)
        .bind(job.max_attempts)
        .bind(now)
        .bind(job.cost_tokens)
        .bind(&carried)
        .bind(via_api)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(key) = idem {
            sqlx::query("UPDATE api_requests SET job_id = $3 WHERE user_id = $1 AND idem_key = $2")
                .bind(job.user_id).bind(key).bind(id).execute(&mut *tx).await?;
        }
        let step = if job.cost_tokens > 0 {
            let key = ledger::debit_key(id);
            ledger_step!(tx, job.user_id, -job.cost_tokens, Reason::JobDebit, &key, Some(id), now)?
        } else {
            Step::Applied(0)
        };
        match step {
            Step::Applied(_) | Step::AlreadyApplied => {
                sqlx::query("INSERT INTO job_events (job_id, state, message, created_ms) VALUES ($1, 'queued', NULL, $2)")
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok((id, true))
            }
            refused => {
                tx.rollback().await?;
                Err(refused)
            }
        }
    });
    match outcome {
        Ok(made) => Ok(made),
        Err(refused) => {
            let error = match refused {
                Step::UnknownUser => LedgerError::UnknownUser(job.user_id),
                _ => LedgerError::InsufficientFunds {
                    needed: job.cost_tokens,
                    balance: ledger::balance_of(db, job.user_id).await?,
                },
            };
            // Kept for the record ("why was my order refused?"); nothing was taken.
            let id: i64 = on_db!(db, p => sqlx::query_scalar(
                "INSERT INTO jobs (user_id, kind, params, state, max_attempts, run_at_ms, cost_tokens, created_ms, updated_ms, finished_ms, checkpoints)
                 VALUES ($1, $2, $3, 'rejected', $4, $5, $6, $5, $5, $5, '{}') RETURNING id",
            )
            .bind(job.user_id)
            .bind(kind)
            .bind(&params)
            .bind(job.max_attempts)
            .bind(now)
            .bind(job.cost_tokens)
            .fetch_one(p)
            .await?);
            record_event(db, id, "rejected", Some(error.to_string())).await?;
            Err(error.into())
        }
    }
}
