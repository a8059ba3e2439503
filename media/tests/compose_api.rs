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

/// Several formats in one pass: each output is the picture a compose of that format alone
/// makes (the thumbnails, taken before encoding, are the same bytes), at its own size, with
/// its own circle inside its own frame — and the frames are counted once, not per format.
#[test]
fn several_formats_in_one_pass_are_the_composes_of_each_format() {
    use media::{Captions, OutputFormat};
    let dir = tempfile::tempdir().unwrap();
    let (bg, th) = inputs(dir.path());
    let mut req = ComposeRequest::new(&bg, &th, dir.path().join("tall.mp4"));
    req.width = 360;
    req.height = 640;
    req.captions = Some(Captions::Script("one pass makes every format".into()));
    let formats = [(360, 360, "square.mp4"), (640, 360, "wide.mp4")];
    req.more_outputs = formats
        .iter()
        .map(|&(w, h, name)| OutputFormat::carried_from(&req, w, h, dir.path().join(name)))
        .collect();
    let calls = AtomicU64::new(0);
    let progress = |_: u64, _: u64| {
        calls.fetch_add(1, Ordering::SeqCst);
    };
    let report = compose(&req, &progress, &AtomicBool::new(false)).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), report.frames);
    assert_eq!(report.more_outputs.len(), 2);
    for ((w, h, name), more) in formats.iter().zip(&report.more_outputs) {
        assert_eq!(more.output, dir.path().join(name));
        let info = media::probe(&more.output).unwrap();
        let video = info.video.unwrap();
        assert_eq!(
            (video.display_width as usize, video.display_height as usize),
            (*w, *h)
        );
        assert!((info.duration_s - report.duration_s).abs() < 0.1);
        assert!(info.audio.is_some(), "every format has the soundtrack");
        assert!(more.circle.x + more.circle.diameter <= *w);
        assert!(more.circle.y + more.circle.diameter <= *h);
        assert!(!more.caption_boxes.is_empty(), "captions in every format");
        assert_eq!(
            more.size_bytes,
            std::fs::metadata(&more.output).unwrap().len()
        );

        // The same format composed alone.
        let mut alone = req.clone();
        alone.more_outputs.clear();
        alone.width = *w;
        alone.height = *h;
        alone.output = dir.path().join(format!("alone-{name}"));
        let single = compose(&alone, &|_, _| {}, &AtomicBool::new(false)).unwrap();
        assert_eq!(single.circle, more.circle, "{name}");
        assert_eq!(single.caption_boxes, more.caption_boxes, "{name}");
        assert_eq!(
            std::fs::read(&single.thumbnail).unwrap(),
            std::fs::read(&more.thumbnail).unwrap(),
            "{name}: the one-pass picture is the single compose's picture"
        );
    }
}

#[test]
fn a_chosen_spot_keeps_its_place_in_every_format() {
    use media::{OutputFormat, Position};
    let mut req = ComposeRequest::new("bg.mp4", "th.mp4", "a.mp4");
    req.width = 720;
    req.height = 1280;
    req.diameter = Some(200);
    req.position = Position::At { x: 400, y: 100 };
    // Centre at (500, 200): 69 % across, 16 % down.
    let square = OutputFormat::carried_from(&req, 1080, 1080, "b.mp4");
    assert_eq!(square.diameter, Some(300));
    let Position::At { x, y } = square.position else {
        panic!("{:?}", square.position)
    };
    assert_eq!((x + 150, y + 150), (750, 168));
    // A named corner stays named.
    req.position = Position::TopRight;
    req.diameter = None;
    let wide = OutputFormat::carried_from(&req, 1280, 720, "c.mp4");
    assert_eq!((wide.position, wide.diameter), (Position::TopRight, None));
}

#[test]
fn two_formats_may_not_write_the_same_file() {
    use media::OutputFormat;
    let dir = tempfile::tempdir().unwrap();
    let (bg, th) = inputs(dir.path());
    let out = dir.path().join("same.mp4");
    let mut req = ComposeRequest::new(&bg, &th, &out);
    req.width = 360;
    req.height = 640;
    req.more_outputs = vec![OutputFormat::new(360, 360, &out)];
    let err = compose(&req, &|_, _| {}, &AtomicBool::new(false)).unwrap_err();
    assert!(err.to_string().contains("two formats"), "{err}");
}
