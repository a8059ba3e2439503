//! What every fallback chain (speech, talking head, image edit) asks before and after trying
//! one of its entries: may it be tried now (its circuit breaker; whether a fallback would cost
//! more than the order brings), and what a failure does (counted against the entry; the
//! operator told once when it opens the breaker). The steps themselves live with their
//! callers: the pipelines for the talking head and edits, [`super::speech`] for speech.
use super::health::{self, BreakerSettings, Gate};
use super::ProviderError;
use crate::db::{Db, DbError};
use crate::pricing::{PriceTable, Quantity};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Default)]
pub struct ChainPolicy {
    pub breakers: BreakerSettings,
    /// Each entry's cost (`[[providers]]` of the pricing table); `None` = no loss check.
    pub prices: Option<Arc<PriceTable>>,
    /// `ALLOW_LOSS_FALLBACK`: try a fallback even when it costs more than the order's price.
    pub allow_loss: bool,
}

/// Whether an entry is tried now.
#[derive(Debug, Clone, PartialEq)]
pub enum Admit {
    Use,
    /// Its breaker is open (another worker or an earlier job found it failing).
    BreakerOpen,
    /// A fallback that would make this order lose money: costs ₸ against the price.
    LosesMoney {
        cost_kzt: f64,
        price: i64,
    },
}

/// The order an entry is asked to serve: its price and what was spent on it so far.
#[derive(Debug, Clone, Copy)]
pub struct Order {
    pub price_tokens: i64,
    pub spent_kzt: f64,
}

impl ChainPolicy {
    /// What `entry` costs for `q` (₸); nothing when the table does not list it.
    pub fn cost_kzt(&self, entry: &str, q: Quantity) -> f64 {
        self.prices
            .as_ref()
            .and_then(|t| t.entry_cost_kzt(entry, q))
            .unwrap_or(0.0)
    }

    /// The loss check first (it takes nothing), then the breaker (which may hand this caller
    /// the one probe of a half-open entry). The first entry is the operator's priced choice
    /// and is never skipped for its cost.
    pub async fn admit(
        &self,
        db: &Db,
        position: usize,
        entry: &str,
        q: Quantity,
        order: Option<Order>,
    ) -> Result<Admit, DbError> {
        if let (Some(order), true) = (order, position > 0 && !self.allow_loss) {
            let cost_kzt = self.cost_kzt(entry, q);
            // 1 token = 1 ₸.
            if order.spent_kzt + cost_kzt > order.price_tokens as f64 {
                tracing::warn!(
                    entry,
                    cost_kzt,
                    price = order.price_tokens,
                    "fallback skipped: it would cost more than the order brings (ALLOW_LOSS_FALLBACK=1 allows it)"
                );
                return Ok(Admit::LosesMoney {
                    cost_kzt,
                    price: order.price_tokens,
                });
            }
        }
        if health::gate(db, entry).await? == Gate::Open {
            tracing::info!(entry, "skipped: its circuit breaker is open");
            return Ok(Admit::BreakerOpen);
        }
        Ok(Admit::Use)
    }

    /// A success: closes the breaker, records the call and its cost. Returns the cost (₸).
    pub async fn succeeded(
        &self,
        db: &Db,
        entry: &str,
        q: Quantity,
        took: Duration,
    ) -> Result<f64, DbError> {
        let cost = self.cost_kzt(entry, q);
        health::record(db, entry, Ok(cost), took, self.breakers).await?;
        Ok(cost)
    }

    /// A failure: counted against the entry when it is the provider's. Returns the operator's
    /// alert when this failure opened the breaker (once per incident, not per job).
    pub async fn failed(
        &self,
        db: &Db,
        entry: &str,
        e: &ProviderError,
        took: Duration,
    ) -> Result<Option<String>, DbError> {
        let opened = health::record(db, entry, Err(e.class), took, self.breakers).await?;
        Ok(opened.then(|| {
            let minutes = self.breakers.cooldown.as_secs().div_ceil(60);
            format!(
                "⚠️ {entry} is failing ({}): skipped for {minutes} min, the next provider in the chain takes its jobs. Last error: {}",
                e.class.name(),
                e.message
            )
        }))
    }
}

/// Whether a failure of this class moves the step to the next entry (the provider's fault)
/// rather than ending it (the user's content or input refused: final everywhere).
pub fn moves_on(e: &ProviderError) -> bool {
    health::moves_on(e.class)
}
