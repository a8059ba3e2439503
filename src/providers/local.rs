//! The `local` provider set: every product made offline, with no keys and no network —
//! espeak-ng speech, a talking head animated from the portrait, a clip made from an image.
//! The demo and the tests use it, `PROVIDERS=local` makes every product use it, and an
//! operator can offer it as a free preview.
use super::ProviderError;
use crate::failure::ErrorClass;
use std::path::Path;

const NAME: &str = "local";

fn internal(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::new(NAME, ErrorClass::Permanent, e.to_string())
}

fn media_error(e: media::MediaError) -> ProviderError {
    let class = if e.is_bad_input() {
        ErrorClass::BadUserInput
    } else {
        ErrorClass::Permanent
    };
    ProviderError::new(NAME, class, e.to_string())
}

/// An espeak-ng voice name: letters, digits, `+`, `-`, `_`, never starting with `-` (so it
/// can never be read as an option).
pub fn is_voice_name(voice: &str) -> bool {
    !voice.is_empty()
        && voice.len() <= 40
        && !voice.starts_with('-')
        && voice
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '_'))
}

/// Speaks `text` into a WAV file with espeak-ng (`language` such as "ru" or "en"). The text
/// goes in on standard input, never as an argument: a script like `-f/etc/passwd` is spoken
/// as those characters, not obeyed.
pub async fn speak(text: &str, language: &str, out: &Path) -> Result<(), ProviderError> {
    use tokio::io::AsyncWriteExt;
    if text.trim().is_empty() {
        return Err(ProviderError::new(
            NAME,
            ErrorClass::BadUserInput,
            "the script is empty",
        ));
    }
    if !is_voice_name(language) {
        return Err(ProviderError::new(
            NAME,
            ErrorClass::BadUserInput,
            format!("'{language}' is not a voice name"),
        ));
    }
    let mut child = tokio::process::Command::new("espeak-ng")
        .args(["-v", language, "-s", "150", "--stdin", "-w"])
        .arg(out)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| internal(format!("cannot run espeak-ng: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .await
            .map_err(|e| internal(format!("espeak-ng input: {e}")))?;
        // Closing stdin ends the text.
        drop(stdin);
    }
    let status = child
        .wait()
        .await
        .map_err(|e| internal(format!("espeak-ng: {e}")))?;
    if !status.success() {
        return Err(internal(format!("espeak-ng failed: {status}")));
    }
    Ok(())
}

/// A talking head of `portrait` lasting as long as `voice`, with the voice as its sound.
pub async fn talking_head(portrait: &Path, voice: &Path, out: &Path) -> Result<(), ProviderError> {
    let (portrait, voice, out) = (
        portrait.to_path_buf(),
        voice.to_path_buf(),
        out.to_path_buf(),
    );
    tokio::task::spawn_blocking(move || -> Result<(), ProviderError> {
        let image = media::load_image(&portrait).map_err(media_error)?;
        let speech = media::decode_audio(&voice)
            .map_err(media_error)?
            .ok_or_else(|| {
                ProviderError::new(NAME, ErrorClass::BadUserInput, "the voice has no audio")
            })?;
        media::synth::animate_portrait(&image, &speech, 720, &out).map_err(media_error)
    })
    .await
    .map_err(internal)?
}

/// A `width`×`height` clip of `seconds` from a still image.
pub async fn clip_from_image(
    image: &Path,
    width: usize,
    height: usize,
    seconds: f64,
    out: &Path,
) -> Result<(), ProviderError> {
    let (image, out) = (image.to_path_buf(), out.to_path_buf());
    tokio::task::spawn_blocking(move || -> Result<(), ProviderError> {
        let img = media::load_image(&image).map_err(media_error)?;
        media::synth::still_clip(&img, width, height, seconds, &out).map_err(media_error)
    })
    .await
    .map_err(internal)?
}
