//! One metrics registry for the whole process (the `metrics` facade with the Prometheus
//! exporter as its recorder): the HTTP server, the bot and the workers record into it and
//! `/metrics` renders it, so a scrape of `serve` shows the workers' series too. Gauges that
//! live in the database (jobs by state, queue depth and wait) are read at scrape time.
use crate::db::Db;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls return the same handle).
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let buckets = [
            0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
        ];
        let recorder = PrometheusBuilder::new()
            .set_buckets(&buckets)
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (a test binary, an embedding program):
        // the handle still renders what this one holds.
        let _ = metrics::set_global_recorder(recorder);
        // Series an alert or the dashboard watches start at zero, so "none yet" is 0 and
        // not a missing series (an `increase(...) > 0` alert needs the zero first).
        for outcome in ["credited", "duplicate", "error"] {
            metrics::counter!("reelforge_payments_total", "provider" => "stripe", "outcome" => outcome)
                .increment(0);
        }
        for kind in ["message", "callback"] {
            metrics::counter!("reelforge_bot_updates_total", "kind" => kind).increment(0);
        }
        for outcome in ["sent", "uncertain", "refused", "unreachable"] {
            metrics::counter!("reelforge_deliveries_total", "outcome" => outcome).increment(0);
        }
        metrics::counter!("reelforge_videos_delivered_total").increment(0);
        handle
    })
}

/// How long one run of a job (one attempt or one poll) took.
pub fn job_duration(kind: &str, took: Duration) {
    metrics::histogram!("reelforge_job_run_seconds", "kind" => kind.to_string())
        .record(took.as_secs_f64());
}

/// How long one named step took (provider submit, poll, compose, delivery, …).
pub fn step_duration(step: crate::jobs::Step, took: Duration) {
    metrics::histogram!("reelforge_step_seconds", "step" => step.name()).record(took.as_secs_f64());
}

/// A failed attempt, by job kind, error class and the provider that failed (or "internal").
pub fn job_failure(kind: &str, class: crate::failure::ErrorClass, provider: &str) {
    metrics::counter!("reelforge_job_failures_total", "kind" => kind.to_string(), "class" => class.name(), "provider" => provider.to_string())
        .increment(1);
}

/// A job reached a terminal state through a worker.
pub fn job_finished(kind: &str, state: &str) {
    metrics::counter!("reelforge_jobs_finished_total", "kind" => kind.to_string(), "state" => state.to_string())
        .increment(1);
}

/// A result handed to the user: `outcome` is sent, uncertain (a re-send was offered) or refused.
pub fn delivery(outcome: &str) {
    metrics::counter!("reelforge_deliveries_total", "outcome" => outcome.to_string()).increment(1);
}

/// A video delivered (the videos-per-hour rate is `rate(reelforge_videos_delivered_total[1h])`).
pub fn video_delivered() {
    metrics::counter!("reelforge_videos_delivered_total").increment(1);
}

/// A payment event: `outcome` is credited, duplicate, forged, …
pub fn payment(provider: &str, outcome: &str) {
    metrics::counter!("reelforge_payments_total", "provider" => provider.to_string(), "outcome" => outcome.to_string())
        .increment(1);
}

/// One call to a chain entry (`provider:model`): `outcome` is `ok` or the error class.
pub fn provider_call(entry: &str, outcome: &str, took: Duration) {
    metrics::counter!("reelforge_provider_calls_total", "entry" => entry.to_string(), "outcome" => outcome.to_string())
        .increment(1);
    metrics::histogram!("reelforge_provider_call_seconds", "entry" => entry.to_string())
        .record(took.as_secs_f64());
}

/// A chain entry's circuit breaker: 1 open, 0 closed.
pub fn breaker_state(entry: &str, open: bool) {
    metrics::gauge!("reelforge_provider_breaker_open", "entry" => entry.to_string()).set(if open {
        1.0
    } else {
        0.0
    });
}

/// A Telegram update handled by the bot.
pub fn bot_update(kind: &str) {
    metrics::counter!("reelforge_bot_updates_total", "kind" => kind.to_string()).increment(1);
}

/// Prometheus text exposition of everything recorded in this process, plus the database
/// gauges read now.
pub async fn render(db: &Db) -> String {
    let handle = install();
    if let Ok(counts) = crate::db::jobs::counts_by_state(db).await {
        for state in crate::jobs::JobState::ALL {
            let n = counts
                .iter()
                .find(|(s, _)| s == state.name())
                .map(|(_, n)| *n)
                .unwrap_or(0);
            metrics::gauge!("reelforge_jobs", "state" => state.name()).set(n as f64);
        }
    }
    if let Ok((depth, oldest_wait_ms)) = crate::db::jobs::queue_depth(db).await {
        metrics::gauge!("reelforge_queue_depth").set(depth as f64);
        metrics::gauge!("reelforge_queue_oldest_wait_seconds").set(oldest_wait_ms as f64 / 1000.0);
    }
    handle.render()
}

#[cfg(test)]
mod tests {
    #[test]
    fn recorded_series_show_up_in_the_rendered_text() {
        let handle = super::install();
        super::job_failure("ugc_video", crate::failure::ErrorClass::Transient, "fal");
        super::step_duration(
            crate::jobs::Step::Composite,
            std::time::Duration::from_millis(1200),
        );
        let text = handle.render();
        assert!(
            text.contains(r#"reelforge_job_failures_total{kind="ugc_video",class="transient",provider="fal"} "#),
            "{text}"
        );
        assert!(text.contains("reelforge_step_seconds_bucket"), "{text}");
    }
}
