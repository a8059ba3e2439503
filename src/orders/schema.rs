//! The JSON Schema of a job an API client may order: the rules of `rules.rs` written as the
//! OpenAPI document shows them (lengths, the offered tiers, sizes and lengths, id shapes, no
//! unknown fields), so a request the document calls valid is refused only for what a schema
//! cannot say: a file that is not the caller's upload, a tier not offered at that size, a
//! circle that does not fit its frame, a blank text (422 `invalid-field`). The field names
//! are checked against the `JobSpec` types by a test, so the two cannot drift.
use super::rules::{
    MAX_DESCRIPTION_CHARS, MAX_EDIT_PROMPT_CHARS, MAX_END_CARD_ACTION, MAX_END_CARD_PRICE,
    MAX_END_CARD_TITLE, MAX_PROMPT_CHARS, MAX_SCRIPT_CHARS, MAX_WISHES_CHARS, VIDEO_SECONDS,
};
use crate::pricing::PriceTable;
use serde_json::{json, Value};

/// Text without control characters other than tab and line breaks (Rust's `char::is_control`
/// is Unicode's Cc: U+0000–U+001F and U+007F–U+009F).
pub const TEXT_PATTERN: &str = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$";
/// A stored file's key as uploads and the gallery name them.
pub const KEY_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_./-]{0,199}$";
/// A language code with an optional offline voice: `ru`, `pt-BR`, `ru+f3`.
pub const LANGUAGE_PATTERN: &str = "^[a-z]{2,3}(-[A-Za-z]{2,4})?(\\+[A-Za-z0-9]{1,12})?$";
/// An ElevenLabs voice id, `openai:<voice>` or an offline voice (`ru+f3`).
pub const VOICE_PATTERN: &str =
    "^([A-Za-z0-9]{16,32}|openai:[a-z]{2,20}|[a-z]{2,3}(-[A-Za-z]{2,4})?\\+[A-Za-z0-9]{1,12})$";
/// A colour as `#RRGGBB`.
pub const ACCENT_PATTERN: &str = "^#[0-9A-Fa-f]{6}$";
/// `s`, `m`, `l`, or 50–160 (per cent of `m`).
pub const CIRCLE_SIZE_PATTERN: &str = "^(s|m|l|[5-9][0-9]|1[0-5][0-9]|160)$";

/// `WIDTHxHEIGHT` as the service writes it (no leading zeros, lower-case `x`).
pub const SIZE_PATTERN: &str = "^[1-9][0-9]{0,4}x[1-9][0-9]{0,4}$";
/// A named corner, the centre, or `X,Y` in output pixels.
pub const POSITION_PATTERN: &str =
    "^(bottom-left|bottom-right|top-left|top-right|center|centre|[0-9]{1,5},[0-9]{1,5})$";

fn text(max: usize) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max, "pattern": TEXT_PATTERN})
}

fn key() -> Value {
    json!({"type": "string", "pattern": KEY_PATTERN, "description": "An upload's `id` (or a gallery portrait's key)"})
}

fn nullable(mut schema: Value) -> Value {
    let ty = schema["type"].clone();
    schema["type"] = json!([ty, "null"]);
    if let Some(values) = schema.get_mut("enum").and_then(Value::as_array_mut) {
        values.push(Value::Null);
    }
    schema
}

/// The tiers the price table offers for generated videos.
fn tiers(prices: &PriceTable) -> Vec<String> {
    let mut t: Vec<String> = prices.video.iter().map(|v| v.tier.clone()).collect();
    t.sort();
    t.dedup();
    t
}

fn object(kind: &str, props: Value, required: &[&str]) -> Value {
    let mut props = props;
    props["kind"] = json!({"const": kind});
    let mut req = vec!["kind"];
    req.extend_from_slice(required);
    json!({"type": "object", "title": kind, "properties": props, "required": req,
           "additionalProperties": false})
}

/// One schema per kind an API client may order (`recompose` is the bot's `/overlay` only).
pub fn request_schemas(prices: &PriceTable) -> Vec<Value> {
    let sizes: Vec<String> = media::PRESET_SIZES
        .iter()
        .map(|(w, h)| format!("{w}x{h}"))
        .collect();
    let video = |props: Value| {
        let mut p = props;
        p["tier"] = json!({"type": "string", "enum": tiers(prices), "description": "See /v1/prices: not every tier is offered at every size"});
        p["seconds"] = json!({"type": "integer", "enum": VIDEO_SECONDS});
        p["size"] = json!({"type": "string", "enum": sizes});
        p
    };
    let templates: Vec<String> = crate::pipelines::product::templates()
        .into_iter()
        .map(|t| t.id)
        .collect();
    let ugc = json!({
        "portrait": key(),
        "background": nullable(key()),
        "script": text(MAX_SCRIPT_CHARS),
        "language": {"type": "string", "pattern": LANGUAGE_PATTERN, "default": "ru"},
        "size": {"type": "string", "pattern": SIZE_PATTERN, "default": "720x1280",
                 "description": "Even sides, at most 1080x1920 pixels"},
        "voice": nullable(json!({"type": "string", "pattern": VOICE_PATTERN})),
        "voice_gender": nullable(json!({"type": "string", "enum": ["female", "male"]})),
        "position": {"type": "string", "pattern": POSITION_PATTERN, "default": "bottom-left",
                     "description": "The circle must fit the frame's safe zone"},
        "circle_size": nullable(json!({"type": "string", "pattern": CIRCLE_SIZE_PATTERN,
                                       "description": "s, m or l, or a percentage of m from 50 to 160"})),
        "ring_color": nullable(json!({"type": "string", "pattern": ACCENT_PATTERN, "description": "The ring's colour (default white)"})),
        "background_start_ms": nullable(json!({"type": "integer", "minimum": 0, "maximum": crate::orders::rules::MAX_BACKGROUND_START_MS,
                                               "description": "Where in the background clip the video starts, in ms (it loops from the clip's start after its end)"})),
        "ring": {"type": "boolean"},
        "captions": {"type": "boolean"},
        "caption_style": {"type": "string", "enum": media::CaptionStyle::ALL.iter().map(|s| s.name()).collect::<Vec<_>>()},
        "safe_zone": {"type": "string", "enum": media::SafeZone::ALL.iter().map(|z| z.name()).collect::<Vec<_>>()},
        "force_recompose": {"type": "boolean", "enum": [false], "description": "Only the bot's /overlay composes again"},
        "brand": nullable(json!({"type": "object", "additionalProperties": false,
            "description": "The seller's brand: a logo on every frame, the captions' accent, a card after the speech",
            "properties": {
                "logo": nullable(json!({"type": "string", "pattern": KEY_PATTERN, "description": "A photo upload (PNG with alpha, or JPEG) of at most 2 MB"})),
                "accent": nullable(json!({"type": "string", "pattern": ACCENT_PATTERN})),
                "end_card": nullable(json!({"type": "object", "additionalProperties": false,
                    "required": ["title", "call_to_action"],
                    "properties": {
                        "photo": nullable(key()),
                        "title": text(MAX_END_CARD_TITLE),
                        "price": nullable(json!({"type": "string", "maxLength": MAX_END_CARD_PRICE, "pattern": TEXT_PATTERN})),
                        "call_to_action": text(MAX_END_CARD_ACTION),
                        "seconds": {"type": "number", "minimum": 1.5, "maximum": 2.5, "default": 2.0}}}))}})),
        "head_tier": nullable(json!({"type": "string", "enum": prices.head_tiers().iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
                                     "description": "The talking head's tier (see /v1/prices): its price, and the providers it may be made by (its own and cheaper ones); none: the first"})),
        "variant": nullable(json!({"type": "string", "enum": crate::orders::campaign::LABELS,
                                   "description": "The hook variant it is, said with the delivered video (campaigns set it)"})),
        "versions": nullable(json!({"type": "object", "additionalProperties": false, "required": ["group", "of"],
            "description": "One language version of an ad ordered in several (`language` ru, kk or en says which): the versions under one `group` of `of` are delivered together as one album",
            "properties": {
                "group": {"type": "string", "pattern": "^[A-Za-z0-9]{1,32}$"},
                "of": {"type": "integer", "minimum": 1, "maximum": 3}}})),
        "formats": {"type": "array", "maxItems": crate::jobs::layout::MAX_MORE_FORMATS, "uniqueItems": true,
                    "items": {"type": "string", "enum": crate::jobs::layout::FORMATS},
                    "description": "More formats of the same video, made in one pass at the size's short side, each at the compose price; not the size's own"},
    });
    vec![
        object(
            "text_to_video",
            video(
                json!({"prompt": text(MAX_PROMPT_CHARS), "image": {"type": "null"},
                         "improve_prompt": {"type": "boolean"}}),
            ),
            &["prompt", "tier", "seconds", "size"],
        ),
        object(
            "image_to_video",
            video(json!({"prompt": text(MAX_PROMPT_CHARS), "image": key(),
                         "improve_prompt": {"type": "boolean"}})),
            &["prompt", "tier", "seconds", "size", "image"],
        ),
        object(
            "product_video",
            video(
                json!({"image": key(), "description": text(MAX_DESCRIPTION_CHARS),
                         "template": {"type": "string", "enum": templates},
                         "wishes": {"type": ["string", "null"], "maxLength": MAX_WISHES_CHARS, "pattern": TEXT_PATTERN}}),
            ),
            &[
                "image",
                "description",
                "template",
                "tier",
                "seconds",
                "size",
            ],
        ),
        object(
            "character_edit",
            json!({"image": key(), "prompt": text(MAX_EDIT_PROMPT_CHARS)}),
            &["image", "prompt"],
        ),
        object("ugc_video", ugc, &["portrait", "script"]),
    ]
}

/// The request body of `POST /v1/jobs`: one of the kinds, told apart by `kind`.
pub fn request_schema(prices: &PriceTable) -> Value {
    json!({"oneOf": request_schemas(prices), "discriminator": {"propertyName": "kind"}})
}

/// A campaign's `video`: a `ugc_video` request without `kind` and `script` (each variant
/// brings its script).
pub fn campaign_video_schema(prices: &PriceTable) -> Value {
    let mut ugc = request_schemas(prices)
        .into_iter()
        .find(|s| s["title"] == "ugc_video")
        .unwrap_or_else(|| json!({"type": "object"}));
    if let Some(props) = ugc["properties"].as_object_mut() {
        props.remove("kind");
        props.remove("script");
        // Set by the campaign from its `languages`.
        props.remove("versions");
    }
    ugc["required"] = json!(["portrait"]);
    ugc["title"] = json!("campaign video");
    ugc
}

/// The fields an API request of `kind` may carry (`kind` included); empty for a kind the
/// API does not take.
pub fn request_fields(prices: &PriceTable, kind: &str) -> Vec<String> {
    request_schemas(prices)
        .iter()
        .find(|s| s["title"] == kind)
        .and_then(|s| s["properties"].as_object())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{JobKind, JobSpec};

    /// The properties of each `JobSpec` variant as schemars sees the Rust types.
    fn type_fields(kind: &str) -> Vec<String> {
        let schema = schemars::schema_for!(JobSpec).to_value();
        let variant = schema["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v.pointer("/properties/kind/const") == Some(&json!(kind)))
            .unwrap()
            .clone();
        let mut out = Vec::new();
        let mut stack = vec![variant];
        while let Some(v) = stack.pop() {
            if let Some(p) = v["properties"].as_object() {
                out.extend(p.keys().cloned());
            }
            if let Some(name) = v["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
                stack.push(schema["$defs"][name].clone());
            }
            for k in ["allOf", "anyOf", "oneOf"] {
                stack.extend(v[k].as_array().cloned().unwrap_or_default());
            }
        }
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn the_request_schema_names_every_field_of_the_types_and_no_other() {
        let prices = PriceTable::default_table();
        for kind in JobKind::ALL {
            let mut fields = request_fields(&prices, kind.name());
            if *kind == JobKind::Recompose {
                assert!(fields.is_empty(), "the API does not take recompose");
                continue;
            }
            fields.sort();
            assert_eq!(fields, type_fields(kind.name()), "{kind}");
        }
    }

    #[test]
    fn the_patterns_agree_with_the_rules_on_examples() {
        let prices = PriceTable::default_table();
        let tiers = tiers(&prices);
        assert!(tiers.contains(&"fast".to_string()) && tiers.contains(&"quality".to_string()));
        // The rule set accepts what the patterns describe (a spec built from the schema's
        // own examples passes `check` but for what a schema cannot say).
        let spec: JobSpec = serde_json::from_value(json!({
            "kind": "ugc_video", "portrait": "uploads/1/a.jpg", "script": "Hi there",
            "language": "pt-BR+f3", "voice": "openai:coral", "position": "centre",
            "caption_style": "bold-pop", "safe_zone": "tiktok", "circle_size": "s"
        }))
        .unwrap();
        assert_eq!(
            super::super::rules::check(&spec, &prices)
                .err()
                .map(|e| e.field),
            None
        );
    }
}
