//! Orders (pending → paid) and the Stripe webhook events already seen.

use crate::db::{now_ms, Db, DbError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Order {
    pub id: i64,
    pub user_id: i64,
    pub method: String,
    pub external_id: Option<String>,
    pub tokens: i64,
    pub amount_minor: i64,
    pub currency: String,
    pub status: String,
}

/// Records a pending order for a pack.
pub async fn create_order(
    db: &Db,
    user: i64,
    method: &str,
    tokens: i64,
    amount_minor: i64,
    currency: &str,
) -> Result<i64, DbError> {
    Ok(on_db!(db, p => sqlx::query_scalar(
        "INSERT INTO orders (user_id, method, tokens, amount_minor, currency, status, created_ms) VALUES ($1, $2, $3, $4, $5, 'pending', $6) RETURNING id",
    )
    .bind(user)
    .bind(method)
    .bind(tokens)
    .bind(amount_minor)
    .bind(currency)
    .bind(now_ms())
    .fetch_one(p)
    .await?))
}

pub async fn set_external_id(db: &Db, order: i64, external: &str) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("UPDATE orders SET external_id = $2 WHERE id = $1").bind(order).bind(external).execute(p).await?.rows_affected());
    Ok(())
}

pub async fn order(db: &Db, id: i64) -> Result<Option<Order>, DbError> {
    Ok(
        on_db!(db, p => sqlx::query_as::<_, Order>("SELECT id, user_id, method, external_id, tokens, amount_minor, currency, status FROM orders WHERE id = $1")
        .bind(id)
        .fetch_optional(p)
        .await?),
    )
}

/// Marks a pending order paid to an erased account: `refund_due`, for the operator to refund
/// (the console's payments page lists these first).
pub async fn mark_refund_due(db: &Db, id: i64) -> Result<bool, DbError> {
    let n = on_db!(db, p => sqlx::query("UPDATE orders SET status = 'refund_due', paid_ms = $2 WHERE id = $1 AND status = 'pending'")
        .bind(id)
        .bind(crate::db::now_ms())
        .execute(p)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Marks a pending order paid; false when it was not pending (already paid or cancelled).
pub async fn mark_paid(db: &Db, id: i64) -> Result<bool, DbError> {
    let n = on_db!(db, p => sqlx::query("UPDATE orders SET status = 'paid', paid_ms = $2 WHERE id = $1 AND status = 'pending'")
        .bind(id)
        .bind(now_ms())
        .execute(p)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Records a Stripe event id; false when it was recorded before.
pub async fn record_webhook_event(db: &Db, event_id: &str) -> Result<bool, DbError> {
    let n = on_db!(db, p => sqlx::query("INSERT INTO webhook_events (event_id, received_ms) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING")
        .bind(event_id)
        .bind(now_ms())
        .execute(p)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Paid orders' total in minor units (tiyn), of one user or of everyone.
pub async fn paid_total_minor(db: &Db, user: Option<i64>) -> Result<i64, DbError> {
    let total: Option<i64> = on_db!(db, p => sqlx::query_scalar("SELECT CAST(SUM(amount_minor) AS BIGINT) FROM orders WHERE status = 'paid' AND ($1 IS NULL OR user_id = $1)")
        .bind(user)
        .fetch_one(p)
        .await?);
    Ok(total.unwrap_or(0))
}

/// Every order, oldest first (the operator console and tests).
pub async fn all_orders(db: &Db) -> Result<Vec<Order>, DbError> {
    Ok(
        on_db!(db, p => sqlx::query_as::<_, Order>("SELECT id, user_id, method, external_id, tokens, amount_minor, currency, status FROM orders ORDER BY id").fetch_all(p).await?),
    )
}

/// What crediting an order did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderCredit {
    /// Credited now: (user, tokens, balance after).
    Credited {
        user: i64,
        tokens: i64,
        balance: i64,
    },
    /// This order was credited before; nothing changed.
    AlreadyCredited {
        user: i64,
    },
    /// Not a Kaspi order waiting for its transfer (paid by card, paid already, or
    /// cancelled): a confirmation credits nothing.
    NotPendingKaspi {
        user: i64,
        method: String,
        status: String,
    },
    NoSuchOrder,
}

/// Credits a pending order (a confirmed Kaspi transfer) and closes it, in one transaction.
/// The ledger key is the order's (`order:<id>`), so two admins, a repeated command or a
/// re-run credit one transfer once, and the order counts in revenue.
/// Confirms a Kaspi transfer: credits a pending Kaspi order once (the order is the ledger key)
/// and closes it. A card order, or one paid or cancelled already, is refused.
pub async fn credit_order(db: &Db, order: i64) -> Result<OrderCredit, DbError> {
    let credited = credit_order_once(db, order).await?;
    // What a reversed card payment left owed is settled from this top-up.
    Ok(match credited {
        OrderCredit::Credited {
            user,
            tokens,
            balance,
        } => {
            let settled =
                crate::db::reversals::settle_debt(db, user, &format!("order:{order}")).await?;
            OrderCredit::Credited {
                user,
                tokens,
                balance: balance - settled,
            }
        }
        other => other,
    })
}

async fn credit_order_once(db: &Db, order: i64) -> Result<OrderCredit, DbError> {
    let now = now_ms();
    let key = format!("order:{order}");
    let reason = crate::db::ledger::Reason::AdminTopup;
    Ok(on_db!(db, p => {
        let mut tx = p.begin().await?;
        // A write first, so SQLite takes its write lock now rather than failing to upgrade a
        // read lock when two admins confirm at once.
        let row: Option<(i64, i64, String, String)> = sqlx::query_as(
            "UPDATE orders SET status = status WHERE id = $1 RETURNING user_id, tokens, method, status",
        )
        .bind(order)
        .fetch_optional(&mut *tx)
        .await?;
        let credited_before: Option<i64> =
            sqlx::query_scalar("SELECT id FROM ledger_entries WHERE idempotency_key = $1")
                .bind(&key)
                .fetch_optional(&mut *tx)
                .await?;
        match row {
            None => {
                tx.rollback().await?;
                OrderCredit::NoSuchOrder
            }
            Some((user, _, _, _)) if credited_before.is_some() => {
                tx.rollback().await?;
                OrderCredit::AlreadyCredited { user }
            }
            // Only a Kaspi order still waiting for its transfer is credited by a confirmation.
            Some((user, _, method, status)) if method != "kaspi" || status != "pending" => {
                tx.rollback().await?;
                OrderCredit::NotPendingKaspi { user, method, status }
            }
            Some((user, tokens, _, _)) => {
                let step = ledger_step!(tx, user, tokens, reason, &key, None::<i64>, now)?;
                sqlx::query("UPDATE orders SET status = 'paid', paid_ms = $2 WHERE id = $1 AND status = 'pending'")
                    .bind(order)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                match step {
                    crate::db::ledger::Step::Applied(balance) => {
                        tx.commit().await?;
                        OrderCredit::Credited { user, tokens, balance }
                    }
                    _ => {
                        tx.rollback().await?;
                        OrderCredit::AlreadyCredited { user }
                    }
                }
            }
        }
    }))
}
