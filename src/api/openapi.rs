//! `GET /v1/openapi.json`: the OpenAPI 3.1 document. The request and response bodies are
//! JSON Schemas generated from the Rust types by schemars (the `JobSpec` the queue runs, the
//! views the handlers return), so the document cannot drift from the code; the paths are
//! listed here.
use super::jobs::{BalanceView, JobPage, JobView};
use super::uploads::UploadView;
use super::webhooks::{WebhookRequest, WebhookView};
use crate::jobs::JobSpec;
use axum::Json;
use schemars::generate::SchemaSettings;
use serde_json::{json, Value};

pub async fn document() -> Json<Value> {
    Json(build())
}

pub fn build() -> Value {
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
    let spec = schema!(JobSpec, "JobSpecRequest");
    let job = schema!(JobView, "Job");
    let page = schema!(JobPage, "JobPage");
    let upload = schema!(UploadView, "Upload");
    let balance = schema!(BalanceView, "Balance");
    let hook_req = schema!(WebhookRequest, "WebhookRequest");
    let hook = schema!(WebhookView, "Webhook");
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
    let body = |schema: &Value| json!({"content": {"application/json": {"schema": schema}}});
    let ok = |schema: &Value, what: &str| json!({"description": what, "content": {"application/json": {"schema": schema}}});
    let problem = |what: &str| json!({"description": what, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}});
    let problems = problem("An error");
    let id_param =
        json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}]);
    json!({
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
                "requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"]}}}},
                "responses": {"201": ok(&upload, "Stored"), "default": problems}}},
            "/v1/jobs": {
                "post": {"summary": "Create a job (Idempotency-Key: a repeat returns the first job)",
                         "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 200}}],
                         "requestBody": body(&spec),
                         "responses": {"201": ok(&job, "Created and charged"), "200": ok(&job, "The job made earlier with this Idempotency-Key"),
                                       "400": problem("Not JSON, not a job spec, or an unknown field"),
                                       "402": problem("Not enough tokens: nothing was taken"),
                                       "422": problem("A field the pipeline cannot use (the `field` member names it): nothing was taken"),
                                       "default": problems}},
                "get": {"summary": "Your jobs, newest first",
                        "parameters": [{"name": "before", "in": "query", "schema": {"type": "integer"}}, {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}],
                        "responses": {"200": ok(&page, "A page"), "default": problems}}},
            "/v1/jobs/{id}": {
                "get": {"summary": "One job", "parameters": id_param, "responses": {"200": ok(&job, "The job"), "default": problems}},
                "delete": {"summary": "Cancel a job (its tokens come back once)", "parameters": id_param, "responses": {"202": ok(&job, "Cancelling"), "default": problems}}},
            "/v1/jobs/{id}/result": {"get": {"summary": "The finished video (or edited image): a redirect to a presigned URL, or the file", "parameters": id_param,
                "responses": {"200": {"description": "The file", "content": {"video/mp4": {}, "image/png": {}}}, "302": {"description": "Presigned URL in Location"}, "default": problems}}},
            "/v1/balance": {"get": {"summary": "Your token balance", "responses": {"200": ok(&balance, "Balance"), "default": problems}}},
            "/v1/prices": {"get": {"summary": "Prices in tokens", "responses": {"200": {"description": "The price table"}, "default": problems}}},
            "/v1/webhook": {
                "put": {"summary": "Set the webhook (returns its signing secret)", "requestBody": body(&hook_req), "responses": {"200": ok(&hook, "Set"), "default": problems}},
                "get": {"summary": "The webhook", "responses": {"200": ok(&hook, "Set"), "default": problems}},
                "delete": {"summary": "Remove the webhook", "responses": {"204": {"description": "Removed"}, "default": problems}}}
        },
        "webhooks": {
            "jobEvent": {"post": {
                "summary": "job.succeeded / job.failed / job.cancelled, signed: Reelforge-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>; Reelforge-Event-Id for deduplication",
                "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"id": {"type": "string"}, "type": {"type": "string"}, "created_ms": {"type": "integer"}, "data": job}}}}},
                "responses": {"200": {"description": "Received"}}}}
        }
    })
}
