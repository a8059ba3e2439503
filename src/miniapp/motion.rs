//! "▶ 3 s preview": the first seconds of the draft as it will move — its previewed speech,
//! the character animated offline (no provider, no charge), the background, the circle where
//! the page put it, the captions — at 360 px wide, watermarked "PREVIEW". At most
//! [`PER_HOUR`] made per user an hour; the same layout is served from the store.
use super::AppError;
use crate::bot::app::BotApp;
use crate::bot::dialogue::Dialogue;
use crate::storage::ObjectStore;
use axum::http::StatusCode;
use std::path::{Path, PathBuf};

/// How long a motion preview runs.
pub const SECONDS: f64 = 3.0;
/// Its frame: 9:16 at 360 px wide.
pub const SIZE: (usize, usize) = (360, 640);
/// Motion previews a user may have made an hour (served ones are free).
pub const PER_HOUR: i64 = 10;

const MARK: &[u8] = include_bytes!("../../assets/miniapp/preview-mark.png");

/// What a motion preview is made from.
pub struct Inputs {
    pub portrait: PathBuf,
    pub background: Option<PathBuf>,
    pub voice: PathBuf,
    pub words: Option<Vec<media::TimedWord>>,
    pub script: String,
    pub layout: crate::jobs::Layout,
    /// The draft's frame (the layout is carried from it to the preview's).
    pub size: (usize, usize),
}

/// The draft's motion preview as MP4 bytes.
pub async fn preview(app: &BotApp, user: i64, state: &Dialogue) -> Result<Vec<u8>, AppError> {
    let subject = crate::bot::ugc::layout::subject(state).ok_or_else(AppError::not_found)?;
    let speech = speech_of(app, user, state).await?.ok_or_else(|| {
        AppError::new(
            StatusCode::CONFLICT,
            "no-speech",
            "the speech is not made yet",
        )
    })?;
    let layout = subject.layout.layout.clone();
    let cache = format!(
        "previews/{}.mp4",
        crate::storage::sha256_hex(
            serde_json::json!([
                subject.character,
                subject.background,
                speech.voice,
                speech.alignment,
                subject.script,
                subject.size,
                layout,
            ])
            .to_string()
            .as_bytes()
        )
    );
    if let Ok(bytes) = app.storage.get_bytes(&cache).await {
        return Ok(bytes);
    }
    let window = crate::db::limits::hit(
        &app.db,
        "app-preview",
        &user.to_string(),
        3_600_000,
        PER_HOUR,
    )
    .await?;
    if window.hits > PER_HOUR {
        return Err(AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "preview-limit",
            format!("{}", window.ends_in_ms / 60_000 + 1),
        ));
    }
    let scratch = crate::storage::ScratchDir::new(app.work_dir.join(format!(
        "app-preview-{user}-{}-{}",
        crate::db::now_ms(),
        crate::db::api_keys::random_hex(4)
    )))?;
    let bytes = make(app, scratch.path(), &subject, &speech, layout).await?;
    app.storage
        .put_bytes(&cache, bytes.clone(), "video/mp4")
        .await?;
    crate::storage::cache::keep_for(&app.db, &cache, crate::storage::cache::DEFAULT_TTL).await?;
    Ok(bytes)
}

/// The draft's speech: the previewed one of a new order, or a finished video's own.
async fn speech_of(
    app: &BotApp,
    user: i64,
    state: &Dialogue,
) -> Result<Option<crate::jobs::Checkpoints>, AppError> {
    Ok(match state {
        Dialogue::UgcConfirm { speech, .. } => {
            speech.as_deref().map(crate::jobs::Checkpoints::from_json)
        }
        Dialogue::OverlayEdit { job, .. } => {
            crate::pipelines::recompose::recompose_of(&app.db, user, *job)
                .await?
                .map(|(_, carried)| carried)
        }
        _ => None,
    }
    .filter(|c| c.voice.is_some()))
}

async fn make(
    app: &BotApp,
    dir: &Path,
    subject: &crate::bot::ugc::layout::Still<'_>,
    speech: &crate::jobs::Checkpoints,
    layout: crate::jobs::Layout,
) -> Result<Vec<u8>, AppError> {
    let portrait = dir.join("portrait");
    app.storage
        .get_to_file(subject.character, &portrait)
        .await?;
    let background = match subject.background {
        Some(key) => {
            let path = dir.join("background");
            app.storage.get_to_file(key, &path).await?;
            Some(path)
        }
        None => None,
    };
    let voice = dir.join("voice");
    let voice_key = speech.voice.as_deref().unwrap_or_default();
    app.storage.get_to_file(voice_key, &voice).await?;
    let words = match &speech.alignment {
        Some(key) => {
            let bytes = app.storage.get_bytes(key).await?;
            media::parse_word_timings(&String::from_utf8_lossy(&bytes)).ok()
        }
        None => None,
    };
    let inputs = Inputs {
        portrait,
        background,
        voice,
        words,
        script: subject.script.to_string(),
        layout,
        size: media::parse_size(subject.size)?,
    };
    let out = dir.join("preview.mp4");
    let target = out.clone();
    let started = std::time::Instant::now();
    tokio::task::spawn_blocking(move || render(&inputs, &target))
        .await
        .map_err(|e| AppError::from(Box::new(e) as crate::bot::app::HandlerError))??;
    tracing::info!(
        took_ms = started.elapsed().as_millis() as u64,
        "motion preview made"
    );
    Ok(tokio::fs::read(&out).await?)
}

/// Renders the preview of `inputs` to `out` (blocking): the voice cut to [`SECONDS`], the
/// portrait animated to it, composed at [`SIZE`] with the layout carried from the draft's
/// frame and the watermark where a logo would go.
pub fn render(inputs: &Inputs, out: &Path) -> media::Result<()> {
    let dir = out.parent().unwrap_or(Path::new("."));
    let mut voice = media::decode_audio(&inputs.voice)?
        .ok_or_else(|| media::MediaError::BadParameter("the speech has no audio".into()))?;
    let full = voice.duration_s();
    let frames = voice.frames();
    if full > SECONDS && frames > 0 {
        let keep = (frames as f64 * SECONDS / full) as usize;
        voice.samples.truncate(keep * 2);
    }
    let head = dir.join("head.mp4");
    let portrait = media::load_image(&inputs.portrait)?;
    media::synth::animate_portrait(&portrait, &voice, 288, &head)?;
    let mark = dir.join("mark.png");
    std::fs::write(&mark, MARK).map_err(|e| media::MediaError::Internal(e.to_string()))?;
    let (w, h) = SIZE;
    let background = inputs.background.clone().unwrap_or_else(|| head.clone());
    let mut req = media::ComposeRequest::new(&background, &head, out);
    req.circle = inputs.background.is_some();
    if inputs.background.is_some() {
        req.background_start_s = inputs.layout.background_start_s();
    }
    req.width = w;
    req.height = h;
    let placed = inputs.layout.place_format(inputs.size, w, h)?;
    req.position = placed.position;
    req.diameter = Some(placed.diameter);
    req.ring = placed.ring;
    req.caption_style = placed.caption_style;
    req.safe_zone = placed.safe_zone;
    req.logo = Some(mark);
    req.crf = 30;
    req.preset = "ultrafast".into();
    req.captions = match (inputs.layout.captions, &inputs.words) {
        (false, _) => None,
        (true, Some(words)) => Some(media::Captions::Words(
            words
                .iter()
                .filter(|w| w.start < SECONDS)
                .cloned()
                .collect(),
        )),
        // Spread over the whole speech, as the video will be, then cut to the preview.
        (true, None) => Some(media::Captions::Words(
            media::estimate_word_timings(&inputs.script, &[(0.0, full)])
                .into_iter()
                .filter(|w| w.start < SECONDS)
                .collect(),
        )),
    };
    let never = std::sync::atomic::AtomicBool::new(false);
    media::compose(&req, &|_, _| {}, &never)?;
    Ok(())
}
