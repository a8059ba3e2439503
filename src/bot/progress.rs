//! The one progress message per job, edited in place: at most one edit every 3 s (teloxide's
//! Throttle does not limit edits), never an edit that would not change the text (Telegram
//! answers "message is not modified"), and a 429's `retry_after` honoured before the next.
//! Pure logic; the bot feeds it job states and sends what it returns.
use std::time::{Duration, Instant};

pub const MIN_EDIT_INTERVAL: Duration = Duration::from_secs(3);

#[derive(Debug)]
pub struct ProgressThrottle {
    last_text: Option<String>,
    last_edit: Option<Instant>,
    not_before: Option<Instant>,
}

impl Default for ProgressThrottle {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgressThrottle {
    pub fn new() -> Self {
        Self {
            last_text: None,
            last_edit: None,
            not_before: None,
        }
    }

    /// Whether `text` should be sent now. Final states (`done`, `failed`) pass the interval
    /// but still wait out a 429.
    pub fn should_edit(&self, text: &str, now: Instant, final_state: bool) -> bool {
        if self.last_text.as_deref() == Some(text) {
            return false;
        }
        if self.not_before.is_some_and(|t| now < t) {
            return false;
        }
        final_state
            || self
                .last_edit
                .is_none_or(|t| now.duration_since(t) >= MIN_EDIT_INTERVAL)
    }

    pub fn edited(&mut self, text: &str, now: Instant) {
        self.last_text = Some(text.to_string());
        self.last_edit = Some(now);
    }

    /// Telegram said 429: no edit before `retry_after` has passed.
    pub fn rate_limited(&mut self, retry_after: Duration, now: Instant) {
        self.not_before = Some(now + retry_after);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_are_spaced_deduplicated_and_wait_out_a_429() {
        let t0 = Instant::now();
        let mut p = ProgressThrottle::new();
        assert!(p.should_edit("queued, place 3", t0, false));
        p.edited("queued, place 3", t0);
        assert!(
            !p.should_edit("queued, place 2", t0 + Duration::from_secs(1), false),
            "too soon"
        );
        assert!(p.should_edit("queued, place 2", t0 + Duration::from_secs(3), false));
        assert!(
            !p.should_edit("queued, place 3", t0 + Duration::from_secs(9), false),
            "not modified"
        );
        assert!(
            p.should_edit("done", t0 + Duration::from_millis(500), true),
            "the final state goes out at once"
        );
        p.rate_limited(Duration::from_secs(10), t0);
        assert!(
            !p.should_edit("done", t0 + Duration::from_secs(5), true),
            "429 honoured even for the final state"
        );
        assert!(p.should_edit("done", t0 + Duration::from_secs(10), true));
    }
}
