//! Every failure of a paid step maps to one class, which decides retry or refund and which
//! message the user sees.
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "class")]
pub enum ErrorClass {
    /// Timeout, connection reset, 5xx: try again with backoff.
    Transient,
    /// 429 or a busy provider: try again after the given delay (or a longer backoff).
    RateLimited { retry_after_ms: Option<u64> },
    /// Moderation refused the prompt or the picture: never retried.
    ContentRejected,
    /// Our provider account is out of credit or quota: never retried, operator alerted.
    BillingOrQuota,
    /// The user's input cannot work (bad photo, too long script): never retried.
    BadUserInput,
    /// Anything else that will not get better by retrying.
    Permanent,
}

impl ErrorClass {
    pub fn name(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::RateLimited { .. } => "rate_limited",
            Self::ContentRejected => "content_rejected",
            Self::BillingOrQuota => "billing_or_quota",
            Self::BadUserInput => "bad_user_input",
            Self::Permanent => "permanent",
        }
    }

    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Transient | Self::RateLimited { .. })
    }

    /// Key of the user-facing message in the locale files.
    /// The class stored under [`Self::name`] (an unknown name reads as permanent).
    pub fn from_name(name: &str) -> Self {
        match name {
            "transient" => Self::Transient,
            "rate_limited" => Self::RateLimited {
                retry_after_ms: None,
            },
            "content_rejected" => Self::ContentRejected,
            "billing_or_quota" => Self::BillingOrQuota,
            "bad_user_input" => Self::BadUserInput,
            _ => Self::Permanent,
        }
    }

    pub fn message_key(self) -> &'static str {
        match self {
            Self::Transient => "error.temporary",
            Self::RateLimited { .. } => "error.busy",
            Self::ContentRejected => "error.content_rejected",
            Self::BillingOrQuota => "error.service_unavailable",
            Self::BadUserInput => "error.bad_input",
            Self::Permanent => "error.failed",
        }
    }
}

/// Delay before attempt `attempt + 1` (attempt counts from 1), or `None` when the class is
/// not retried. Exponential with ±20 % jitter from `jitter` in [0, 1).
pub fn retry_delay(class: ErrorClass, attempt: u32, jitter: f64) -> Option<Duration> {
    let (base_ms, cap_ms) = match class {
        ErrorClass::Transient => (5_000.0, 600_000.0),
        ErrorClass::RateLimited { .. } => (30_000.0, 1_800_000.0),
        _ => return None,
    };
    let exp = base_ms * 2f64.powi(attempt.saturating_sub(1).min(16) as i32);
    let jittered = exp.min(cap_ms) * (0.8 + 0.4 * jitter.clamp(0.0, 1.0));
    let floor = match class {
        ErrorClass::RateLimited {
            retry_after_ms: Some(ms),
        } => ms as f64,
        _ => 0.0,
    };
    Some(Duration::from_millis(jittered.max(floor) as u64))
}

/// A failed attempt as it is recorded: its class, what failed (a provider's name, or
/// `media`, `storage`, `database`, `internal`) and a message. The source travels as a value
/// from the error that made it; nothing is read back out of the message.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub class: ErrorClass,
    pub source: &'static str,
    pub message: String,
}

impl Failure {
    /// A failure of the service's own making (a rule, a deadline, a cancel, a panic).
    pub fn internal(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            source: "internal",
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_as_their_class() {
        for class in [
            ErrorClass::Transient,
            ErrorClass::ContentRejected,
            ErrorClass::BillingOrQuota,
            ErrorClass::BadUserInput,
            ErrorClass::Permanent,
        ] {
            assert_eq!(ErrorClass::from_name(class.name()), class);
        }
        assert_eq!(ErrorClass::from_name("rate_limited").name(), "rate_limited");
        assert_eq!(ErrorClass::from_name("???"), ErrorClass::Permanent);
    }

    #[test]
    fn transient_backoff_doubles_with_jitter_and_a_cap() {
        let d = |a, j| {
            retry_delay(ErrorClass::Transient, a, j)
                .unwrap()
                .as_millis()
        };
        assert_eq!(d(1, 0.5), 5_000);
        assert_eq!(d(2, 0.5), 10_000);
        assert_eq!(d(3, 0.0), 16_000);
        assert_eq!(d(3, 0.999_999), 23_999);
        assert_eq!(d(30, 0.5), 600_000);
    }

    #[test]
    fn rate_limits_wait_at_least_what_the_provider_asked() {
        let c = ErrorClass::RateLimited {
            retry_after_ms: Some(90_000),
        };
        assert_eq!(retry_delay(c, 1, 0.5).unwrap().as_millis(), 90_000);
        assert_eq!(
            retry_delay(
                ErrorClass::RateLimited {
                    retry_after_ms: None
                },
                1,
                0.5
            )
            .unwrap()
            .as_millis(),
            30_000
        );
    }

    #[test]
    fn refusals_and_bad_input_are_never_retried() {
        for c in [
            ErrorClass::ContentRejected,
            ErrorClass::BillingOrQuota,
            ErrorClass::BadUserInput,
            ErrorClass::Permanent,
        ] {
            assert!(retry_delay(c, 1, 0.5).is_none());
            assert!(!c.is_retryable());
        }
    }
}
