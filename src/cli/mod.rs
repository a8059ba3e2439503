//! Command-line parsing and the exit-status contract: 0 success, 2 bad input (one plain
//! sentence naming the file and the problem), 1 internal error.
mod admin;
mod bench_bot;
mod bench_queue;
mod data;
mod demo;
mod healthcheck;
mod media_commands;
mod motion_preview;
mod progress;
mod serve;
mod worker;

use clap::{Parser, Subcommand};
use media::MediaError;

#[derive(Parser)]
#[command(
    name = "reelforge",
    version,
    about = "Short AI video ads: media engine and service",
    after_help = "Examples:\n  reelforge probe clip.mov\n  reelforge fit-image photo.jpg --size 720x1280 -o frame.jpg\n  reelforge compose --background bg.mp4 --talking-head head.mp4 --captions \"Hello!\" -o ad.mp4\n  reelforge demo\n\nExit status: 0 success, 2 bad input (one sentence naming the file), 1 internal error."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print what a media file holds (container, streams, rotation, frame rate) as JSON.
    Probe(media_commands::ProbeArgs),
    /// Fit an image to an exact size (cover: crop centred on the face; contain: blurred fill).
    FitImage(media_commands::FitImageArgs),
    /// Find faces: boxes for an image; sampled detections and the smoothed track for a video.
    Faces(media_commands::FacesArgs),
    /// Composite a talking head as a face-centred circle over a background, with captions and audio.
    Compose(Box<media_commands::ComposeArgs>),
    /// Offline demo without keys: voice, animated talking head and a composed ad in out/demo.mp4.
    Demo(demo::DemoArgs),
    /// The composer's free 3 s motion preview from a portrait, a voice and a background.
    MotionPreview(motion_preview::MotionPreviewArgs),
    /// Operator tools (profit per product, …).
    Admin(admin::AdminArgs),
    /// Run queue workers alone until Ctrl-C/SIGTERM (graceful: finish or give back running jobs).
    Worker(worker::WorkerArgs),
    /// Run the HTTP server (health, metrics, Stripe webhook) and the workers until SIGTERM.
    Serve(serve::ServeArgs),
    /// Measure the job queue's own overhead (no-op jobs): jobs per second.
    BenchQueue(bench_queue::BenchQueueArgs),
    /// Measure how fast the bot answers /start from many new users (local Bot API stand-in).
    BenchBot(bench_bot::BenchBotArgs),
    /// Ask this machine's serve or worker for /health (Docker and compose health checks).
    Healthcheck(healthcheck::HealthcheckArgs),
    /// Apply the database migrations and print the schema version (serve and workers also
    /// migrate at start; an older binary refuses a newer schema).
    Migrate(data::MigrateArgs),
}

/// What went wrong, sorted by whose fault it is.
#[derive(Debug)]
pub enum CliError {
    BadInput(String),
    Internal(String),
}

impl CliError {
    pub fn message(&self) -> String {
        match self {
            Self::BadInput(m) => format!("reelforge: {m}"),
            Self::Internal(m) => format!("reelforge: internal error: {m}"),
        }
    }
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::BadInput(_) => 2,
            Self::Internal(_) => 1,
        }
    }
}

impl From<MediaError> for CliError {
    fn from(e: MediaError) -> Self {
        match e {
            MediaError::Internal(what) => Self::Internal(what),
            MediaError::Cancelled => Self::Internal("cancelled".into()),
            e @ MediaError::OverCap { .. } => Self::Internal(e.to_string()),
            bad => Self::BadInput(format!("{}.", bad.to_string().trim_end_matches('.'))),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        Self::Internal(e.to_string())
    }
}

pub fn run() -> Result<(), CliError> {
    let cli = Cli::parse();
    // MEDIA_GPU=off keeps the media commands off the GPU (serve and worker read it from
    // their configuration too).
    if std::env::var("MEDIA_GPU").is_ok_and(|v| v.trim() == "off") {
        media::set_gpu(false);
    }
    match cli.command {
        Command::Probe(a) => media_commands::probe(a),
        Command::FitImage(a) => media_commands::fit_image(a),
        Command::Faces(a) => media_commands::faces(a),
        Command::Compose(a) => media_commands::compose(*a),
        Command::Demo(a) => demo::run(a),
        Command::MotionPreview(a) => motion_preview::run(a),
        Command::Admin(a) => admin::run(a),
        // Their logging starts once the configuration (with RUST_LOG, LOG_FORMAT) is read.
        Command::Worker(a) => {
            reelforge::metrics::install();
            worker::run(a)
        }
        Command::BenchQueue(a) => bench_queue::run(a),
        Command::BenchBot(a) => bench_bot::run(a),
        Command::Healthcheck(a) => healthcheck::run(a),
        Command::Migrate(a) => data::migrate(a),
        Command::Serve(a) => {
            reelforge::metrics::install();
            serve::run(a)
        }
    }
}

pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| CliError::Internal(e.to_string()))?;
    println!("{text}");
    Ok(())
}
