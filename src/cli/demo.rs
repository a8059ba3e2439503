//! `reelforge demo`: the whole UGC path offline — fit a character portrait, speak a script
//! with espeak-ng, animate the portrait into a talking head, compose it over a background with
//! captions — and say how long each stage took.
use super::{progress::frame_bar, CliError};
use clap::Args;
use media::{Captions, ComposeRequest, FitMode};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

static PORTRAIT: &[u8] = include_bytes!("../../assets/samples/astronaut.jpg");

const SCRIPT_RU: &str = "Привет! Это reelforge. Загрузите свой фон, выберите персонажа, и через пару секунд готов ролик с субтитрами.";

#[derive(Args)]
pub struct DemoArgs {
    /// Folder for the demo files.
    #[arg(long, default_value = "out")]
    out_dir: PathBuf,
    /// Script to speak and caption.
    #[arg(long, default_value = SCRIPT_RU)]
    script: String,
    /// espeak-ng voice.
    #[arg(long, default_value = "ru")]
    voice: String,
}

pub fn run(a: DemoArgs) -> Result<(), CliError> {
    std::fs::create_dir_all(&a.out_dir)?;
    let dir = &a.out_dir;
    let mut timings: Vec<(&str, f64)> = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &'static str, timings: &mut Vec<(&str, f64)>| {
        timings.push((name, clock.elapsed().as_secs_f64()));
        clock = Instant::now();
    };

    let portrait_in = dir.join("demo-portrait.jpg");
    std::fs::write(&portrait_in, PORTRAIT)?;
    let character = dir.join("demo-character.jpg");
    media::fit_image_to_frame(&portrait_in, &character, 720, 720, FitMode::Cover)?;
    lap("fit character image", &mut timings);

    let voice_wav = dir.join("demo-voice.wav");
    speak(&a.script, &a.voice, &voice_wav)?;
    lap("voice (espeak-ng)", &mut timings);

    let voice = media::decode_audio(&voice_wav)?
        .ok_or_else(|| CliError::Internal("espeak-ng wrote no audio".into()))?;
    let portrait = media::load_image(&character)?;
    let head = dir.join("demo-talking-head.mp4");
    media::synth::animate_portrait(&portrait, &voice, 720, &head)?;
    lap("animate talking head", &mut timings);

    let background = dir.join("demo-background.mp4");
    media::synth::moving_background(720, 1280, (voice.duration_s() * 0.6).max(2.0), &background)?;
    lap("sample background", &mut timings);

    let output = dir.join("demo.mp4");
    let mut req = ComposeRequest::new(&background, &head, &output);
    req.captions = Some(Captions::Script(a.script.clone()));
    req.caption_style = media::CaptionStyle::Karaoke;
    req.safe_zone = media::SafeZone::Reels;
    req.ring = Some(media::Ring {
        rgb: (255, 255, 255),
        width: 6,
    });
    let bar = frame_bar("compose");
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let report = media::compose(&req, &progress, &AtomicBool::new(false))?;
    bar.finish_and_clear();
    lap("compose", &mut timings);

    // A still of each caption style over the same frame, for comparison.
    let mut stills = Vec::new();
    for style in media::CaptionStyle::ALL {
        let still = dir.join(format!("demo-style-{style}.jpg"));
        media::layout_preview(&media::LayoutPreview {
            background: Some(background.clone()),
            background_start_s: 0.0,
            portrait: character.clone(),
            caption: Some(a.script.clone()),
            caption_style: style,
            safe_zone: media::SafeZone::Reels,
            width: 720,
            height: 1280,
            position: media::Position::BottomLeft,
            diameter: None,
            ring: req.ring,
            logo: None,
            output: still.clone(),
        })?;
        stills.push(still);
    }
    lap("caption style stills", &mut timings);

    println!("demo video: {}", absolute(&output).display());
    println!("thumbnail:  {}", absolute(&report.thumbnail).display());
    println!(
        "output: {}x{}, {:.2} s, {:.2} MB, face track: {} detections in {} samples{}",
        report.width,
        report.height,
        report.duration_s,
        report.size_bytes as f64 / 1_048_576.0,
        report.face_track.detections,
        report.face_track.samples,
        if report.face_track.fallback_center {
            " (no face: centre used)"
        } else {
            ""
        }
    );
    let area = report.safe_area;
    println!(
        "captions: {} in {} phrases; safe zone {}: free area x {}–{}, y {}–{}; circle at ({}, {}) Ø {} px; every caption block inside: {}",
        report.caption_style,
        report.captions.len(),
        report.safe_zone,
        area.left,
        area.right,
        area.top,
        area.bottom,
        report.circle.x,
        report.circle.y,
        report.circle.diameter,
        report.caption_boxes.iter().all(|b| b.x >= area.left as i64
            && b.x + b.width as i64 <= area.right as i64
            && b.y >= area.top as i64
            && b.y + b.height as i64 <= area.bottom as i64),
    );
    for still in &stills {
        println!("style still: {}", absolute(still).display());
    }
    println!(
        "video: decoded on {}, encoded with {} (MEDIA_GPU={})",
        report.decoder,
        report.encoder,
        if media::gpu_enabled() { "auto" } else { "off" }
    );
    if let Some(l) = report.loudness {
        println!(
            "audio: {:.1} LUFS mixed → {:.1} LUFS delivered, true peak {:.1} dBTP (background ducked 12 dB under the voice)",
            l.before_lufs, l.after_lufs, l.true_peak_db
        );
    }
    for (stage, secs) in &timings {
        println!("  {stage:<22} {secs:>6.2} s");
    }
    for s in &report.stages {
        println!("    compose/{:<14} {:>6.2} s", s.stage, s.seconds);
    }
    Ok(())
}

fn speak(script: &str, voice: &str, out: &Path) -> Result<(), CliError> {
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "150", "-w"])
        .arg(out)
        .arg(script)
        .status()
        .map_err(|e| {
            CliError::Internal(format!(
                "cannot run espeak-ng ({e}); install it with `make setup`"
            ))
        })?;
    if !status.success() {
        return Err(CliError::Internal(format!(
            "espeak-ng failed with {status}"
        )));
    }
    Ok(())
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}
