//! `probe`, `fit-image`, `faces` and `compose`: thin wrappers over the media crate.
use super::{print_json, progress::frame_bar, CliError};
use clap::Args;
use media::parse_size;
use media::parse_word_timings;
use media::{parse_hex_color, Ring};
use media::{Captions, ComposeRequest, FitMode, MediaError, OutputFormat, Position};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

#[derive(Args)]
pub struct ProbeArgs {
    /// Video, audio or image file.
    file: PathBuf,
}

pub fn probe(a: ProbeArgs) -> Result<(), CliError> {
    print_json(&media::probe(&a.file)?)
}

#[derive(Args)]
pub struct FitImageArgs {
    /// JPEG, PNG, WebP, GIF (first frame), BMP or TIFF.
    input: PathBuf,
    /// Exact output size, e.g. 720x1280.
    #[arg(long, value_name = "WxH")]
    size: String,
    /// cover: fill the frame, cropping around the largest face (or the centre);
    /// contain: show the whole image over a blurred fill.
    #[arg(long, default_value = "cover", value_parser = ["cover", "contain"])]
    mode: String,
    /// Output file; .jpg/.jpeg writes JPEG, .png writes PNG.
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
}

pub fn fit_image(a: FitImageArgs) -> Result<(), CliError> {
    let (w, h) = parse_any_size(&a.size)?;
    let mode: FitMode = a.mode.parse()?;
    let report = media::fit_image_to_frame(&a.input, &a.output, w as u32, h as u32, mode)?;
    print_json(&report)
}

fn parse_any_size(s: &str) -> Result<(usize, usize), CliError> {
    let bad = || CliError::BadInput(format!("size '{s}' is not WIDTHxHEIGHT, e.g. 720x1280."));
    let (w, h) = s
        .to_ascii_lowercase()
        .split_once('x')
        .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
        .ok_or_else(bad)?;
    Ok((w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?))
}

#[derive(Args)]
pub struct FacesArgs {
    /// An image (boxes with scores) or a video (sampled detections and the smoothed track).
    file: PathBuf,
}

pub fn faces(a: FacesArgs) -> Result<(), CliError> {
    if media::looks_like_image(&a.file) {
        let (width, height, faces) = media::faces_in_image(&a.file)?;
        return print_json(
            &serde_json::json!({ "kind": "image", "width": width, "height": height, "faces": faces }),
        );
    }
    let v = media::track_faces_in_video(&a.file, None)?;
    print_json(&serde_json::json!({ "kind": "video", "result": v }))
}

#[derive(Args)]
pub struct ComposeArgs {
    /// Background clip (any common container/codec; rotation and variable frame rate handled).
    #[arg(long, value_name = "BG")]
    background: PathBuf,
    /// Talking-head video; its audio is the voice unless --voice is given.
    #[arg(long, value_name = "TH")]
    talking_head: PathBuf,
    /// Separate voice audio file (sets the output duration).
    #[arg(long, value_name = "AUDIO")]
    voice: Option<PathBuf>,
    /// Script to burn in as short phrases timed across the speech.
    #[arg(long, value_name = "TEXT", conflicts_with = "captions_file")]
    captions: Option<String>,
    /// Captions from a file: word timings as JSON ([{"word","start","end"}] or an ElevenLabs
    /// alignment), or plain text.
    #[arg(long, value_name = "FILE")]
    captions_file: Option<PathBuf>,
    /// Caption look: classic (outlined), boxed (translucent box), karaoke (the spoken word
    /// lit in the accent colour), bold-pop (1–3 upper-case words at a time).
    #[arg(long, default_value = "karaoke", value_name = "STYLE")]
    caption_style: String,
    /// Karaoke highlight colour, e.g. #FFD600.
    #[arg(long, value_name = "HEX")]
    caption_color: Option<String>,
    /// Keep captions and the circle out of the interface a platform draws over vertical
    /// videos: reels (top 14 %, bottom 35 %, sides 6 %), tiktok, shorts, or none.
    #[arg(long, default_value = "reels", value_name = "ZONE")]
    safe_zone: String,
    /// Output size: 720x1280, 1080x1920, 720x720, 1080x1080, 1280x720, 1920x1080 (any even
    /// size 128–1920). Give one per -o to make several formats in one pass (default 720x1280).
    #[arg(long, value_name = "WxH")]
    size: Vec<String>,
    /// bottom-left, bottom-right, top-left, top-right, center, or X,Y (top-left of the circle's square).
    #[arg(long, default_value = "bottom-left", allow_hyphen_values = true)]
    position: String,
    /// Circle diameter in pixels (default 45 % of the output width).
    #[arg(long, value_name = "PX")]
    diameter: Option<usize>,
    /// Ring colour around the circle, e.g. #FFFFFF.
    #[arg(long, value_name = "HEX")]
    ring_color: Option<String>,
    /// Ring width in pixels (default 6 when a colour is given).
    #[arg(long, value_name = "PX")]
    ring_width: Option<usize>,
    /// Volume of the background's own audio under the voice.
    #[arg(long, default_value_t = 0.15, value_name = "F")]
    bg_volume: f32,
    /// Size cap of the output in MB (Telegram bots may upload 50 MB).
    #[arg(long, default_value_t = 50.0, value_name = "N")]
    max_mb: f64,
    /// x264 constant rate factor (lower is better and bigger).
    #[arg(long, default_value_t = 23)]
    crf: u8,
    /// x264 preset.
    #[arg(long, default_value = "veryfast")]
    preset: String,
    /// Try the NVIDIA hardware encoder first (falls back to libx264 when the GPU has none).
    #[arg(long)]
    gpu_encoder: bool,
    /// Output MP4. Repeat it with a --size each (`-o a.mp4 --size 720x1280 -o b.mp4 --size
    /// 1080x1080`) and every format is made in one pass: the background and the head are
    /// decoded once and the face tracked once. The circle keeps its corner (or its spot, as a
    /// fraction of the frame) in each.
    #[arg(short, long, value_name = "OUT.mp4", required = true)]
    output: Vec<PathBuf>,
    /// JPEG thumbnail of the first output (default: each output's path with .jpg).
    #[arg(long)]
    thumbnail: Option<PathBuf>,
    /// Write a JSON report: time per stage, face track summary, output metadata.
    #[arg(long, value_name = "REPORT.json")]
    report: Option<PathBuf>,
}

pub fn compose(a: ComposeArgs) -> Result<(), CliError> {
    let sizes = match a.size.len() {
        0 => vec!["720x1280".to_string(); a.output.len()],
        n if n == a.output.len() => a.size.clone(),
        n => {
            return Err(CliError::BadInput(format!(
                "{n} --size for {} -o: give one size per output.",
                a.output.len()
            )))
        }
    };
    let sizes = sizes
        .iter()
        .map(|s| parse_size(s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut req = ComposeRequest::new(&a.background, &a.talking_head, &a.output[0]);
    (req.width, req.height) = sizes[0];
    req.voice = a.voice;
    req.position = a.position.parse::<Position>()?;
    req.diameter = a.diameter;
    req.ring = match (a.ring_color.as_deref(), a.ring_width) {
        (None, None) => None,
        (color, width) => {
            let rgb = match color {
                Some(c) => parse_hex_color(c).ok_or_else(|| {
                    CliError::BadInput(format!(
                        "ring colour '{c}' is not a hex colour like #FFFFFF."
                    ))
                })?,
                None => (255, 255, 255),
            };
            Some(Ring {
                rgb,
                width: width.unwrap_or(6),
            })
        }
    };
    req.caption_style = a.caption_style.parse()?;
    req.safe_zone = a.safe_zone.parse()?;
    if let Some(c) = a.caption_color.as_deref() {
        req.caption_accent = parse_hex_color(c).ok_or_else(|| {
            CliError::BadInput(format!(
                "caption colour '{c}' is not a hex colour like #FFD600."
            ))
        })?;
    }
    req.bg_volume = a.bg_volume;
    if !(a.max_mb > 0.0 && a.max_mb <= 4000.0) {
        return Err(CliError::BadInput(format!(
            "--max-mb {} must be between 0 and 4000.",
            a.max_mb
        )));
    }
    req.max_bytes = (a.max_mb * 1024.0 * 1024.0) as u64;
    req.crf = a.crf.min(51);
    req.preset = a.preset;
    req.try_gpu_encoder = a.gpu_encoder;
    req.thumbnail = a.thumbnail;
    req.captions = match (a.captions, a.captions_file) {
        (Some(text), _) => Some(Captions::Script(text)),
        (None, Some(file)) => Some(read_captions_file(&file)?),
        (None, None) => None,
    };
    req.more_outputs = sizes
        .iter()
        .zip(&a.output)
        .skip(1)
        .map(|(&(w, h), out)| OutputFormat::carried_from(&req, w, h, out))
        .collect();
    let bar = frame_bar("compose");
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let cancel = AtomicBool::new(false);
    let report = media::compose(&req, &progress, &cancel)?;
    bar.finish_and_clear();
    if let Some(path) = a.report {
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| CliError::Internal(e.to_string()))?;
        std::fs::write(&path, text)?;
    }
    eprintln!(
        "wrote {} ({}x{}, {:.2} s, {:.1} MB{}) and {}",
        report.output.display(),
        report.width,
        report.height,
        report.duration_s,
        report.size_bytes as f64 / 1_048_576.0,
        if report.passes > 1 {
            format!(", encoded {} times to fit --max-mb", report.passes)
        } else {
            String::new()
        },
        report.thumbnail.display()
    );
    for more in &report.more_outputs {
        eprintln!(
            "wrote {} ({}x{}, {:.1} MB) and {}",
            more.output.display(),
            more.width,
            more.height,
            more.size_bytes as f64 / 1_048_576.0,
            more.thumbnail.display()
        );
    }
    Ok(())
}

fn read_captions_file(file: &std::path::Path) -> Result<Captions, CliError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        CliError::from(MediaError::bad_input(
            file,
            media::InputProblem::Unreadable(e.to_string()),
        ))
    })?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        return Ok(Captions::Words(parse_word_timings(&text).map_err(|e| {
            CliError::BadInput(format!("{}: {e}.", file.display()))
        })?));
    }
    Ok(Captions::Script(text))
}
