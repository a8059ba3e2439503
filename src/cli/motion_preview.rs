//! `motion-preview`: the composer's free "▶ 3 s preview" from files — what the Mini App makes
//! for a draft (the voice cut to 3 s, the portrait animated offline, 360×640, watermarked),
//! for operators and `make bench`.
use super::CliError;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct MotionPreviewArgs {
    /// The character's portrait (JPEG or PNG).
    #[arg(long)]
    portrait: PathBuf,
    /// The speech (any audio, or a video with sound); its first 3 s are used.
    #[arg(long)]
    voice: PathBuf,
    /// The background clip (none: the talking head fills the frame).
    #[arg(long)]
    background: Option<PathBuf>,
    /// The script, for the captions (spread over the whole speech, then cut to 3 s).
    #[arg(long, default_value = "")]
    script: String,
    /// Where the circle goes on the 720×1280 draft: bottom-left, …, or X,Y.
    #[arg(long, default_value = "bottom-left")]
    position: String,
    /// Where the preview goes.
    #[arg(short, long, default_value = "preview.mp4")]
    output: PathBuf,
}

pub fn run(a: MotionPreviewArgs) -> Result<(), CliError> {
    let layout = reelforge::jobs::Layout {
        position: a.position,
        captions: !a.script.trim().is_empty(),
        ..reelforge::jobs::Layout::new_order()
    };
    layout.place(720, 1280)?;
    let dir = tempdir(&a.output)?;
    let out = dir.join("preview.mp4");
    let inputs = reelforge::miniapp::motion::Inputs {
        portrait: a.portrait,
        background: a.background,
        voice: a.voice,
        words: None,
        script: a.script,
        layout,
        size: (720, 1280),
    };
    let started = std::time::Instant::now();
    let made = reelforge::miniapp::motion::render(&inputs, &out);
    let moved = made.map_err(CliError::from).and_then(|()| {
        std::fs::rename(&out, &a.output)
            .or_else(|_| std::fs::copy(&out, &a.output).map(|_| ()))
            .map_err(CliError::from)
    });
    let _ = std::fs::remove_dir_all(&dir);
    moved?;
    println!(
        "{} ({:.2} s)",
        a.output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A scratch folder next to the output (the preview's parts are written beside it).
fn tempdir(output: &std::path::Path) -> Result<PathBuf, CliError> {
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let dir = parent.join(format!(".motion-preview-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
