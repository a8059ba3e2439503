//! Card payments that come back (a refund made in Stripe's dashboard, a dispute): the tokens
//! they bought are taken back — what is left of them; the balance never goes negative, the rest
//! becomes the user's debt, settled by their next top-up, and the account is flagged for the
//! operator — and the referrer's share of that payment is taken back once.
use crate::db::ledger::{Reason, Step};
use crate::db::{now_ms, Db, DbError};

/// What a reversal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reversal {
    /// Tokens taken back now from `user` (`taken`), and what is owed besides (`debt`).
    Reversed { user: i64, taken: i64, debt: i64 },
    /// Nothing more to reverse (a repeat of the event, or no more than before).
    Nothing,
    /// No order is known for this payment.
    UnknownPayment,
}

/// A paid order as a reversal reads it.
#[derive(sqlx::FromRow)]
struct PaidOrder {
    id: i64,
    user_id: i64,
    tokens: i64,
    amount_minor: i64,
    reversed_minor: i64,
    reversed_tokens: i64,
    external_id: Option<String>,
    dispute_id: Option<String>,
}

/// Remembers the PaymentIntent of a paid order: a later Charge or Dispute names only that.
pub async fn record_payment_intent(
    db: &Db,
    order: i64,
    payment_intent: &str,
) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("UPDATE orders SET payment_intent = $2 WHERE id = $1 AND payment_intent IS NULL")
        .bind(order)
        .bind(payment_intent)
        .execute(p)
        .await?
        .rows_affected());
    Ok(())
}

/// Takes one party's tokens back in the open transaction: what the balance covers, under
/// `key`, the rest added to their debt (and the account flagged). Returns (taken, debt added).
macro_rules! take_back {
    ($tx:expr, $user:expr, $tokens:expr, $reason:expr, $key:expr, $now:expr) => {
        async {
            // The user's row is held (a write) so the balance cannot move before the take.
            let balance: i64 = sqlx::query_scalar(
                "UPDATE users SET balance = balance WHERE id = $1 RETURNING balance",
            )
            .bind($user)
            .fetch_optional(&mut *$tx)
            .await?
            .unwrap_or(0);
            let take = $tokens.min(balance).max(0);
            let mut taken = 0;
            if take > 0 {
                match ledger_step!($tx, $user, -take, $reason, $key, None::<i64>, $now)? {
                    Step::Applied(_) => taken = take,
                    // Already taken under this key: a repeat changes nothing.
                    Step::AlreadyApplied => return Ok::<(i64, i64), sqlx::Error>((0, 0)),
                    // Anything else aborts the whole reversal (Stripe retries the event).
                    _ => {
                        return Err(sqlx::Error::Protocol(
                            "the balance moved during a reversal".into(),
                        ))
                    }
                }
            }
            let owed = $tokens - taken;
            if owed > 0 {
                sqlx::query("UPDATE users SET debt_tokens = debt_tokens + $2, flagged_ms = COALESCE(flagged_ms, $3) WHERE id = $1")
                    .bind($user)
                    .bind(owed)
                    .bind($now)
                    .execute(&mut *$tx)
                    .await?;
            }
            Ok((taken, owed))
        }
        .await
    };
}

/// Reverses the order paid by `payment_intent`: for a refund, up to `amount_minor` (Stripe's
/// running total refunded); for a dispute (its id), by `amount_minor` more than what was
/// reversed before (once per dispute). The tokens in proportion, less what earlier events
/// reversed; for a full reversal, the referrer's share too.
pub async fn reverse_payment(
    db: &Db,
    payment_intent: &str,
    amount_minor: i64,
    dispute: Option<&str>,
) -> Result<Reversal, DbError> {
    let now = now_ms();
    Ok(on_db!(db, p => async {
        let mut tx = p.begin().await?;
        // The order's row first (held while the reversal is computed and applied).
        let row: Option<PaidOrder> = sqlx::query_as(
            "UPDATE orders SET reversed_minor = reversed_minor WHERE payment_intent = $1
             RETURNING id, user_id, tokens, amount_minor, reversed_minor, reversed_tokens, external_id, dispute_id",
        )
        .bind(payment_intent)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(PaidOrder { id: order, user_id: user, tokens, amount_minor: amount, reversed_minor: done_minor, reversed_tokens: done_tokens, external_id: session, dispute_id }) = row else {
            tx.rollback().await?;
            return Ok::<Reversal, DbError>(Reversal::UnknownPayment);
        };
        let reversed_minor = match dispute {
            // One dispute per charge: a repeat of its event changes nothing.
            Some(id) if dispute_id.as_deref() == Some(id) => {
                tx.rollback().await?;
                return Ok(Reversal::Nothing);
            }
            Some(id) => {
                sqlx::query("UPDATE orders SET dispute_id = $2 WHERE id = $1")
                    .bind(order)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                done_minor + amount_minor
            }
            None => amount_minor,
        };
        let target_minor = reversed_minor.clamp(0, amount.max(1)).max(done_minor);
        let target_tokens = if amount > 0 { tokens * target_minor / amount } else { tokens };
        let more = target_tokens - done_tokens;
        if more <= 0 {
            tx.rollback().await?;
            return Ok(Reversal::Nothing);
        }
        let key = format!("reversal:order:{order}:{target_tokens}");
        let (taken, debt) = take_back!(tx, user, more, Reason::PaymentReversed, &key, now)?;
        sqlx::query("UPDATE orders SET reversed_minor = $2, reversed_tokens = $3 WHERE id = $1")
            .bind(order)
            .bind(target_minor)
            .bind(target_tokens)
            .execute(&mut *tx)
            .await?;
        // The referrer's share of this payment, once, when it is reversed whole; a payment
        // that came after its account was erased is then settled.
        if target_minor >= amount {
            sqlx::query("UPDATE orders SET status = 'refunded' WHERE id = $1 AND status = 'refund_due'")
                .bind(order)
                .execute(&mut *tx)
                .await?;
            let payment_key = session.map(|s| format!("stripe:{s}")).unwrap_or_default();
            let reward: Option<(i64, i64)> = sqlx::query_as(
                "SELECT user_id, delta FROM ledger_entries WHERE idempotency_key = $1",
            )
            .bind(format!("referral:{payment_key}"))
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((referrer, share)) = reward.filter(|(_, d)| *d > 0) {
                let key = format!("referral-reversed:{payment_key}");
                take_back!(tx, referrer, share, Reason::ReferralReversed, &key, now)?;
            }
        }
        tx.commit().await?;
        Ok(Reversal::Reversed { user, taken, debt })
    }
    .await)?)
}

/// Settles what `user` owes from a new top-up (after it is credited, under `key`): what the
/// balance covers now, once per top-up. Returns the tokens settled.
pub async fn settle_debt(db: &Db, user: i64, key: &str) -> Result<i64, DbError> {
    let now = now_ms();
    Ok(on_db!(db, p => async {
        let mut tx = p.begin().await?;
        let row: Option<(i64, i64)> = sqlx::query_as(
            "UPDATE users SET debt_tokens = debt_tokens WHERE id = $1 RETURNING debt_tokens, balance",
        )
        .bind(user)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((debt, balance)) = row else {
            tx.rollback().await?;
            return Ok::<i64, DbError>(0);
        };
        let settle = debt.min(balance);
        if settle <= 0 {
            tx.rollback().await?;
            return Ok(0);
        }
        let key = format!("debt:{key}");
        match ledger_step!(tx, user, -settle, Reason::DebtSettled, &key, None::<i64>, now)? {
            Step::Applied(_) => {
                sqlx::query("UPDATE users SET debt_tokens = debt_tokens - $2 WHERE id = $1")
                    .bind(user)
                    .bind(settle)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(settle)
            }
            _ => {
                tx.rollback().await?;
                Ok(0)
            }
        }
    }
    .await)?)
}

/// What `user` owes and since when their account is flagged.
/// Accounts flagged for the operator (a card payment refunded or disputed), newest first:
/// (user, tokens still owed, flagged at).
pub async fn flagged(db: &Db, limit: i64) -> Result<Vec<(i64, i64, i64)>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as(
        "SELECT id, debt_tokens, flagged_ms FROM users WHERE flagged_ms IS NOT NULL ORDER BY flagged_ms DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(p)
    .await?))
}

pub async fn debt_of(db: &Db, user: i64) -> Result<(i64, Option<i64>), DbError> {
    Ok(
        on_db!(db, p => sqlx::query_as("SELECT debt_tokens, flagged_ms FROM users WHERE id = $1")
        .bind(user)
        .fetch_optional(p)
        .await?)
        .unwrap_or((0, None)),
    )
}
