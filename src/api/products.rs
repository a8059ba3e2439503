//! `/v1/products…`: a product read from a shop link (or described), kept for reuse, and ad
//! scripts written from it — the intake the bot uses, behind an API key.
use super::{Api, ApiPath, ApiQuery, Caller, Problem};
use crate::db::products::StoredProduct;
use crate::products::{FetchError, IntakeError, ProductFacts};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A product: from `url` (a shop page), or from `name` and `description` (with an uploaded
/// photo as `image`, and a price if you like). Not both. (Its schema in the OpenAPI document
/// is `openapi::product_request_schema`.)
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductRequest {
    /// An http(s) link to a product page on a public address.
    pub url: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// A decimal number, e.g. "12990" or "19.90".
    pub price: Option<String>,
    /// ISO 4217, e.g. KZT.
    pub currency: Option<String>,
    /// An upload id (`POST /v1/uploads`) of a photo.
    pub image: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProductView {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub brand: Option<String>,
    pub price: Option<String>,
    pub currency: Option<String>,
    /// The photos the page names (absolute URLs).
    pub images: Vec<String>,
    /// The main photo as stored: name it as a job's `image`.
    pub image: Option<String>,
    pub source_url: Option<String>,
    pub created_ms: i64,
}

impl ProductView {
    fn of(p: &StoredProduct) -> Self {
        Self {
            id: p.id,
            name: p.facts.name.clone(),
            description: p.facts.description.clone(),
            brand: p.facts.brand.clone(),
            price: p.facts.price.clone(),
            currency: p.facts.currency.clone(),
            images: p.facts.images.clone(),
            image: p.image_key.clone(),
            source_url: p.source_url.clone(),
            created_ms: p.created_ms,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProductList {
    pub products: Vec<ProductView>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptsRequest {
    /// `ru`, `kk` or `en` (default `ru`).
    pub language: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ScriptList {
    pub scripts: Vec<crate::products::scripts::Script>,
}

fn unusable(slug: &'static str, title: &'static str, detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, slug, title, detail)
}

impl From<IntakeError> for Problem {
    fn from(e: IntakeError) -> Self {
        match e {
            IntakeError::Fetch(FetchError::NotALink) => {
                unusable("bad-link", "The link cannot be used", "url is not an http(s) link with a host")
            }
            IntakeError::Fetch(f @ FetchError::PrivateAddress) => {
                unusable("bad-link", "The link cannot be used", f.to_string())
            }
            IntakeError::Fetch(f) => {
                unusable("unreadable-page", "The page cannot be read", f.to_string())
            }
            IntakeError::NothingUsable => unusable(
                "no-product",
                "The page describes no product",
                "no schema.org Product, OpenGraph or microdata with a name was found: send name, description and an uploaded image instead",
            ),
            IntakeError::TooMany(minutes) => {
                let mut p = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate-limited",
                    "Too many requests",
                    format!("at most {} links an hour", crate::products::READS_PER_HOUR),
                );
                p.retry_after_s = Some((minutes * 60) as u64);
                p
            }
            IntakeError::Db(e) => e.into(),
        }
    }
}

/// `POST /v1/products`.
pub async fn create(
    State(s): State<Api>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = body.map_err(|e| Problem::bad_request(e.body_text()))?;
    let req: ProductRequest = super::strict_json(&body)?;
    let stored = match (&req.url, &req.name) {
        (Some(url), None) if req.description.is_none() && req.price.is_none() && req.currency.is_none() && req.image.is_none() => {
            let url = crate::products::page::parse_link(url).map_err(IntakeError::from)?;
            s.intake.from_link(caller.user_id, &url).await?
        }
        (None, Some(name)) => {
            let facts = described(&req, name)?;
            let image = match &req.image {
                Some(key) => {
                    let kind = crate::db::api::upload_type(&s.db, caller.user_id, key).await?;
                    if !kind.is_some_and(|k| k.starts_with("image/")) {
                        let mut p = unusable("invalid-field", "A field cannot be used", "image is not a photo you uploaded");
                        p.field = Some("image");
                        return Err(p);
                    }
                    Some(key.as_str())
                }
                None => None,
            };
            s.intake.from_words(caller.user_id, &facts, image).await?
        }
        _ => {
            return Err(Problem::bad_request(
                "send either url alone, or name with description (and optionally price, currency, image)",
            ))
        }
    };
    Ok((StatusCode::CREATED, Json(ProductView::of(&stored))).into_response())
}

fn described(req: &ProductRequest, name: &str) -> Result<ProductFacts, Problem> {
    use crate::products::extract::{
        clean_text, normalise_price, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS,
    };
    let field = |f: &'static str, why: &str| {
        let mut p = unusable(
            "invalid-field",
            "A field cannot be used",
            format!("{f} {why}"),
        );
        p.field = Some(f);
        p
    };
    let name = clean_text(name, usize::MAX);
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(field(
            "name",
            "must have 1 to 200 characters besides spaces and markup",
        ));
    }
    let description = clean_text(req.description.as_deref().unwrap_or(""), usize::MAX);
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(field("description", "must have at most 1500 characters"));
    }
    let price = match &req.price {
        Some(p) => {
            let ok = p.len() <= 15
                && p.split_once('.')
                    .map_or(p.chars().all(|c| c.is_ascii_digit()), |(a, b)| {
                        a.chars().all(|c| c.is_ascii_digit())
                            && !a.is_empty()
                            && (1..=2).contains(&b.len())
                            && b.chars().all(|c| c.is_ascii_digit())
                    })
                && !p.is_empty();
            if !ok {
                return Err(field(
                    "price",
                    "must be a decimal number like 12990 or 19.90",
                ));
            }
            normalise_price(p)
        }
        None => None,
    };
    let currency = match &req.currency {
        Some(c) if c.len() == 3 && c.chars().all(|x| x.is_ascii_uppercase()) => Some(c.clone()),
        Some(_) => return Err(field("currency", "must be an ISO 4217 code like KZT")),
        None => None,
    };
    Ok(ProductFacts {
        name,
        description,
        brand: None,
        currency: currency.filter(|_| price.is_some()),
        price,
        images: Vec::new(),
    })
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<i64>,
}

/// `GET /v1/products`: yours, newest first.
pub async fn list(
    State(s): State<Api>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ProductList>, Problem> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=crate::db::products::MAX_PER_USER).contains(&limit) {
        return Err(Problem::bad_request(format!(
            "limit must be between 1 and 50 (got {limit})"
        )));
    }
    let products = crate::db::products::list(&s.db, caller.user_id, limit).await?;
    Ok(Json(ProductList {
        products: products.iter().map(ProductView::of).collect(),
    }))
}

/// `GET /v1/products/{id}`.
pub async fn get_one(
    State(s): State<Api>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ProductView>, Problem> {
    let p = crate::db::products::get(&s.db, caller.user_id, id)
        .await?
        .ok_or_else(|| Problem::not_found("no such product of yours"))?;
    Ok(Json(ProductView::of(&p)))
}

/// `POST /v1/products/{id}/scripts`: three scripts with different hooks (free of charge).
pub async fn scripts(
    State(s): State<Api>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ScriptList>, Problem> {
    let body = body.map_err(|e| Problem::bad_request(e.body_text()))?;
    let req: ScriptsRequest = super::strict_json(&body)?;
    let lang = req.language.as_deref().unwrap_or("ru");
    if !crate::products::scripts::LANGUAGES.contains(&lang) {
        let mut p = unusable(
            "invalid-field",
            "A field cannot be used",
            "language must be ru, kk or en",
        );
        p.field = Some("language");
        return Err(p);
    }
    let p = crate::db::products::get(&s.db, caller.user_id, id)
        .await?
        .ok_or_else(|| Problem::not_found("no such product of yours"))?;
    count_script_set(&s, caller.user_id).await?;
    Ok(Json(ScriptList {
        scripts: s.scripts.write(&p.facts, lang).await,
    }))
}

/// Counts a script set (written or translated by the chat model) of `user`: 429 with
/// `Retry-After` once the hour's are spent, in the bot and the API together.
pub(super) async fn count_script_set(s: &Api, user: i64) -> Result<(), Problem> {
    if let Err(minutes) = crate::products::scripts::count_set(&s.db, user).await? {
        let mut problem = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            format!(
                "at most {} script sets an hour",
                crate::products::scripts::SETS_PER_HOUR
            ),
        );
        problem.retry_after_s = Some((minutes * 60) as u64);
        return Err(problem);
    }
    Ok(())
}
