//! `POST /v1/campaigns`, `GET /v1/campaigns/{id}`: up to three variants of a UGC ad from a
//! product in one order (see `orders::campaign`), each its own job; `campaign.completed` is
//! sent once they have all ended.
use super::jobs::JobView;
use super::{Api, ApiPath, Caller, Problem};
use crate::db::campaigns::Campaign;
use crate::jobs::JobSpec;
use crate::orders::campaign::{CampaignOrder, MAX_VARIANTS};
use crate::orders::{self};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A campaign request (its schema in the OpenAPI document is `openapi::campaign_schema`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignRequest {
    /// One of your products: the scripts are written from it when none are given. (Numbers
    /// are read as JSON has them: `2.0` is the integer 2, as JSON Schema says.)
    pub product: Option<f64>,
    /// 1–3 scripts, one per variant; none: written from the product.
    pub scripts: Option<Vec<String>>,
    /// How many written scripts to use (1–3, default 2).
    pub variants: Option<f64>,
    /// The written scripts' language: ru, kk or en (default: the video's `language`, else ru).
    pub script_language: Option<String>,
    /// What every variant shares: a `ugc_video` request without `kind` and `script`.
    pub video: serde_json::Map<String, serde_json::Value>,
    /// More languages to make each variant in (ru, kk, en; not the scripts' own): each
    /// variant's versions come as one album.
    pub languages: Option<Vec<String>>,
    /// Your scripts in those languages, one per variant in order; a language without them is
    /// translated by the chat model.
    pub translations: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

/// One job a campaign plans: (variant, its language version, script).
type Planned = (String, Option<String>, String);

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CampaignVariantView {
    /// A, B or C.
    pub variant: String,
    /// The language it speaks (ru, kk, en; an offline voice's language).
    pub language: String,
    pub script: String,
    pub job: JobView,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CampaignView {
    pub id: i64,
    pub product: Option<i64>,
    /// `running` until every variant's job has ended, then `completed`; `incomplete` while a
    /// variant has no job (the balance refused it: the same request again makes it).
    pub state: String,
    /// The tokens its jobs cost (each refunded alone when it fails).
    pub price: i64,
    pub created_ms: i64,
    /// The languages each variant is made in (its scripts' own first); each variant's
    /// versions are delivered as one album.
    pub versions: Vec<String>,
    /// Every job: each variant, then its language versions.
    pub variants: Vec<CampaignVariantView>,
}

impl CampaignView {
    pub async fn of(db: &crate::db::Db, c: &Campaign) -> Result<Self, Problem> {
        let mut variants = Vec::new();
        for v in c.jobs.iter().filter(|v| v.job > 0) {
            let Some(row) = crate::db::jobs::job(db, v.job).await? else {
                continue;
            };
            let language = match &row.spec {
                Some(JobSpec::UgcVideo(p)) => p.language_code().to_string(),
                _ => v.language.clone().unwrap_or_default(),
            };
            variants.push(CampaignVariantView {
                variant: v.variant.clone(),
                language,
                script: v.script.clone(),
                job: JobView::of(&row),
            });
        }
        let mut versions: Vec<String> = Vec::new();
        for v in &variants {
            if !versions.contains(&v.language) {
                versions.push(v.language.clone());
            }
        }
        let ended = variants
            .iter()
            .all(|v| crate::jobs::JobState::from_name(&v.job.state).is_terminal());
        // A variant without its job: refused for the balance, made by a repeat of the request.
        let unmade = c.jobs.iter().any(|j| j.job <= 0);
        Ok(Self {
            id: c.id,
            product: c.product_id,
            state: if unmade {
                "incomplete"
            } else if ended {
                "completed"
            } else {
                "running"
            }
            .into(),
            price: variants.iter().map(|v| v.job.price).sum(),
            created_ms: c.created_ms,
            versions,
            variants,
        })
    }
}

/// `POST /v1/campaigns`.
pub async fn create(
    State(s): State<Api>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = body.map_err(|e| Problem::bad_request(e.body_text()))?;
    let key = super::jobs::idempotency_key(&headers)?;
    let req: CampaignRequest = super::strict_json(&body)?;
    let request_sha256 = crate::storage::sha256_hex(&body);
    // A repeat answers with what the first request made, without writing scripts again; one
    // that was interrupted half-way is finished with the scripts it recorded.
    let mut recorded: Option<Vec<Planned>> = None;
    if let Some(key) = key {
        if let Some(made) = crate::db::campaigns::by_key(&s.db, caller.user_id, key).await? {
            if made.body_sha256 != request_sha256 {
                return Err(orders::OrderError::IdempotencyMismatch.into());
            }
            if made.jobs.iter().all(|j| j.job > 0) {
                return Ok(
                    (StatusCode::OK, Json(CampaignView::of(&s.db, &made).await?)).into_response(),
                );
            }
            recorded = Some(
                made.jobs
                    .iter()
                    .map(|j| (j.variant.clone(), j.language.clone(), j.script.clone()))
                    .collect(),
            );
        }
    }
    let key = key.map_or_else(
        || format!("auto-{}", crate::db::api_keys::random_hex(12)),
        str::to_string,
    );
    let product_id = match req.product {
        Some(id) => Some(whole(id).ok_or_else(|| field("product", "must be an integer id"))?),
        None => None,
    };
    let product = match product_id {
        Some(id) => Some(
            crate::db::products::get(&s.db, caller.user_id, id)
                .await?
                .ok_or_else(|| field("product", format!("{id} is not a product of yours")))?,
        ),
        None => None,
    };
    let planned = match recorded {
        Some(planned) => planned,
        None => {
            let scripts = scripts_of(&s, &req, product.as_ref()).await?;
            super::campaign_versions::plan(&s, caller.user_id, &req, scripts).await?
        }
    };
    let mut variants = Vec::new();
    for (label, language, script) in planned.iter().cloned() {
        let mut video = req.video.clone();
        for taken in ["kind", "script", "versions"] {
            if video.contains_key(taken) {
                return Err(Problem::bad_request(format!(
                    "video.{taken} is set by the campaign: leave it out"
                )));
            }
        }
        video.insert("kind".into(), "ugc_video".into());
        video.insert("script".into(), script.clone().into());
        let spec = super::jobs::parse_spec(
            serde_json::Value::Object(video).to_string().as_bytes(),
            &s.prices,
        )?;
        let JobSpec::UgcVideo(mut p) = spec else {
            return Err(Problem::bad_request("video must be a ugc_video request"));
        };
        p.variant = Some(label.clone());
        let of = planned.iter().filter(|(l, ..)| *l == label).count();
        if of > 1 {
            super::campaign_versions::speak_in(&mut p, language.as_deref());
            p.versions = Some(crate::jobs::VersionOf {
                group: super::campaign_versions::group_of(&key, &label),
                of: of as u8,
            });
        }
        let spec = JobSpec::UgcVideo(p);
        let valid =
            orders::validate(&s.db, &s.prices, caller.user_id, orders::Origin::Api, spec).await?;
        variants.push(orders::campaign::CampaignItem {
            variant: label,
            language,
            script,
            valid,
        });
    }
    let order = CampaignOrder {
        product: product_id,
        variants,
        key,
        request_sha256,
    };
    let (campaign, made) = orders::campaign::submit_campaign(
        &s.db,
        &s.prices,
        caller.user_id,
        order,
        super::jobs::MAX_ATTEMPTS,
    )
    .await?;
    let status = if made {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(CampaignView::of(&s.db, &campaign).await?)).into_response())
}

/// A JSON number that is an integer (`2` or `2.0`).
fn whole(v: f64) -> Option<i64> {
    (v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i64)
}

pub(super) fn field(name: &'static str, detail: impl Into<String>) -> Problem {
    let mut p = Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-field",
        "A field cannot be used",
        detail,
    );
    p.field = Some(name);
    p
}

/// The variants' scripts: the client's, or written from the product.
pub(super) async fn scripts_of(
    s: &Api,
    req: &CampaignRequest,
    product: Option<&crate::db::products::StoredProduct>,
) -> Result<Vec<String>, Problem> {
    if let Some(scripts) = &req.scripts {
        if req.variants.is_some() || req.script_language.is_some() {
            return Err(Problem::bad_request(
                "variants and script_language are for written scripts: leave them out when you send scripts",
            ));
        }
        if scripts.is_empty() || scripts.len() > MAX_VARIANTS {
            return Err(field(
                "scripts",
                format!("send 1 to {MAX_VARIANTS} scripts"),
            ));
        }
        return Ok(scripts.clone());
    }
    let Some(product) = product else {
        return Err(field(
            "scripts",
            "send scripts, or a product to write them from",
        ));
    };
    let n = match req.variants {
        Some(v) => whole(v)
            .and_then(|v| usize::try_from(v).ok())
            .filter(|n| (1..=MAX_VARIANTS).contains(n))
            .ok_or_else(|| field("variants", format!("1 to {MAX_VARIANTS}")))?,
        None => 2,
    };
    let lang = req
        .script_language
        .clone()
        .or_else(|| {
            req.video
                .get("language")
                .and_then(|l| l.as_str())
                .map(|l| l.split(['+', '-']).next().unwrap_or(l).to_string())
        })
        .unwrap_or_else(|| "ru".into());
    if !crate::products::scripts::LANGUAGES.contains(&lang.as_str()) {
        return Err(field("script_language", "ru, kk or en"));
    }
    let written = s.scripts.write(&product.facts, &lang).await;
    Ok(written.into_iter().take(n).map(|s| s.text).collect())
}

/// `GET /v1/campaigns/{id}`.
pub async fn get_one(
    State(s): State<Api>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<CampaignView>, Problem> {
    let c = crate::db::campaigns::get(&s.db, caller.user_id, id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no campaign {id} of yours")))?;
    Ok(Json(CampaignView::of(&s.db, &c).await?))
}
