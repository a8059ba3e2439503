//! Circuit breakers per chain entry (`provider:model`), shared by every worker through the
//! database: after `failures` provider failures in a row, or `failure_rate` % of the calls of
//! the last five minutes (ten calls at least), the entry is skipped for `cooldown`, then one
//! worker sends one probe request (half-open) — a success closes the breaker, a failure
//! opens it again. A refusal of the user's content or input says nothing about the
//! provider and neither counts nor moves the job to another entry.
use crate::db::{now_ms, providers as rows, Db, DbError};
use crate::failure::ErrorClass;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerSettings {
    pub failures: i64,
    /// Percent of failed calls over [`RATE_WINDOW_MS`] that opens the breaker (0 = off).
    pub failure_rate: i64,
    pub cooldown: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failures: 5,
            failure_rate: 50,
            cooldown: Duration::from_secs(120),
        }
    }
}

/// The window of the failure rate, and how many calls it needs before the rate counts.
pub const RATE_WINDOW_MS: i64 = 5 * 60_000;
pub const RATE_MIN_CALLS: i64 = 10;

/// Whether an entry may be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Closed,
    /// Open, cool-down over: this caller sends the one probe.
    Probe,
    Open,
}

/// How long a probe is held before another worker may probe instead.
const PROBE_HOLD_MS: i64 = 60_000;

pub async fn gate(db: &Db, entry: &str) -> Result<Gate, DbError> {
    let now = now_ms();
    let Some(row) = rows::breaker(db, entry).await? else {
        return Ok(Gate::Closed);
    };
    match row.opened_until_ms {
        None => Ok(Gate::Closed),
        Some(t) if t > now => Ok(Gate::Open),
        Some(_) if rows::take_probe(db, entry, now, PROBE_HOLD_MS).await? => Ok(Gate::Probe),
        Some(_) => Ok(Gate::Open),
    }
}

/// Whether a failure of this class is the provider's (the next chain entry may do better)
/// rather than the user's (content refused, input unusable: final everywhere).
pub fn moves_on(class: ErrorClass) -> bool {
    !matches!(
        class,
        ErrorClass::ContentRejected | ErrorClass::BadUserInput
    )
}

/// Records a call's outcome (a success with what it cost, ₸) for the breaker, the success
/// rate, the spend and the metrics. Returns true when this failure opened the breaker (tell
/// the operator once per incident).
pub async fn record(
    db: &Db,
    entry: &str,
    outcome: Result<f64, ErrorClass>,
    took: Duration,
    settings: BreakerSettings,
) -> Result<bool, DbError> {
    let now = now_ms();
    let ms = took.as_millis() as i64;
    crate::metrics::provider_call(entry, outcome.err().map_or("ok", |c| c.name()), took);
    match outcome {
        Ok(cost_kzt) => {
            rows::record_success(db, entry, ms, now, cost_kzt).await?;
            crate::metrics::breaker_state(entry, false);
            Ok(false)
        }
        Err(class) if !moves_on(class) => {
            // The user's problem: logged as a call, not held against the provider.
            Ok(false)
        }
        Err(class) => {
            // An account out of credit or quota will not recover by itself: open at once.
            let threshold = if class == ErrorClass::BillingOrQuota {
                1
            } else {
                settings.failures
            };
            let trip = rows::Trip {
                threshold,
                rate_percent: settings.failure_rate,
                window_ms: RATE_WINDOW_MS,
                min_calls: RATE_MIN_CALLS,
                cooldown_ms: settings.cooldown.as_millis() as i64,
            };
            let opened = rows::record_failure(db, entry, class.name(), ms, now, trip).await?;
            if opened {
                crate::metrics::breaker_state(entry, true);
                tracing::warn!(
                    entry,
                    class = class.name(),
                    "circuit breaker opened: the entry is skipped for the cool-down"
                );
            }
            Ok(opened)
        }
    }
}
