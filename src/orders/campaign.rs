//! A campaign: up to three variants of one UGC ad ordered together — one quote (the sum),
//! one `Idempotency-Key`, each variant its own job (its own speech, talking head and price,
//! refunded alone when it fails).
//!
//! The campaign is recorded first, with its scripts; its variants are then submitted as API
//! jobs under the keys `campaign:<key>:<n>`: a repeat of the request, or a retry after a
//! crash half-way, finds the jobs already made (and paid) and makes the rest from the scripts
//! recorded. A request whose balance cannot cover what is still to be made makes nothing.
use super::{quote, submit, Channel, OrderError, Valid};
use crate::db::campaigns::{self, Campaign, CampaignJob};
use crate::db::Db;
use crate::pricing::PriceTable;

/// Variants a campaign may have.
pub const MAX_VARIANTS: usize = 3;

/// The variants' labels, in order.
pub const LABELS: [&str; MAX_VARIANTS] = ["A", "B", "C"];

/// One job of a campaign: a variant in one language.
pub struct CampaignItem {
    /// A, B or C.
    pub variant: String,
    /// Its language version (`None`: the scripts' own language, no versions).
    pub language: Option<String>,
    pub script: String,
    /// Its checked `ugc_video`.
    pub valid: Valid,
}

/// Languages a campaign may have each variant in (its own and two more).
pub const MAX_LANGUAGES: usize = 3;

/// What a campaign orders: the product it is for and one checked job per variant (and per
/// language version of each).
pub struct CampaignOrder {
    pub product: Option<i64>,
    /// The jobs, in order: each variant's, its language versions after it.
    pub variants: Vec<CampaignItem>,
    /// The client's `Idempotency-Key` (a random one when it gave none) and a hash of what it
    /// asked for, to tell a repeat from another request under the same key.
    pub key: String,
    pub request_sha256: String,
}

/// Orders a campaign; `Ok((campaign, false))` for a repeat of an earlier request. The
/// campaign is recorded first, with its scripts; then each variant's job is made under its
/// key. A request interrupted half-way (or refused for the balance after some variants) is
/// finished by its repeat: the jobs already made are found, the rest made.
pub async fn submit_campaign(
    db: &Db,
    prices: &PriceTable,
    user: i64,
    order: CampaignOrder,
    max_attempts: i64,
) -> Result<(Campaign, bool), OrderError> {
    let earlier = campaigns::by_key(db, user, &order.key).await?;
    if let Some(made) = &earlier {
        if made.body_sha256 != order.request_sha256 {
            return Err(OrderError::IdempotencyMismatch);
        }
        if !made.jobs.is_empty() && made.jobs.iter().all(|j| j.job > 0) {
            return Ok((made.clone(), false));
        }
    }
    let labels: std::collections::BTreeSet<&str> =
        order.variants.iter().map(|v| v.variant.as_str()).collect();
    if labels.is_empty()
        || labels.len() > MAX_VARIANTS
        || order.variants.len() > MAX_VARIANTS * MAX_LANGUAGES
    {
        return Err(OrderError::Invalid(super::Invalid {
            field: "scripts",
            message: format!("a campaign has 1 to {MAX_VARIANTS} variants"),
        }));
    }
    let quotes = order
        .variants
        .iter()
        .map(|v| quote(prices, &v.valid, None))
        .collect::<Result<Vec<_>, _>>()?;
    let planned: Vec<CampaignJob> = order
        .variants
        .iter()
        .map(|v| CampaignJob {
            job: 0,
            variant: v.variant.clone(),
            script: v.script.clone(),
            language: v.language.clone(),
        })
        .collect();
    let fresh = earlier.is_none();
    let campaign = match earlier {
        Some(c) => c,
        None => {
            campaigns::record(
                db,
                user,
                (&order.key, &order.request_sha256),
                order.product,
                &planned,
            )
            .await?
        }
    };
    // The sum of what is still to be made must be there before anything is made.
    let mut needed = 0;
    for (i, q) in quotes.iter().enumerate() {
        if crate::db::api::job_of_key(db, user, &variant_key(&order.key, i))
            .await?
            .is_none()
        {
            needed += q.tokens;
        }
    }
    let balance = crate::db::ledger::balance_of(db, user).await?;
    if balance < needed {
        campaigns::forget(db, campaign.id).await?;
        return Err(OrderError::InsufficientFunds { needed, balance });
    }
    let mut jobs = campaign.jobs.clone();
    if jobs.len() != order.variants.len() {
        jobs = planned;
    }
    for (i, (CampaignItem { valid, .. }, q)) in order.variants.into_iter().zip(quotes).enumerate() {
        let key = variant_key(&order.key, i);
        let made = submit(
            db,
            user,
            super::Order {
                valid,
                quote: q,
                max_attempts,
            },
            None,
            Channel::Api(Some(&key)),
        )
        .await;
        match made {
            Ok(made) => jobs[i].job = made.id,
            // The balance spent meanwhile by another order: the variants made so far stay
            // with the campaign (its repeat makes the rest), the reason goes back.
            Err(e) => {
                campaigns::set_jobs(db, campaign.id, &jobs, false).await?;
                return Err(e);
            }
        }
    }
    campaigns::set_jobs(db, campaign.id, &jobs, true).await?;
    let campaign = campaigns::get(db, user, campaign.id)
        .await?
        .ok_or(crate::db::DbError::Sql(sqlx::Error::RowNotFound))?;
    tracing::info!(
        campaign = campaign.id,
        user_id = user,
        variants = jobs.len(),
        "campaign ordered"
    );
    Ok((campaign, fresh))
}

/// The `Idempotency-Key` of variant `n` of the campaign under `key`.
pub fn variant_key(key: &str, n: usize) -> String {
    format!("campaign:{key}:{n}")
}
