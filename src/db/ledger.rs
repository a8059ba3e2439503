//! The token ledger. Every balance change is an append-only entry with a reason and a unique
//! idempotency key, written in the same transaction as the balance, so:
//! - a repeated debit, refund, top-up or payment (same key) changes nothing;
//! - the balance can never go negative (checked in the UPDATE itself and by a CHECK);
//! - the balance always equals the sum of the entries.
use crate::db::{now_ms, Db, DbError};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    WelcomeBonus,
    AdminTopup,
    Payment,
    JobDebit,
    JobRefund,
    AdminRefund,
    Referral,
    Promo,
    /// A card payment refunded or disputed: its tokens taken back.
    PaymentReversed,
    /// A referrer's share of a reversed payment taken back.
    ReferralReversed,
    /// A debt (from a reversed payment) settled by a top-up.
    DebtSettled,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WelcomeBonus => "welcome_bonus",
            Self::AdminTopup => "admin_topup",
            Self::Payment => "payment",
            Self::JobDebit => "job_debit",
            Self::JobRefund => "job_refund",
            Self::AdminRefund => "admin_refund",
            Self::Referral => "referral",
            Self::Promo => "promo",
            Self::PaymentReversed => "payment_reversed",
            Self::ReferralReversed => "referral_reversed",
            Self::DebtSettled => "debt_settled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The change was made; the new balance.
    Applied { balance: i64 },
    /// An entry with this key already exists: nothing changed.
    AlreadyApplied,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("not enough tokens: {needed} needed, {balance} on the balance")]
    InsufficientFunds { needed: i64, balance: i64 },
    #[error("user {0} does not exist")]
    UnknownUser(i64),
    #[error("amount must be positive")]
    NonPositiveAmount,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for LedgerError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(DbError::Sql(e))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Entry {
    pub id: i64,
    pub delta: i64,
    pub balance_after: i64,
    pub reason: String,
    pub idempotency_key: String,
    pub job_id: Option<i64>,
    pub created_ms: i64,
}

/// Adds tokens (top-up, payment, refund, bonus).
pub async fn credit(
    db: &Db,
    user: i64,
    amount: i64,
    reason: Reason,
    key: &str,
    job: Option<i64>,
) -> Result<Outcome, LedgerError> {
    if amount <= 0 {
        return Err(LedgerError::NonPositiveAmount);
    }
    apply(db, user, amount, reason, key, job).await
}

/// Takes tokens, or fails with [`LedgerError::InsufficientFunds`] and changes nothing.
pub async fn debit(
    db: &Db,
    user: i64,
    amount: i64,
    reason: Reason,
    key: &str,
    job: Option<i64>,
) -> Result<Outcome, LedgerError> {
    if amount <= 0 {
        return Err(LedgerError::NonPositiveAmount);
    }
    apply(db, user, -amount, reason, key, job).await
}

/// What one ledger change did inside a transaction (see `ledger_step!`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Applied(i64),
    AlreadyApplied,
    UnknownUser,
    /// The balance would go negative; the transaction must be rolled back.
    Insufficient,
}

/// One transaction: claim the key first (a write, so SQLite takes its write lock at once and
/// Postgres serialises equal keys), then move the balance with the non-negative check in the
/// WHERE clause, then record the resulting balance on the entry.
async fn apply(
    db: &Db,
    user: i64,
    delta: i64,
    reason: Reason,
    key: &str,
    job: Option<i64>,
) -> Result<Outcome, LedgerError> {
    let now = now_ms();
    let step = on_db!(db, p => {
        let mut tx = p.begin().await?;
        let step = ledger_step!(tx, user, delta, reason, key, job, now)?;
        match step {
            Step::Applied(_) => tx.commit().await?,
            _ => tx.rollback().await?,
        }
        step
    });
    match step {
        Step::Applied(balance) => Ok(Outcome::Applied { balance }),
        Step::AlreadyApplied => Ok(Outcome::AlreadyApplied),
        Step::UnknownUser => Err(LedgerError::UnknownUser(user)),
        Step::Insufficient => Err(LedgerError::InsufficientFunds {
            needed: -delta,
            balance: balance_of(db, user).await?,
        }),
    }
}

pub async fn balance_of(db: &Db, user: i64) -> Result<i64, LedgerError> {
    let b: Option<i64> = on_db!(db, p => sqlx::query_scalar("SELECT balance FROM users WHERE id = $1")
        .bind(user)
        .fetch_optional(p)
        .await?);
    b.ok_or(LedgerError::UnknownUser(user))
}

/// The newest entries first.
pub async fn history(db: &Db, user: i64, limit: i64) -> Result<Vec<Entry>, LedgerError> {
    Ok(on_db!(db, p => sqlx::query_as::<_, Entry>(
        "SELECT id, delta, balance_after, reason, idempotency_key, job_id, created_ms
         FROM ledger_entries WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(user)
    .bind(limit)
    .fetch_all(p)
    .await?))
}

/// Sum of all entries of a user: must always equal the balance.
pub async fn entries_sum(db: &Db, user: i64) -> Result<i64, LedgerError> {
    let s: Option<i64> = on_db!(db, p => sqlx::query_scalar("SELECT CAST(SUM(delta) AS BIGINT) FROM ledger_entries WHERE user_id = $1")
        .bind(user)
        .fetch_one(p)
        .await?);
    Ok(s.unwrap_or(0))
}

/// Key for the debit of a job and for its one refund: a failing job refunds with
/// `refund_key(job)` and a second refund attempt is a no-op.
pub fn debit_key(job: i64) -> String {
    format!("job:{job}:debit")
}
pub fn refund_key(job: i64) -> String {
    format!("job:{job}:refund")
}
pub fn welcome_key(user: i64) -> String {
    format!("user:{user}:welcome")
}

/// The one-time welcome bonus: a second call for the same user changes nothing.
pub async fn grant_welcome_bonus(db: &Db, user: i64, amount: i64) -> Result<Outcome, LedgerError> {
    credit(
        db,
        user,
        amount,
        Reason::WelcomeBonus,
        &welcome_key(user),
        None,
    )
    .await
}

/// Whether an entry with this idempotency key exists (a refund is "returned" only then).
pub async fn has_entry(db: &Db, key: &str) -> Result<bool, LedgerError> {
    let n: i64 = on_db!(db, p => sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM ledger_entries WHERE idempotency_key = $1")
        .bind(key)
        .fetch_one(p)
        .await?);
    Ok(n > 0)
}
