//! Per-user limits on what costs the operator money or attention without a paid job: speech
//! previews and voice samples (ElevenLabs bills them), Stripe sessions, Kaspi orders and
//! feedback. A sliding hour per user and action, kept in the bot's memory.
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    SpeechPreview,
    VoiceSample,
    Checkout,
    Feedback,
}

pub struct RateLimits {
    per_hour: usize,
    seen: Mutex<HashMap<(i64, Action), VecDeque<Instant>>>,
}

impl RateLimits {
    /// `per_hour` times per user and action (0: no limit).
    pub fn new(per_hour: usize) -> Self {
        Self {
            per_hour,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one `action` of `user` now, or says how long until the next is allowed.
    pub fn check(&self, user: i64, action: Action) -> Result<(), Duration> {
        self.check_at(user, action, Instant::now())
    }

    fn check_at(&self, user: i64, action: Action, now: Instant) -> Result<(), Duration> {
        if self.per_hour == 0 {
            return Ok(());
        }
        let hour = Duration::from_secs(3600);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let times = seen.entry((user, action)).or_default();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= hour)
        {
            times.pop_front();
        }
        if times.len() >= self.per_hour {
            let oldest = times.front().copied().unwrap_or(now);
            return Err(hour.saturating_sub(now.duration_since(oldest)));
        }
        times.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_and_action_has_its_own_hour() {
        let limits = RateLimits::new(2);
        let t0 = Instant::now();
        assert!(limits.check_at(1, Action::SpeechPreview, t0).is_ok());
        assert!(limits.check_at(1, Action::SpeechPreview, t0).is_ok());
        let wait = limits.check_at(1, Action::SpeechPreview, t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(3600));
        assert!(
            limits.check_at(2, Action::SpeechPreview, t0).is_ok(),
            "another user"
        );
        assert!(
            limits.check_at(1, Action::Feedback, t0).is_ok(),
            "another action"
        );
        let later = t0 + Duration::from_secs(3601);
        assert!(
            limits.check_at(1, Action::SpeechPreview, later).is_ok(),
            "an hour on"
        );
        assert!(RateLimits::new(0).check_at(1, Action::Checkout, t0).is_ok());
    }
}
