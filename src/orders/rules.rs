//! The one rule set a job spec must pass before any money moves or any provider is called:
//! every field is checked against what its pipeline will accept (the circle is placed with the
//! same function the composite uses), so a spec that passes here cannot fail later for its
//! fields. Pure: no database, no network.
use super::Invalid;
use crate::jobs::{EditParams, GenerateParams, JobSpec, ProductParams, UgcParams};
use crate::pricing::{resolution_of, PriceTable};

/// The longest UGC script (characters).
pub const MAX_SCRIPT_CHARS: usize = 300;
/// The longest video prompt (characters).
pub const MAX_PROMPT_CHARS: usize = 1000;
/// The longest product description (characters).
pub const MAX_DESCRIPTION_CHARS: usize = 600;
/// The longest product wishes and image-edit prompt (characters).
pub const MAX_WISHES_CHARS: usize = 600;
pub const MAX_EDIT_PROMPT_CHARS: usize = 1000;
/// The lengths a generated video can have (seconds).
pub const VIDEO_SECONDS: [u32; 3] = [4, 8, 12];
/// The circle sizes of the layout preview's buttons.
pub const CIRCLE_SIZES: [&str; 3] = ["s", "m", "l"];

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// Checks every field of `spec` that its pipeline reads.
pub fn check(spec: &JobSpec, prices: &PriceTable) -> Result<(), Invalid> {
    match spec {
        JobSpec::TextToVideo(p) => {
            if p.image.is_some() {
                return Err(invalid(
                    "image",
                    "a text-to-video job has no image (use kind image_to_video)",
                ));
            }
            generate(p, prices)
        }
        JobSpec::ImageToVideo(p) => {
            if p.image.is_none() {
                return Err(invalid("image", "an image-to-video job needs an image"));
            }
            generate(p, prices)
        }
        JobSpec::ProductVideo(p) => product(p, prices),
        JobSpec::CharacterEdit(p) => edit(p),
        JobSpec::UgcVideo(p) => {
            if p.force_recompose {
                return Err(invalid(
                    "force_recompose",
                    "only a remake of a finished video composes again",
                ));
            }
            check_head_tier(p, prices)?;
            check_variant(p)?;
            check_versions(p)?;
            ugc(p)
        }
        JobSpec::Recompose(p) => ugc(p),
    }
}

fn text(field: &'static str, value: &str, max: usize) -> Result<(), Invalid> {
    let count = value.chars().count();
    if value.trim().is_empty() {
        return Err(invalid(field, "is empty"));
    }
    if count > max {
        return Err(invalid(
            field,
            format!("is {count} characters, at most {max} are taken"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(())
}

fn video(tier: &str, size: &str, seconds: u32, prices: &PriceTable) -> Result<(), Invalid> {
    if !VIDEO_SECONDS.contains(&seconds) {
        return Err(invalid(
            "seconds",
            format!("must be 4, 8 or 12 (got {seconds})"),
        ));
    }
    offered_size(size)?;
    if prices
        .video_tokens(tier, resolution_of(size), seconds)
        .is_none()
    {
        return Err(invalid(
            "tier",
            format!("'{tier}' at {size} is not offered (see the prices)"),
        ));
    }
    Ok(())
}

/// An output size written as the rest of the service reads it (`720x1280`: lower-case `x`,
/// no spaces), so the price row and the made video agree.
fn size(s: &str) -> Result<(usize, usize), Invalid> {
    let (w, h) = media::parse_size(s).map_err(|e| invalid("size", e.to_string()))?;
    if format!("{w}x{h}") != s {
        return Err(invalid("size", format!("write '{s}' as {w}x{h}")));
    }
    Ok((w, h))
}

/// One of the sizes the product offers (9:16, 16:9 and 1:1 at 720p and 1080p).
fn offered_size(s: &str) -> Result<(usize, usize), Invalid> {
    let (w, h) = size(s)?;
    if !media::PRESET_SIZES.contains(&(w, h)) {
        return Err(invalid(
            "size",
            format!(
                "{s} is not offered: 720x1280, 1280x720, 720x720, 1080x1920, 1920x1080 or 1080x1080"
            ),
        ));
    }
    Ok((w, h))
}

fn generate(p: &GenerateParams, prices: &PriceTable) -> Result<(), Invalid> {
    text("prompt", &p.prompt, MAX_PROMPT_CHARS)?;
    video(&p.tier, &p.size, p.seconds, prices)
}

fn product(p: &ProductParams, prices: &PriceTable) -> Result<(), Invalid> {
    text("description", &p.description, MAX_DESCRIPTION_CHARS)?;
    // Wishes are optional: blank means none, but a long or broken text is still refused.
    if let Some(w) = p.wishes.as_deref() {
        if !w.trim().is_empty() {
            text("wishes", w, MAX_WISHES_CHARS)?;
        } else if w.chars().count() > MAX_WISHES_CHARS {
            return Err(invalid(
                "wishes",
                format!("at most {MAX_WISHES_CHARS} characters are taken"),
            ));
        }
    }
    if !crate::pipelines::product::templates()
        .iter()
        .any(|t| t.id == p.template)
    {
        return Err(invalid(
            "template",
            format!("'{}' is not one of the product templates", p.template),
        ));
    }
    video(&p.tier, &p.size, p.seconds, prices)
}

fn edit(p: &EditParams) -> Result<(), Invalid> {
    text("prompt", &p.prompt, MAX_EDIT_PROMPT_CHARS)
}

/// A language code with an optional offline voice variant: `ru`, `en`, `pt-br`, `ru+f3`.
fn language_shape(s: &str) -> bool {
    let (code, variant) = match s.split_once('+') {
        Some((c, v)) => (c, Some(v)),
        None => (s, None),
    };
    let (base, region) = code.split_once('-').unwrap_or((code, ""));
    (2..=3).contains(&base.len())
        && base.chars().all(|c| c.is_ascii_lowercase())
        && (region.is_empty()
            || ((2..=4).contains(&region.len()) && region.chars().all(|c| c.is_ascii_alphabetic())))
        && variant.is_none_or(|v| {
            (1..=12).contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

/// A voice the speech chain knows how to pick: an ElevenLabs id (16–32 letters and digits),
/// `openai:<name>`, or an offline espeak-ng voice (`ru+f3`).
fn voice_shape(v: &str) -> bool {
    if let Some(name) = v.strip_prefix("openai:") {
        return (2..=20).contains(&name.len()) && name.chars().all(|c| c.is_ascii_lowercase());
    }
    if v.contains('+') {
        return language_shape(v);
    }
    (16..=32).contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphanumeric())
}

/// A named corner, the centre, or `X,Y` in digits: what the API's schema describes (the
/// composite's parser also takes spaces and upper case, the API does not).
fn position_shape(s: &str) -> bool {
    const NAMED: [&str; 6] = [
        "bottom-left",
        "bottom-right",
        "top-left",
        "top-right",
        "center",
        "centre",
    ];
    let digits = |d: &str| (1..=5).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit());
    NAMED.contains(&s)
        || s.split_once(',')
            .is_some_and(|(x, y)| digits(x) && digits(y))
}

fn ugc(p: &UgcParams) -> Result<(), Invalid> {
    text("script", &p.script, MAX_SCRIPT_CHARS)?;
    if !language_shape(&p.language) {
        return Err(invalid(
            "language",
            format!(
                "'{}' is not a language code such as ru, en or kk (or an offline voice such as ru+f3)",
                p.language
            ),
        ));
    }
    if let Some(v) = p.voice.as_deref().filter(|v| !voice_shape(v)) {
        return Err(invalid(
            "voice",
            format!("'{v}' is not a voice id (an ElevenLabs id, openai:<voice> or an offline voice such as ru+f3)"),
        ));
    }
    check_layout(p)
}

/// The layout as the composite will read it: the size, the circle's size and its position
/// placed in the safe zone by the composite's own function.
fn check_layout(p: &UgcParams) -> Result<(), Invalid> {
    // Any even size the compositor takes, up to the largest offered frame (the price of a
    // UGC video does not depend on its size, its compose time does).
    let (w, h) = size(&p.size)?;
    if w * h > 1080 * 1920 {
        return Err(invalid(
            "size",
            format!("{} is larger than 1080x1920 pixels", p.size),
        ));
    }
    if let Some(s) = p.layout.circle_size.as_deref() {
        if !CIRCLE_SIZES.contains(&s) && crate::jobs::layout::circle_percent(s).is_none() {
            return Err(invalid(
                "circle_size",
                format!("'{s}' is not one of s, m or l, or a percentage of m from 50 to 160"),
            ));
        }
    }
    if let Some(ms) = p.layout.background_start_ms {
        if ms > MAX_BACKGROUND_START_MS {
            return Err(invalid(
                "background_start_ms",
                format!("{ms} is not from 0 to {MAX_BACKGROUND_START_MS} ms"),
            ));
        }
    }
    if let Some(c) = p.layout.ring_color.as_deref() {
        if !is_hex_colour(c) {
            return Err(invalid(
                "ring_color",
                format!("'{c}' is not a colour like #FFD600"),
            ));
        }
    }
    if !position_shape(&p.layout.position) {
        return Err(invalid(
            "position",
            format!(
                "'{}' is not one of bottom-left, bottom-right, top-left, top-right, center or X,Y (digits)",
                p.layout.position
            ),
        ));
    }
    let _: media::Position = p
        .layout
        .position
        .parse()
        .map_err(|e: media::MediaError| invalid("position", e.to_string()))?;
    // Placed as the composite will place it (the circle, or the head alone), in the safe zone.
    // A size that does not fit where the default size would is the size's fault.
    if let Err(e) = p.layout.place(w, h) {
        let default_fits = crate::jobs::Layout {
            circle_size: None,
            ..p.layout.clone()
        }
        .place(w, h)
        .is_ok();
        let field = if default_fits {
            "circle_size"
        } else {
            "position"
        };
        return Err(invalid(field, e.to_string()));
    }
    check_formats(p, (w, h))?;
    check_brand(p)
}

/// A language version's group: a short key of letters and digits, 1 to 3 versions, and a
/// language versions are made in.
fn check_versions(p: &UgcParams) -> Result<(), Invalid> {
    let Some(v) = &p.versions else {
        return Ok(());
    };
    if v.group.is_empty()
        || v.group.len() > 32
        || !v.group.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(invalid("versions.group", "1 to 32 letters and digits"));
    }
    if !(1..=3).contains(&v.of) {
        return Err(invalid("versions.of", "1 to 3 versions"));
    }
    if !["ru", "kk", "en"].contains(&p.language_code()) {
        return Err(invalid(
            "language",
            "language versions are made in ru, kk or en",
        ));
    }
    Ok(())
}

/// The latest a background may start at, in ms (a background is at most a minute).
pub const MAX_BACKGROUND_START_MS: u32 = 60_000;

/// A colour exactly as the schema says: `#` and six hex digits.
pub fn is_hex_colour(c: &str) -> bool {
    c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|d| d.is_ascii_hexdigit())
}

/// A variant's letter (`A`, `B`, `C`).
fn check_variant(p: &UgcParams) -> Result<(), Invalid> {
    match p.variant.as_deref() {
        Some(v) if !crate::orders::campaign::LABELS.contains(&v) => {
            Err(invalid("variant", format!("'{v}' is not A, B or C")))
        }
        _ => Ok(()),
    }
}

/// A talking-head tier the table names.
pub fn check_head_tier(p: &UgcParams, prices: &PriceTable) -> Result<(), Invalid> {
    match p.head_tier.as_deref() {
        Some(t) if prices.head_tier(Some(t)).is_none() => Err(invalid(
            "head_tier",
            format!(
                "'{t}' is not one of {}",
                prices
                    .head_tiers()
                    .iter()
                    .map(|t| t.name.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        _ => Ok(()),
    }
}

/// An end card's texts: the name, the price, the call to action (characters).
pub const MAX_END_CARD_TITLE: usize = 80;
pub const MAX_END_CARD_PRICE: usize = 30;
pub const MAX_END_CARD_ACTION: usize = 100;
/// A logo's largest file.
pub const MAX_LOGO_BYTES: i64 = 2 * 1024 * 1024;

/// The brand: an accent colour as `#RRGGBB`, an end card with a name, a call to action and
/// 1.5–2.5 s (the files are checked as the order's other files are).
fn check_brand(p: &UgcParams) -> Result<(), Invalid> {
    let Some(brand) = &p.brand else {
        return Ok(());
    };
    if let Some(accent) = &brand.accent {
        if !is_hex_colour(accent) {
            return Err(invalid(
                "accent",
                format!("'{accent}' is not a colour like #FFD600"),
            ));
        }
    }
    if let Some(card) = &brand.end_card {
        text("title", &card.title, MAX_END_CARD_TITLE)?;
        text("call_to_action", &card.call_to_action, MAX_END_CARD_ACTION)?;
        if let Some(price) = &card.price {
            if price.chars().count() > MAX_END_CARD_PRICE || price.chars().any(char::is_control) {
                return Err(invalid(
                    "price",
                    format!("at most {MAX_END_CARD_PRICE} characters"),
                ));
            }
        }
        if !media::END_CARD_SECONDS.contains(&card.seconds) {
            return Err(invalid("seconds", "an end card lasts 1.5 to 2.5 s"));
        }
    }
    Ok(())
}

/// More formats: known ones, each once, not the main size's own, at most three — and the
/// circle must fit each as the composite will place it.
fn check_formats(p: &UgcParams, main: (usize, usize)) -> Result<(), Invalid> {
    use crate::jobs::layout::{format_of, FORMATS, MAX_MORE_FORMATS};
    let formats = &p.layout.formats;
    if formats.len() > MAX_MORE_FORMATS {
        return Err(invalid(
            "formats",
            format!("at most {MAX_MORE_FORMATS} more formats"),
        ));
    }
    for (i, f) in formats.iter().enumerate() {
        if !FORMATS.contains(&f.as_str()) {
            return Err(invalid(
                "formats",
                format!("'{f}' is not one of 9:16, 1:1, 16:9 or 4:5"),
            ));
        }
        if formats[..i].contains(f) || format_of(main.0, main.1) == Some(f.as_str()) {
            return Err(invalid(
                "formats",
                format!("{f} is asked twice (the video's own size is {})", p.size),
            ));
        }
    }
    for (f, w, h) in p.layout.more_outputs(main) {
        p.layout
            .place_format(main, w, h)
            .map_err(|e| invalid("formats", format!("{f}: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ugc_spec(edit: impl FnOnce(&mut UgcParams)) -> JobSpec {
        let mut p: UgcParams = serde_json::from_value(serde_json::json!({
            "portrait": "p.jpg", "background": "b.mp4", "script": "Hello there"
        }))
        .unwrap();
        edit(&mut p);
        JobSpec::UgcVideo(p)
    }

    #[test]
    fn every_field_the_composite_reads_is_checked_by_name() {
        let prices = PriceTable::default_table();
        let field = |spec: JobSpec| check(&spec, &prices).err().map(|e| e.field);
        assert_eq!(field(ugc_spec(|_| {})), None);
        assert_eq!(
            field(ugc_spec(|p| p.layout.position = "middle".into())),
            Some("position")
        );
        assert_eq!(
            field(ugc_spec(|p| p.layout.position = "700,1200".into())),
            Some("position")
        );
        assert_eq!(
            field(ugc_spec(|p| p.layout.position = "10,20".into())),
            None
        );
        // Only the shapes the API's schema describes (the composite's parser is lenient).
        for loose in [" center", "Center", "+5,7", "5, 7", "123456,1"] {
            assert_eq!(
                field(ugc_spec(|p| p.layout.position = loose.into())),
                Some("position"),
                "{loose}"
            );
        }
        assert_eq!(
            field(ugc_spec(|p| p.size = "721x1280".into())),
            Some("size")
        );
        assert_eq!(
            field(ugc_spec(|p| p.size = "1920x1920".into())),
            Some("size")
        );
        // An `l` circle where an `m` one would fit is the size's fault.
        assert_eq!(
            field(ugc_spec(|p| {
                p.layout.position = "350,700".into();
                p.layout.circle_size = Some("l".into());
            })),
            Some("circle_size")
        );
        assert_eq!(
            field(ugc_spec(|p| p.layout.circle_size = Some("xl".into()))),
            Some("circle_size")
        );
        assert_eq!(
            field(ugc_spec(|p| p.voice = Some("../../etc".into()))),
            Some("voice")
        );
        assert_eq!(
            field(ugc_spec(|p| p.voice = Some("openai:coral".into()))),
            None
        );
        assert_eq!(
            field(ugc_spec(|p| p.voice = Some("21m00Tcm4TlvDq8ikWAM".into()))),
            None
        );
        assert_eq!(field(ugc_spec(|p| p.language = "ru+f3".into())), None);
        assert_eq!(
            field(ugc_spec(|p| p.language = "-v evil".into())),
            Some("language")
        );
        assert_eq!(
            field(ugc_spec(|p| p.script = "x".repeat(301))),
            Some("script")
        );
        assert_eq!(field(ugc_spec(|p| p.script = "  ".into())), Some("script"));
        assert_eq!(
            field(ugc_spec(|p| p.force_recompose = true)),
            Some("force_recompose")
        );
        let video = |tier: &str, seconds: u32, size: &str| {
            JobSpec::TextToVideo(GenerateParams {
                prompt: "a cat".into(),
                tier: tier.into(),
                seconds,
                size: size.into(),
                image: None,
                improve_prompt: false,
            })
        };
        assert_eq!(field(video("fast", 8, "720x1280")), None);
        assert_eq!(field(video("fast", 7, "720x1280")), Some("seconds"));
        assert_eq!(field(video("fast", 8, "1080x1920")), Some("tier"));
        assert_eq!(field(video("gold", 8, "720x1280")), Some("tier"));
        assert_eq!(field(video("fast", 8, "big")), Some("size"));
        // A size that would be priced as 720p but made larger is not offered.
        assert_eq!(field(video("quality", 8, "1080X1920")), Some("size"));
        assert_eq!(field(video("quality", 8, "1078x1918")), Some("size"));
        assert_eq!(field(video("quality", 8, "1080x1920")), None);
        // The head alone (no background) is placed too.
        assert_eq!(
            field(ugc_spec(|p| {
                p.background = None;
                p.layout.position = "700,1200".into();
            })),
            Some("position")
        );
    }

    #[test]
    fn formats_and_the_brand_are_checked_by_name() {
        let prices = PriceTable::default_table();
        let field = |spec: JobSpec| check(&spec, &prices).err().map(|e| e.field);
        for bad in [
            vec!["2:3"],
            vec!["1:1", "1:1"],
            vec!["9:16"],
            vec!["1:1", "16:9", "4:5", "4:5"],
        ] {
            assert_eq!(
                field(ugc_spec(
                    |p| p.layout.formats = bad.iter().map(|s| s.to_string()).collect()
                )),
                Some("formats"),
                "{bad:?}"
            );
        }
        assert_eq!(
            field(ugc_spec(
                |p| p.layout.formats = vec!["1:1".into(), "16:9".into(), "4:5".into()]
            )),
            None
        );
        let brand = |edit: fn(&mut crate::jobs::Brand)| {
            ugc_spec(move |p| {
                let mut b = crate::jobs::Brand {
                    logo: Some("uploads/logo.png".into()),
                    accent: Some("#FF3B6B".into()),
                    end_card: Some(crate::jobs::EndCardSpec {
                        photo: None,
                        title: "Крем".into(),
                        price: Some("12 990 ₸".into()),
                        call_to_action: "Заказывайте".into(),
                        seconds: 2.0,
                    }),
                };
                edit(&mut b);
                p.brand = Some(b);
            })
        };
        assert_eq!(field(brand(|_| {})), None);
        assert_eq!(
            field(brand(|b| b.accent = Some("red".into()))),
            Some("accent")
        );
        // Six bytes, not six hex digits: refused, not sliced inside a character.
        assert_eq!(
            field(brand(|b| b.accent = Some("#aéaaa".into()))),
            Some("accent")
        );
        assert_eq!(
            field(brand(|b| b.end_card.as_mut().unwrap().seconds = 3.0)),
            Some("seconds")
        );
        assert_eq!(
            field(brand(|b| b.end_card.as_mut().unwrap().title = "  ".into())),
            Some("title")
        );
        assert_eq!(
            field(brand(
                |b| b.end_card.as_mut().unwrap().price = Some("9".repeat(31))
            )),
            Some("price")
        );
    }
}
