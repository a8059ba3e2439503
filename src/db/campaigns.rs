//! Campaigns (see `orders::campaign`): one row per campaign with its jobs as JSON.
use crate::db::{now_ms, Db, DbError};
use serde::{Deserialize, Serialize};

/// One job of a campaign: its job, its variant's label (A, B, C), its script and language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignJob {
    pub job: i64,
    pub variant: String,
    pub script: String,
    /// The variant's language version (`None`: the scripts' own language).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    pub id: i64,
    pub user_id: i64,
    pub idem_key: String,
    pub body_sha256: String,
    pub product_id: Option<i64>,
    pub jobs: Vec<CampaignJob>,
    pub created_ms: i64,
}

type Row = (i64, i64, String, String, Option<i64>, String, i64);

fn from_row(r: Row) -> Campaign {
    Campaign {
        id: r.0,
        user_id: r.1,
        idem_key: r.2,
        body_sha256: r.3,
        product_id: r.4,
        jobs: serde_json::from_str(&r.5).unwrap_or_default(),
        created_ms: r.6,
    }
}

/// The user's campaign made under `idem_key`, if any.
pub async fn by_key(db: &Db, user: i64, idem_key: &str) -> Result<Option<Campaign>, DbError> {
    let row: Option<Row> = on_db!(db, p => sqlx::query_as(
        "SELECT id, user_id, idem_key, body_sha256, product_id, jobs, created_ms FROM campaigns
         WHERE user_id = $1 AND idem_key = $2",
    ).bind(user).bind(idem_key).fetch_optional(p).await?);
    Ok(row.map(from_row))
}

/// A campaign of `user` (another user's is `None`).
pub async fn get(db: &Db, user: i64, id: i64) -> Result<Option<Campaign>, DbError> {
    let row: Option<Row> = on_db!(db, p => sqlx::query_as(
        "SELECT id, user_id, idem_key, body_sha256, product_id, jobs, created_ms FROM campaigns
         WHERE id = $1 AND user_id = $2",
    ).bind(id).bind(user).fetch_optional(p).await?);
    Ok(row.map(from_row))
}

/// Records a campaign before its jobs are made (each variant's `job` 0); a concurrent twin
/// under the same key wins and is returned instead.
pub async fn record(
    db: &Db,
    user: i64,
    (idem_key, body_sha256): (&str, &str),
    product: Option<i64>,
    jobs: &[CampaignJob],
) -> Result<Campaign, DbError> {
    let jobs = serde_json::to_string(jobs).unwrap_or_else(|_| "[]".into());
    on_db!(db, p => sqlx::query(
        "INSERT INTO campaigns (user_id, idem_key, body_sha256, product_id, jobs, created_ms)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id, idem_key) DO NOTHING",
    )
    .bind(user)
    .bind(idem_key)
    .bind(body_sha256)
    .bind(product)
    .bind(&jobs)
    .bind(now_ms())
    .execute(p)
    .await?
    .rows_affected());
    by_key(db, user, idem_key)
        .await?
        .ok_or(DbError::Sql(sqlx::Error::RowNotFound))
}

/// Notes the variants' jobs as made so far (`made`: every variant has its job now), and links
/// them.
pub async fn set_jobs(db: &Db, id: i64, jobs: &[CampaignJob], made: bool) -> Result<(), DbError> {
    let json = serde_json::to_string(jobs).unwrap_or_else(|_| "[]".into());
    let made_ms = made.then(now_ms);
    on_db!(db, p => {
        let mut tx = p.begin().await?;
        sqlx::query("UPDATE campaigns SET jobs = $2, made_ms = $3 WHERE id = $1")
            .bind(id).bind(&json).bind(made_ms).execute(&mut *tx).await?;
        for j in jobs.iter().filter(|j| j.job > 0) {
            sqlx::query("INSERT INTO campaign_jobs (campaign_id, job_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(id).bind(j.job).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

/// Forgets a campaign none of whose jobs was made (the balance refused it).
pub async fn forget(db: &Db, id: i64) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("DELETE FROM campaigns WHERE id = $1 AND made_ms IS NULL AND NOT EXISTS (SELECT 1 FROM campaign_jobs WHERE campaign_id = $1)")
        .bind(id)
        .execute(p)
        .await?
        .rows_affected());
    Ok(())
}

/// Campaigns of users with a webhook, every variant made and every job ended, whose
/// `campaign.completed` is not queued yet.
pub async fn without_event(db: &Db, limit: i64) -> Result<Vec<Campaign>, DbError> {
    let rows: Vec<Row> = on_db!(db, p => sqlx::query_as(
        "SELECT c.id, c.user_id, c.idem_key, c.body_sha256, c.product_id, c.jobs, c.created_ms
         FROM campaigns c JOIN api_webhooks w ON w.user_id = c.user_id
         WHERE c.event_ms IS NULL AND c.made_ms IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM campaign_jobs cj JOIN jobs j ON j.id = cj.job_id
                           WHERE cj.campaign_id = c.id
                             AND j.state NOT IN ('done', 'failed', 'cancelled', 'rejected'))
         ORDER BY c.id LIMIT $1",
    ).bind(limit).fetch_all(p).await?);
    Ok(rows.into_iter().map(from_row).collect())
}

/// Notes that the campaign's `campaign.completed` is queued.
pub async fn event_queued(db: &Db, id: i64) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("UPDATE campaigns SET event_ms = $2 WHERE id = $1")
        .bind(id)
        .bind(now_ms())
        .execute(p)
        .await?
        .rows_affected());
    Ok(())
}
