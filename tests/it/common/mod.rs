//! Shared helpers for the end-to-end tests: the reelforge binary, fixtures synthesised with the
//! ffmpeg CLI (tests may use it as a reference tool; the product never does), and ffprobe.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const ASTRONAUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/samples/astronaut.jpg");

pub fn reelforge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reelforge"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "0")
        .output()
        .expect("run reelforge")
}

/// Runs reelforge with extra environment, asserts it succeeded and returns its standard output.
pub fn reelforge_ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_reelforge"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run reelforge");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "reelforge {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn ffprobe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            "-count_frames",
        ])
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe json")
}

pub fn stream<'a>(probe: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} stream"))
}

pub fn num(v: &serde_json::Value) -> f64 {
    v.as_str()
        .map(|s| s.parse().unwrap())
        .or_else(|| v.as_f64())
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

pub fn p(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A test-pattern background with a tone, `w`×`h`, `secs` long at `fps`.
pub fn background(dir: &Path, name: &str, w: u32, h: u32, secs: f64, fps: u32) -> PathBuf {
    let out = p(dir, name);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=s={w}x{h}:r={fps}:d={secs}"),
        "-f",
        "lavfi",
        "-i",
        &format!("sine=f=330:sample_rate=44100:d={secs}"),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        s(&out),
    ]);
    out
}

/// A talking head: the astronaut portrait (face ~80 px) gliding ±110 px left and right over a grey
/// studio wall, with a voice made of beeps at 0.5 s and every second after.
pub fn moving_head(dir: &Path, name: &str, secs: f64) -> PathBuf {
    let out = p(dir, name);
    ffmpeg(&[
        "-f", "lavfi", "-i", &format!("color=c=0x707070:s=640x480:r=30:d={secs}"),
        "-loop", "1", "-i", ASTRONAUT,
        "-f", "lavfi", "-i", &format!("sine=f=880:sample_rate=48000:d={secs}"),
        "-filter_complex",
        "[1:v]scale=400:400[f];[0:v][f]overlay=x='120+110*sin(2*PI*t/3)':y=60:shortest=1,format=yuv420p[v];\
         [2:a]volume='if(lt(mod(t-0.5,1),0.1),1,0)':eval=frame[a]",
        "-map", "[v]", "-map", "[a]", "-t", &secs.to_string(),
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", s(&out),
    ]);
    out
}

/// A lively talking head (720×960, face ~130 px): the astronaut portrait gliding ±150 px
/// with a 2 s period, ±70 px vertically, while zooming ±15 % (3 s period) — a selfie with
/// hand shake, or a lively speaker — over a grey wall, with beeps for a voice.
pub fn fast_moving_head(dir: &Path, name: &str, secs: f64) -> PathBuf {
    let out = p(dir, name);
    ffmpeg(&[
        "-f", "lavfi", "-i", &format!("color=c=0x707070:s=720x960:r=30:d={secs}"),
        "-loop", "1", "-framerate", "30", "-i", ASTRONAUT,
        "-f", "lavfi", "-i", &format!("sine=f=880:sample_rate=48000:d={secs}"),
        "-filter_complex",
        "[1:v]scale=w='trunc(640*(1+0.15*sin(2*PI*t/3))/2)*2':h=-2:eval=frame[f];\
         [0:v][f]overlay=x='40+150*sin(PI*t)-(overlay_w-640)/2':y='100+70*sin(PI*t+1)-(overlay_h-640)/2':shortest=1,format=yuv420p[v];\
         [2:a]volume='if(lt(mod(t-0.5,1),0.1),1,0)':eval=frame[a]",
        "-map", "[v]", "-map", "[a]", "-t", &secs.to_string(),
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", s(&out),
    ]);
    out
}

/// Every frame at `fps` of a video, as 8-bit grey, cropped to the given rectangle.
pub fn gray_frames(video: &Path, fps: u32, x: u32, y: u32, w: u32, h: u32) -> Vec<Vec<u8>> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args([
            "-vf",
            &format!("fps={fps},crop={w}:{h}:{x}:{y},format=gray"),
            "-f",
            "rawvideo",
            "-",
        ])
        .output()
        .expect("ffmpeg frames");
    assert!(out.status.success());
    out.stdout
        .chunks_exact((w * h) as usize)
        .map(<[u8]>::to_vec)
        .collect()
}

/// Runs `reelforge compose` on `bg` and `th` with `extra` options into `out` (and its
/// environment `env`), asserts it succeeded and returns the parsed `--report`.
pub fn compose_report(
    bg: &Path,
    th: &Path,
    extra: &[&str],
    out: &Path,
    env: &[(&str, &str)],
) -> serde_json::Value {
    let rep = out.with_extension("json");
    let mut args = vec!["compose", "--background", s(bg), "--talking-head", s(th)];
    args.extend_from_slice(extra);
    args.extend(["-o", s(out), "--report", s(&rep)]);
    reelforge_ok(&args, env);
    serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap()
}

/// Decodes one output frame at `t` seconds as 8-bit grey, cropped to the given rectangle.
pub fn gray_crop(video: &Path, t: f64, x: u32, y: u32, w: u32, h: u32) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &t.to_string(), "-i"])
        .arg(video)
        .args([
            "-frames:v",
            "1",
            "-vf",
            &format!("crop={w}:{h}:{x}:{y},format=gray"),
            "-f",
            "rawvideo",
            "-",
        ])
        .output()
        .expect("ffmpeg frame");
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), (w * h) as usize);
    out.stdout
}

/// Decodes one output frame at `t` seconds as RGB, cropped to the given rectangle.
pub fn rgb_crop(video: &Path, t: f64, x: u32, y: u32, w: u32, h: u32) -> Vec<[u8; 3]> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &t.to_string(), "-i"])
        .arg(video)
        .args([
            "-frames:v",
            "1",
            "-vf",
            &format!("crop={w}:{h}:{x}:{y},format=rgb24"),
            "-f",
            "rawvideo",
            "-",
        ])
        .output()
        .expect("ffmpeg frame");
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), (w * h * 3) as usize);
    out.stdout
        .chunks_exact(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect()
}

/// Mono 48 kHz float samples of a file's audio.
pub fn pcm(path: &Path) -> Vec<f32> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-ac", "1", "-ar", "48000", "-f", "f32le", "-"])
        .output()
        .expect("ffmpeg pcm");
    assert!(out.status.success());
    out.stdout
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Top-level MP4 boxes in file order.
pub fn mp4_boxes(path: &Path) -> Vec<String> {
    let data = std::fs::read(path).unwrap();
    let mut boxes = Vec::new();
    let mut at = 0usize;
    while at + 8 <= data.len() {
        let mut size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as u64;
        let kind = String::from_utf8_lossy(&data[at + 4..at + 8]).into_owned();
        if size == 1 {
            size = u64::from_be_bytes(data[at + 8..at + 16].try_into().unwrap());
        } else if size == 0 {
            size = (data.len() - at) as u64;
        }
        boxes.push(kind);
        at += size as usize;
    }
    boxes
}

/// RGB of one pixel of the frame at `t` (or of an image).
pub fn pixel(path: &std::path::Path, t: Option<f64>, x: u32, y: u32) -> (u8, u8, u8) {
    let seek = t
        .map(|t| vec!["-ss".to_string(), t.to_string()])
        .unwrap_or_default();
    let o = std::process::Command::new("ffmpeg")
        .args(["-v", "error"])
        .args(&seek)
        .args([
            "-i",
            s(path),
            "-frames:v",
            "1",
            "-vf",
            &format!("format=rgb24,crop=1:1:{x}:{y}"),
            "-f",
            "rawvideo",
            "-",
        ])
        .output()
        .unwrap();
    (o.stdout[0], o.stdout[1], o.stdout[2])
}

/// The bundled price table: tests of what users see read prices from it, never type them in.
pub fn prices() -> reelforge::pricing::PriceTable {
    reelforge::pricing::PriceTable::default_table()
}

/// Tokens for a video of `tier` at 720p and `seconds`.
pub fn video_price(tier: &str, seconds: u32) -> i64 {
    prices().video_tokens(tier, "720p", seconds).unwrap()
}

/// (tokens, price in tenge) of pack `i`.
pub fn pack(i: usize) -> (i64, i64) {
    let p = &prices().packs[i];
    (p.tokens, p.price_kzt)
}

/// Waits until `check` holds (polling every 50 ms); false when `timeout` passed first.
pub async fn eventually<F, Fut>(timeout: std::time::Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = std::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if std::time::Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Like [`eventually`], failing the test with `what` on timeout.
pub async fn wait_until<F, Fut>(what: &str, timeout: std::time::Duration, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    assert!(
        eventually(timeout, check).await,
        "timed out waiting for {what}"
    );
}

/// Child processes a test started, killed (by their own PIDs) when it ends.
pub struct Children(pub Vec<std::process::Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `reelforge <args>` with its log in `<dir>/<name>.log`.
pub fn spawn_reelforge(
    name: &str,
    args: &[&str],
    env: &[(String, String)],
    dir: &std::path::Path,
) -> std::process::Child {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_reelforge"));
    cmd.args(args)
        .current_dir(dir)
        .env("TMPDIR", dir)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// A `reelforge serve` process (local providers, a fake Bot API, the folder store under
/// `dir`) answering on its `base` URL; killed (by its own PID) when dropped.
pub struct LocalServe {
    child: std::process::Child,
    pub base: String,
}

impl Drop for LocalServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LocalServe {
    /// Starts `serve` on a free loopback port with `extra` settings and waits for `/health`.
    pub async fn start(
        database_url: &str,
        dir: &std::path::Path,
        telegram_api: &str,
        extra: &[(&str, &str)],
    ) -> Self {
        let port = free_port();
        let storage = dir.join("files").display().to_string();
        let addr = format!("127.0.0.1:{port}");
        let mut env: Vec<(String, String)> = [
            ("DATABASE_URL", database_url),
            ("STORAGE_URL", storage.as_str()),
            ("TELEGRAM_BOT_TOKEN", "123:TEST"),
            ("TELEGRAM_API_URL", telegram_api),
            ("PROVIDERS", "local"),
            ("HTTP_ADDR", addr.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let serve = LocalServe {
            child: spawn_reelforge("serve", &["serve"], &env, dir),
            base: format!("http://{addr}"),
        };
        let http = reqwest::Client::new();
        let health = format!("{}/health", serve.base);
        wait_until(
            "serve to answer",
            std::time::Duration::from_secs(30),
            || {
                let r = http.get(&health).send();
                async move { r.await.is_ok_and(|r| r.status().is_success()) }
            },
        )
        .await;
        serve
    }
}
