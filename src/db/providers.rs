//! Provider health shared by all worker processes: one circuit breaker row per chain entry
//! (`provider:model`) and a log of calls (kept a day) for the success rate.
use crate::db::{Db, DbError};

/// A breaker row: consecutive failures, open until, probe taken until.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct BreakerRow {
    pub entry: String,
    pub failures: i64,
    pub opened_until_ms: Option<i64>,
    pub probe_until_ms: Option<i64>,
}

pub async fn breaker(db: &Db, entry: &str) -> Result<Option<BreakerRow>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as::<_, BreakerRow>(
        "SELECT entry, failures, opened_until_ms, probe_until_ms FROM provider_breakers WHERE entry = $1",
    )
    .bind(entry)
    .fetch_optional(p)
    .await?))
}

pub async fn breakers(db: &Db) -> Result<Vec<BreakerRow>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as::<_, BreakerRow>(
        "SELECT entry, failures, opened_until_ms, probe_until_ms FROM provider_breakers ORDER BY entry",
    )
    .fetch_all(p)
    .await?))
}

/// Takes the one probe of an open breaker whose cool-down has passed; false when the breaker
/// is still cooling down or another worker holds the probe.
pub async fn take_probe(db: &Db, entry: &str, now: i64, probe_ms: i64) -> Result<bool, DbError> {
    let n = on_db!(db, p => sqlx::query(
        "UPDATE provider_breakers SET probe_until_ms = $3, updated_ms = $2
         WHERE entry = $1 AND opened_until_ms IS NOT NULL AND opened_until_ms <= $2
           AND (probe_until_ms IS NULL OR probe_until_ms < $2)",
    )
    .bind(entry)
    .bind(now)
    .bind(now + probe_ms)
    .execute(p)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// A success closes the breaker; `cost_kzt` is what the call cost (pricing table).
pub async fn record_success(
    db: &Db,
    entry: &str,
    latency_ms: i64,
    now: i64,
    cost_kzt: f64,
) -> Result<(), DbError> {
    on_db!(db, p => {
        let mut tx = p.begin().await?;
        sqlx::query("INSERT INTO provider_calls (entry, ok, class, latency_ms, at_ms, cost_kzt) VALUES ($1, TRUE, NULL, $2, $3, $4)")
            .bind(entry).bind(latency_ms).bind(now).bind(cost_kzt).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO provider_breakers (entry, failures, opened_until_ms, probe_until_ms, updated_ms) VALUES ($1, 0, NULL, NULL, $2)
             ON CONFLICT (entry) DO UPDATE SET failures = 0, opened_until_ms = NULL, probe_until_ms = NULL, updated_ms = $2,
                 closed_ms = CASE WHEN provider_breakers.opened_until_ms IS NULL THEN provider_breakers.closed_ms ELSE $2 END",
        )
        .bind(entry).bind(now).execute(&mut *tx).await?;
        tx.commit().await?;
    });
    Ok(())
}

/// When failures open a breaker: `threshold` in a row, or `rate_percent` of the calls in the
/// last `window_ms` (at least `min_calls` of them; 0 % = never by rate).
#[derive(Debug, Clone, Copy)]
pub struct Trip {
    pub threshold: i64,
    pub rate_percent: i64,
    pub window_ms: i64,
    pub min_calls: i64,
    pub cooldown_ms: i64,
}

/// A failure that says something about the provider (not a refusal of the user's input).
/// Over the [`Trip`] limits — or a failed probe — the breaker opens until `now + cooldown`.
/// Returns true when this failure opened it (so the operator is told once per incident).
pub async fn record_failure(
    db: &Db,
    entry: &str,
    class: &str,
    latency_ms: i64,
    now: i64,
    trip: Trip,
) -> Result<bool, DbError> {
    let opened = on_db!(db, p => {
        let mut tx = p.begin().await?;
        sqlx::query("INSERT INTO provider_calls (entry, ok, class, latency_ms, at_ms) VALUES ($1, FALSE, $2, $3, $4)")
            .bind(entry).bind(class).bind(latency_ms).bind(now).execute(&mut *tx).await?;
        let before: Option<(i64, Option<i64>)> = sqlx::query_as(
            "INSERT INTO provider_breakers (entry, failures, updated_ms) VALUES ($1, 1, $2)
             ON CONFLICT (entry) DO UPDATE SET failures = provider_breakers.failures + 1, updated_ms = $2
             RETURNING failures, opened_until_ms",
        )
        .bind(entry).bind(now).fetch_optional(&mut *tx).await?;
        let (failures, opened_until) = before.unwrap_or((1, None));
        let was_open = opened_until.is_some();
        let mut open = (!was_open && failures >= trip.threshold) || opened_until.is_some_and(|t| t <= now);
        if !open && !was_open && trip.rate_percent > 0 {
            // Failures mixed with successes (a flaky provider) trip it by rate instead; the
            // window starts again when a good probe closed the breaker.
            let (calls, failed): (i64, i64) = sqlx::query_as(
                "SELECT CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(CASE WHEN c.ok THEN 0 ELSE 1 END), 0) AS BIGINT)
                 FROM provider_calls c LEFT JOIN provider_breakers b ON b.entry = c.entry
                 WHERE c.entry = $1 AND c.at_ms >= $2 AND (b.closed_ms IS NULL OR c.at_ms > b.closed_ms)",
            )
            .bind(entry).bind(now - trip.window_ms).fetch_one(&mut *tx).await?;
            open = calls >= trip.min_calls && failed * 100 >= trip.rate_percent * calls;
        }
        // Closed and now over the limits, or half-open (a failed probe): open (again).
        if open {
            sqlx::query("UPDATE provider_breakers SET opened_until_ms = $2, probe_until_ms = NULL WHERE entry = $1")
                .bind(entry).bind(now + trip.cooldown_ms).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        open && !was_open
    });
    Ok(opened)
}

/// Successful calls and what they cost (₸) per entry since `since_ms`.
pub async fn spend(db: &Db, since_ms: i64) -> Result<Vec<(String, i64, f64)>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as(
        "SELECT entry, CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(cost_kzt), 0) AS DOUBLE PRECISION)
         FROM provider_calls WHERE ok AND at_ms >= $1 GROUP BY entry ORDER BY entry",
    )
    .bind(since_ms)
    .fetch_all(p)
    .await?))
}

/// Calls and successes per entry since `since_ms`.
pub async fn success_counts(db: &Db, since_ms: i64) -> Result<Vec<(String, i64, i64)>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as(
        "SELECT entry, CAST(COUNT(*) AS BIGINT), CAST(SUM(CASE WHEN ok THEN 1 ELSE 0 END) AS BIGINT)
         FROM provider_calls WHERE at_ms >= $1 GROUP BY entry ORDER BY entry",
    )
    .bind(since_ms)
    .fetch_all(p)
    .await?))
}

/// Drops call records older than `before_ms`.
pub async fn prune_calls(db: &Db, before_ms: i64) -> Result<u64, DbError> {
    Ok(
        on_db!(db, p => sqlx::query("DELETE FROM provider_calls WHERE at_ms < $1")
        .bind(before_ms)
        .execute(p)
        .await?
        .rows_affected()),
    )
}
