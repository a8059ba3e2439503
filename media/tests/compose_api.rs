//! The library API of compose: progress is reported frame by frame, cancellation stops the
//! work at the next frame and leaves no partial file.
use media::{compose, ComposeRequest, MediaError};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

fn ffmpeg(args: &[&str]) {
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ffmpeg {args:?}");
}

fn inputs(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let bg = dir.join("bg.mp4");
    let th = dir.join("th.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=320x240:d=1",
        "-pix_fmt",
        "yuv420p",
        bg.to_str().unwrap(),
    ]);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=s=320x240:d=2",
        "-f",
        "lavfi",
        "-i",
        "sine=d=2",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        th.to_str().unwrap(),
    ]);
    (bg, th)
}

#[test]
fn progress_counts_every_frame_up_to_the_total() {
    let dir = tempfile::tempdir().unwrap();
    let (bg, th) = inputs(dir.path());
    let mut req = ComposeRequest::new(&bg, &th, dir.path().join("out.mp4"));
    req.width = 360;
    req.height = 640;
    let calls = AtomicU64::new(0);
    let last = AtomicU64::new(0);
    let progress = |done: u64, total: u64| {
        assert!(done <= total);
        assert_eq!(
            done,
            calls.fetch_add(1, Ordering::SeqCst) + 1,
            "one call per frame, in order"
        );
        last.store(total, Ordering::SeqCst);
    };
    let report = compose(&req, &progress, &AtomicBool::new(false)).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), report.frames);
    assert_eq!(last.load(Ordering::SeqCst), report.frames);
    assert!(
        (report.duration_s - 2.0).abs() < 0.05,
        "{}",
        report.duration_s
    );
}

#[test]
fn cancelling_stops_at_the_next_frame_and_removes_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let (bg, th) = inputs(dir.path());
    let out = dir.path().join("out.mp4");
    let mut req = ComposeRequest::new(&bg, &th, &out);
    req.width = 360;
    req.height = 640;
    let cancel = AtomicBool::new(false);
    let seen = AtomicU64::new(0);
    let progress = |done: u64, _total: u64| {
        seen.store(done, Ordering::SeqCst);
        if done == 10 {
            cancel.store(true, Ordering::SeqCst);
        }
    };
    let err = compose(&req, &progress, &cancel).unwrap_err();
    assert!(matches!(err, MediaError::Cancelled), "{err}");
    assert_eq!(seen.load(Ordering::SeqCst), 10, "no frame after the flag");
    assert!(!out.exists(), "partial output removed");
}

#[test]
fn the_gpu_encoder_is_used_when_the_device_has_one_and_libx264_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let (bg, th) = inputs(dir.path());
    let mut req = ComposeRequest::new(&bg, &th, dir.path().join("gpu.mp4"));
    req.width = 360;
    req.height = 640;
    req.try_gpu_encoder = true;
    let report = compose(&req, &|_, _| {}, &AtomicBool::new(false)).unwrap();
    // Whether NVENC can be opened here decides; on a CPU host (CI) the fallback must be taken
    // and the result must still be a valid H.264 file.
    let expected = if media::nvenc_available() {
        "h264_nvenc"
    } else {
        "libx264"
    };
    assert_eq!(report.encoder, expected);
    assert!(report.size_bytes > 1000);
    req.try_gpu_encoder = false;
    req.output = dir.path().join("cpu.mp4");
    assert_eq!(
        compose(&req, &|_, _| {}, &AtomicBool::new(false))
            .unwrap()
            .encoder,
        "libx264"
    );
}
