//! Counters for the metrics endpoint (Prometheus text): jobs by state (from the database),
//! step durations and failures by error class (counted by the workers of this process).
use crate::db::Db;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
pub struct Metrics {
    steps: Mutex<BTreeMap<String, (u64, f64)>>,
    failures: Mutex<BTreeMap<(String, String), u64>>,
}

impl Metrics {
    pub fn observe_step(&self, step: &str, took: Duration) {
        let mut m = self.steps.lock().unwrap_or_else(|p| p.into_inner());
        let e = m.entry(step.to_string()).or_default();
        e.0 += 1;
        e.1 += took.as_secs_f64();
    }

    pub fn count_failure(&self, kind: &str, class: &str) {
        let mut m = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry((kind.to_string(), class.to_string())).or_default() += 1;
    }

    /// Prometheus text exposition.
    pub async fn render(&self, db: &Db) -> String {
        let mut out = String::from("# TYPE reelforge_jobs gauge\n");
        for (state, n) in crate::queue::counts_by_state(db).await.unwrap_or_default() {
            out.push_str(&format!("reelforge_jobs{{state=\"{state}\"}} {n}\n"));
        }
        out.push_str("# TYPE reelforge_step_seconds summary\n");
        for (step, (count, sum)) in self.steps.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            out.push_str(&format!("reelforge_step_seconds_count{{step=\"{step}\"}} {count}\nreelforge_step_seconds_sum{{step=\"{step}\"}} {sum:.3}\n"));
        }
        out.push_str("# TYPE reelforge_job_failures_total counter\n");
        for ((kind, class), n) in self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            out.push_str(&format!(
                "reelforge_job_failures_total{{kind=\"{kind}\",class=\"{class}\"}} {n}\n"
            ));
        }
        out
    }
}
