//! `GET /v1/openapi.json`: the OpenAPI 3.1 document. The response bodies are JSON Schemas
//! generated from the Rust types by schemars (the views the handlers return); a job request
//! is the ordering service's own schema (`orders::schema`: the rules as JSON Schema, its
//! fields checked against the `JobSpec` types), so the document cannot drift from the code.
//! Schemathesis holds the server to it in `make test`.
use super::campaigns::CampaignView;
use super::jobs::{BalanceView, JobPage, JobView};
use super::products::{ProductList, ProductView, ScriptList};
use super::uploads::UploadView;
use super::webhooks::{WebhookRequest, WebhookView};
use super::Api;
use crate::pricing::PriceTable;
use axum::extract::State;
use axum::Json;
use schemars::generate::SchemaSettings;
use serde_json::{json, Value};

pub async fn document(State(s): State<Api>) -> Json<Value> {
    Json(build(&s.prices))
}

pub fn build(prices: &PriceTable) -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let mut schemas = serde_json::Map::new();
    macro_rules! schema {
        ($t:ty, $name:expr) => {{
            let s = generator.subschema_for::<$t>();
            schemas.insert($name.to_string(), s.to_value());
            json!({ "$ref": format!("#/components/schemas/{}", $name) })
        }};
    }
    schemas.insert(
        "JobSpecRequest".into(),
        crate::orders::schema::request_schema(prices),
    );
    let spec = json!({"$ref": "#/components/schemas/JobSpecRequest"});
    let job = schema!(JobView, "Job");
    let page = schema!(JobPage, "JobPage");
    let upload = schema!(UploadView, "Upload");
    let balance = schema!(BalanceView, "Balance");
    let hook_req = schema!(WebhookRequest, "WebhookRequest");
    let hook = schema!(WebhookView, "Webhook");
    let product = schema!(ProductView, "Product");
    let products = schema!(ProductList, "ProductList");
    let scripts = schema!(ScriptList, "ScriptList");
    schemas.insert("ProductRequest".into(), product_request_schema());
    let campaign = schema!(CampaignView, "Campaign");
    schemas.insert("CampaignRequest".into(), campaign_request_schema(prices));
    for (name, schema) in generator.take_definitions(true) {
        schemas.insert(name, schema);
    }
    schemas.insert(
        "Problem".into(),
        json!({"type": "object", "description": "RFC 9457 problem details",
               "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                              "status": {"type": "integer"}, "detail": {"type": "string"},
                              "field": {"type": "string", "description": "422 invalid-field: the spec field that cannot be used"}},
               "required": ["type", "title", "status"]}),
    );
    let id_param = id_param();
    let job_id = id_param[0]["schema"].clone();
    let not_found = problem("No such job of yours");
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {"title": "reelforge API", "version": "1",
                 "description": "Order AI video ads: upload files, create jobs from a JobSpec, get the result. Jobs are charged in tokens from the same balance as the Telegram bot. Auth: `Authorization: Bearer rf_…` (make a key with /api in the bot)."},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/uploads": {"post": {
                "summary": "Upload a photo or a clip (≤ 20 MB; clips ≤ 15 s)",
                "requestBody": {"required": true, "content": {"multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"], "additionalProperties": false}}}},
                "responses": common(json!({"201": ok(&upload, "Stored"),
                    "413": problem("Larger than 20 MB"),
                    "415": problem("Not a photo or a clip we can use (the detail says why)"),
                    "422": problem("A clip longer than 15 s or without a video stream")}))}},
            "/v1/jobs": {
                "post": {"summary": "Create a job (Idempotency-Key: a repeat returns the first job)",
                         "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 200}}],
                         "requestBody": {"required": true, "content": {"application/json": {"schema": spec}}},
                         "responses": common(json!({"201": ok(&job, "Created and charged"), "200": ok(&job, "The job made earlier with this Idempotency-Key"),
                                       "402": problem("Not enough tokens: nothing was taken"),
                                       "422": problem("A field the pipeline cannot use (the `field` member names it: a file that is not your upload, a tier not offered at that size, a circle that does not fit, a blank text), or an Idempotency-Key used with another request: nothing was taken")}))},
                "get": {"summary": "Your jobs, newest first",
                        "parameters": [{"name": "before", "in": "query", "schema": job_id}, {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}],
                        "responses": common(json!({"200": ok(&page, "A page")}))}},
            "/v1/jobs/{id}": {
                "get": {"summary": "One job", "parameters": id_param, "responses": common(json!({"200": ok(&job, "The job"), "404": not_found}))}},
            "/v1/jobs/{id}/cancel": {
                "post": {"summary": "Cancel a job (its tokens come back once; the job stays listed as cancelled)", "parameters": id_param,
                         "responses": common(json!({"202": ok(&job, "Cancelling"), "404": not_found, "409": problem("Already finished, or its result is being delivered")}))}},
            "/v1/jobs/{id}/result": {"get": {"summary": "The finished video (or edited image): a redirect to a presigned URL, or the file; `format` picks one of a UGC video's extra formats",
                "parameters": [id_param[0].clone(), {"name": "format", "in": "query", "schema": {"type": "string", "enum": crate::jobs::layout::FORMATS}}],
                "responses": common(json!({"200": {"description": "The file", "content": {"video/mp4": {}, "image/png": {}}}, "303": {"description": "Presigned URL in Location"},
                                           "404": not_found, "409": problem("Not finished, or it made no file")}))}},
            "/v1/balance": {"get": {"summary": "Your token balance", "responses": common(json!({"200": ok(&balance, "Balance")}))}},
            "/v1/prices": {"get": {"summary": "Prices in tokens", "responses": common(json!({"200": {"description": "The price table", "content": {"application/json": {"schema": {"type": "object"}}}}}))}},
            "/v1/webhook": {
                "put": {"summary": "Set the webhook (returns its signing secret)", "requestBody": {"required": true, "content": {"application/json": {"schema": hook_req}}},
                        "responses": common(json!({"200": ok(&hook, "Set"), "422": problem("The URL has no host, or its host has no public address")}))},
                "get": {"summary": "The webhook", "responses": common(json!({"200": ok(&hook, "Set"), "404": problem("No webhook is set")}))},
                "delete": {"summary": "Remove the webhook", "responses": common(json!({"204": {"description": "Removed"}, "404": problem("No webhook is set")}))}},
            "/v1/openapi.json": {"get": {"summary": "This document", "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}}
        },
        "webhooks": {
            "campaignCompleted": {"post": {
                "summary": "campaign.completed once every variant's job has ended (each job also has its own job.* event), signed as job events",
                "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"id": {"type": "string"}, "type": {"const": "campaign.completed"}, "created_ms": {"type": "integer"}, "data": campaign}}}}},
                "responses": {"200": {"description": "Received"}}}},
            "jobEvent": {"post": {
                "summary": "job.succeeded / job.failed / job.cancelled, signed: Reelforge-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>; Reelforge-Event-Id for deduplication",
                "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"id": {"type": "string"}, "type": {"type": "string"}, "created_ms": {"type": "integer"}, "data": job}}}}},
                "responses": {"200": {"description": "Received"}}}}
        }
    });
    if let Some(paths) = doc["paths"].as_object_mut() {
        paths.extend(shop_paths(&product, &products, &scripts, &campaign));
    }
    doc
}

/// `POST /v1/products`: a link alone, or a description (the handler checks the same).
fn product_request_schema() -> Value {
    let text = |min: usize, max: usize| json!({"type": "string", "minLength": min, "maxLength": max, "pattern": "\\S"});
    json!({"oneOf": [
        {"type": "object", "additionalProperties": false, "required": ["url"],
         "properties": {"url": {"type": "string", "minLength": 4, "maxLength": 2000, "pattern": "^\\S+$",
                                "description": "An http(s) link to a product page on a public address"}}},
        {"type": "object", "additionalProperties": false, "required": ["name"],
         "properties": {
            "name": text(1, 200),
            "description": {"type": "string", "maxLength": 1500},
            "price": {"type": "string", "pattern": "^[0-9]{1,12}([.][0-9]{1,2})?$"},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "image": {"type": "string", "minLength": 1, "maxLength": 200, "description": "An upload id of a photo"}}}
    ]})
}

/// `POST /v1/campaigns`: your scripts, or a product to write them from (the handler checks
/// the same).
fn campaign_request_schema(prices: &PriceTable) -> Value {
    let video = crate::orders::schema::campaign_video_schema(prices);
    let id = json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": i64::MAX});
    let script = json!({"type": "string", "minLength": 1, "maxLength": crate::orders::MAX_SCRIPT_CHARS,
                        "pattern": crate::orders::schema::TEXT_PATTERN});
    let max = crate::orders::campaign::MAX_VARIANTS;
    let more = crate::orders::campaign::MAX_LANGUAGES - 1;
    let languages = json!({"type": "array", "maxItems": more, "uniqueItems": true,
        "items": {"enum": crate::products::scripts::LANGUAGES},
        "description": "More languages to make each variant in (not the scripts' own): each variant's versions, each its own job with its own speech and talking head, come as one album; scripts not in `translations` are translated by the chat model"});
    let scripts_in = json!({"type": "array", "minItems": 1, "maxItems": max, "items": script});
    let translations = json!({"type": "object", "additionalProperties": false,
        "properties": {"ru": scripts_in, "kk": scripts_in, "en": scripts_in},
        "description": "Your scripts in the `languages`, one per variant in order"});
    json!({"oneOf": [
        {"type": "object", "title": "your scripts", "additionalProperties": false, "required": ["scripts", "video"],
         "properties": {"product": id, "video": video,
                        "scripts": {"type": "array", "minItems": 1, "maxItems": max, "items": script},
                        "languages": languages, "translations": translations}},
        {"type": "object", "title": "written from a product", "additionalProperties": false, "required": ["product", "video"],
         "properties": {"product": id, "video": video,
                        "variants": {"type": "integer", "minimum": 1, "maximum": max, "default": 2},
                        "script_language": {"enum": crate::products::scripts::LANGUAGES},
                        "languages": languages, "translations": translations}}
    ]})
}

fn ok(schema: &Value, what: &str) -> Value {
    json!({"description": what, "content": {"application/json": {"schema": schema}}})
}

fn problem(what: &str) -> Value {
    json!({"description": what, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
}

/// The answers every operation may give besides its own.
fn common(mut r: Value) -> Value {
    r["400"] = problem("A malformed request");
    r["401"] = problem("No valid API key");
    r["403"] = problem("The account may not use the API");
    r["429"] = problem("Too many requests (Retry-After says when to try again)");
    r["default"] = problem("An error");
    r
}

/// The `{id}` path parameter (a positive 64-bit integer).
fn id_param() -> Value {
    let id = json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": i64::MAX});
    json!([{"name": "id", "in": "path", "required": true, "schema": id}])
}

/// Products from shop links, their scripts and campaigns of variants.
fn shop_paths(
    product: &Value,
    products: &Value,
    scripts: &Value,
    campaign: &Value,
) -> serde_json::Map<String, Value> {
    let id_param = id_param();
    let campaign_req = json!({"$ref": "#/components/schemas/CampaignRequest"});
    let product_req = json!({"$ref": "#/components/schemas/ProductRequest"});
    let paths = json!({
            "/v1/campaigns": {
                "post": {"summary": "Order up to three variants of a UGC ad (different scripts — yours, or written from a product — the same video settings and formats): one quote, each variant its own job, refunded alone when it fails (Idempotency-Key: a repeat returns the first campaign)",
                         "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 200}}],
                         "requestBody": {"required": true, "content": {"application/json": {"schema": campaign_req}}},
                         "responses": common(json!({"201": ok(campaign, "Ordered and charged"), "200": ok(campaign, "The campaign made earlier with this Idempotency-Key"),
                             "402": problem("Not enough tokens for every variant: nothing was taken"),
                             "422": problem("A field the pipeline cannot use (as a job's), a product that is not yours, or an Idempotency-Key used with another request: nothing was taken")}))}},
            "/v1/campaigns/{id}": {
                "get": {"summary": "A campaign and its variants' jobs", "parameters": id_param, "responses": common(json!({"200": ok(campaign, "The campaign"), "404": problem("No such campaign of yours")}))}},
            "/v1/products": {
                "post": {"summary": "Read a product from a shop link (schema.org JSON-LD, OpenGraph, microdata), or keep one you describe",
                         "requestBody": {"required": true, "content": {"application/json": {"schema": product_req}}},
                         "responses": common(json!({"201": ok(product, "Kept"),
                             "422": problem("The link cannot be used (not public) or read (unreachable, not HTML, over 3 MB, over 10 s), the page describes no product, or a field cannot be used")}))},
                "get": {"summary": "Your products, newest first",
                        "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 50}}],
                        "responses": common(json!({"200": ok(products, "A page")}))}},
            "/v1/products/{id}": {
                "get": {"summary": "One product", "parameters": id_param, "responses": common(json!({"200": ok(product, "The product"), "404": problem("No such product of yours")}))}},
            "/v1/products/{id}/scripts": {
                "post": {"summary": "Three ad scripts with different hooks (the chat model, or templates), free of charge",
                         "parameters": id_param,
                         "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false,
                             "properties": {"language": {"enum": ["ru", "kk", "en"]}}}}}},
                         "responses": common(json!({"200": ok(scripts, "Three scripts"), "404": problem("No such product of yours")}))}}
    });
    paths.as_object().cloned().unwrap_or_default()
}
