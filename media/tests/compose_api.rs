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

/// Mean absolute difference of two RGB pictures' region (0–255).
fn region_mad(a: &image::RgbImage, b: &image::RgbImage, (x, y, w, h): (u32, u32, u32, u32)) -> f64 {
    let mut sum = 0u64;
    for yy in y..y + h {
        for xx in x..x + w {
            let (p, q) = (a.get_pixel(xx, yy).0, b.get_pixel(xx, yy).0);
            sum += (0..3).map(|c| u64::from(p[c].abs_diff(q[c]))).sum::<u64>();
        }
    }
    sum as f64 / f64::from(w * h * 3)
}

fn frame_at(video: &std::path::Path, t: f64, out: &std::path::Path) -> image::RgbImage {
    ffmpeg(&[
        "-ss",
        &format!("{t:.3}"),
        "-i",
        video.to_str().unwrap(),
        "-frames:v",
        "1",
        out.to_str().unwrap(),
    ]);
    media::load_image(out).unwrap()
}

/// The brand: the logo sits where the preview put it on every frame (clear of the circle), the
/// end card follows the speech for its seconds and its frames are its still, and the video
/// lasts the speech and the card.
#[test]
fn the_logo_is_where_the_preview_put_it_and_the_end_card_follows_the_speech() {
    let dir = tempfile::tempdir().unwrap();
    let (bg, th) = inputs(dir.path());
    let logo = dir.path().join("logo.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=0xE01010:s=200x100,format=rgba",
        "-frames:v",
        "1",
        logo.to_str().unwrap(),
    ]);
    let photo = dir.path().join("photo.jpg");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=400x400",
        "-frames:v",
        "1",
        photo.to_str().unwrap(),
    ]);
    let card = media::EndCard {
        photo: Some(photo),
        title: "Крем для лица «Роса»".into(),
        price: Some("12 990 ₸".into()),
        call_to_action: "Закажите по ссылке в профиле".into(),
        seconds: 2.0,
    };
    let mut req = ComposeRequest::new(&bg, &th, dir.path().join("brand.mp4"));
    req.width = 360;
    req.height = 640;
    req.position = media::Position::TopRight;
    req.logo = Some(logo.clone());
    req.end_card = Some(card.clone());
    let report = compose(&req, &|_, _| {}, &AtomicBool::new(false)).unwrap();
    assert_eq!(report.end_card_s, 2.0);
    assert!(
        (report.duration_s - 4.0).abs() < 0.05,
        "2 s of speech + 2 s of card: {}",
        report.duration_s
    );
    let info = media::probe(&report.output).unwrap();
    assert!((info.duration_s - 4.0).abs() < 0.1, "{}", info.duration_s);

    // The logo: at most 18 % of the width, in a corner clear of the top-right circle.
    let l = report.logo.expect("the logo was drawn");
    assert!(l.width as f64 <= 360.0 * 0.18 + 1.0, "{l:?}");
    let c = report.circle;
    assert!(
        l.x + l.width <= c.x || l.y + l.height <= c.y || c.y + c.diameter <= l.y,
        "{l:?} vs {c:?}"
    );
    let preview = dir.path().join("preview.jpg");
    let circle = media::layout_preview(&media::LayoutPreview {
        background: Some(bg.clone()),
        background_start_s: 0.0,
        portrait: logo.clone(),
        caption: None,
        caption_style: media::CaptionStyle::Classic,
        safe_zone: req.safe_zone,
        width: 360,
        height: 640,
        position: req.position,
        diameter: None,
        ring: None,
        logo: Some(logo.clone()),
        output: preview.clone(),
    })
    .unwrap();
    assert_eq!(
        circle,
        Some(c),
        "the preview places the circle as the video does"
    );
    let still = media::load_image(&preview).unwrap();
    let region = (
        l.x as u32 + 2,
        l.y as u32 + 2,
        l.width as u32 - 4,
        l.height as u32 - 4,
    );
    let red = image::RgbImage::from_pixel(360, 640, image::Rgb([0xE0, 0x10, 0x10]));
    assert!(
        region_mad(&still, &red, region) < 20.0,
        "the still's logo is red"
    );
    for t in [0.3, 1.5, 3.5] {
        let frame = frame_at(&report.output, t, &dir.path().join(format!("f{t}.png")));
        let mad = region_mad(&frame, &still, region);
        assert!(
            mad < 20.0,
            "at {t} s the logo differs from the still's by {mad:.1}"
        );
    }

    // The end card's frames are its still.
    let card_still = dir.path().join("card.jpg");
    media::end_card_still(
        &card,
        (360, 640),
        req.safe_zone,
        req.caption_accent,
        (Some(&logo), Some(c)),
        &card_still,
    )
    .unwrap();
    let expected = media::load_image(&card_still).unwrap();
    let last = frame_at(&report.output, 3.6, &dir.path().join("last.png"));
    let whole = region_mad(&last, &expected, (0, 0, 360, 640));
    assert!(
        whole < 8.0,
        "the end card's frame differs from its still by {whole:.1}"
    );
    let speaking = frame_at(&report.output, 1.0, &dir.path().join("speaking.png"));
    assert!(
        region_mad(&speaking, &expected, (0, 0, 360, 640)) > whole * 2.0,
        "a control: the speech's frames are not the card"
    );
}

/// The logo in every format of one pass: each output's logo sits where a single compose of
/// that format puts it, clear of that format's circle.
#[test]
fn the_logo_is_in_every_format_where_that_formats_own_compose_puts_it() {
    use media::OutputFormat;
    let dir = tempfile::tempdir().unwrap();
    let (bg, th) = inputs(dir.path());
    let logo = dir.path().join("logo.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=0xE01010:s=200x100,format=rgba",
        "-frames:v",
        "1",
        logo.to_str().unwrap(),
    ]);
    let mut req = ComposeRequest::new(&bg, &th, dir.path().join("tall.mp4"));
    req.width = 360;
    req.height = 640;
    req.position = media::Position::TopRight;
    req.logo = Some(logo);
    req.more_outputs = [(360, 360, "square.mp4"), (640, 360, "wide.mp4")]
        .iter()
        .map(|&(w, h, n)| OutputFormat::carried_from(&req, w, h, dir.path().join(n)))
        .collect();
    let report = compose(&req, &|_, _| {}, &AtomicBool::new(false)).unwrap();
    let red = image::RgbImage::from_pixel(640, 640, image::Rgb([0xE0, 0x10, 0x10]));
    let mut outputs = vec![(
        report.output.clone(),
        report.width,
        report.height,
        report.logo.unwrap(),
        report.circle,
    )];
    for m in &report.more_outputs {
        outputs.push((
            m.output.clone(),
            m.width,
            m.height,
            m.logo.unwrap(),
            m.circle,
        ));
    }
    for (path, w, h, l, c) in outputs {
        assert!(l.width as f64 <= w as f64 * 0.18 + 1.0);
        assert!(l.x + l.width <= w && l.y + l.height <= h);
        let apart = l.x + l.width <= c.x
            || c.x + c.diameter <= l.x
            || l.y + l.height <= c.y
            || c.y + c.diameter <= l.y;
        assert!(apart, "{path:?}: logo {l:?} over circle {c:?}");
        let frame = frame_at(&path, 0.5, &path.with_extension("png"));
        let region = (
            l.x as u32 + 2,
            l.y as u32 + 2,
            l.width as u32 - 4,
            l.height as u32 - 4,
        );
        let mad = region_mad(&frame, &red, region);
        assert!(
            mad < 25.0,
            "{path:?}: the logo's pixels differ from its red by {mad:.1}"
        );
        // The same format composed alone puts it in the same place.
        let mut alone = req.clone();
        alone.more_outputs.clear();
        alone.width = w;
        alone.height = h;
        alone.output = path.with_extension("alone.mp4");
        if (w, h) != (360, 640) {
            let carried = OutputFormat::carried_from(&req, w, h, &alone.output);
            alone.position = carried.position;
            alone.diameter = carried.diameter;
        }
        let single = compose(&alone, &|_, _| {}, &AtomicBool::new(false)).unwrap();
        assert_eq!(single.logo, Some(l), "{path:?}");
    }
}

/// A background that is red for its first 2 s and blue after: a video (and its still) that
/// starts at second 2 shows blue from its first frame, one from the start shows red.
#[test]
fn a_background_start_second_begins_the_video_and_its_still_there() {
    let dir = tempfile::tempdir().unwrap();
    let (_, th) = inputs(dir.path());
    let bg = dir.path().join("red-blue.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=320x240:r=30:d=2",
        "-f",
        "lavfi",
        "-i",
        "color=c=blue:s=320x240:r=30:d=2",
        "-filter_complex",
        "[0:v][1:v]concat=n=2:v=1[v]",
        "-map",
        "[v]",
        "-pix_fmt",
        "yuv420p",
        bg.to_str().unwrap(),
    ]);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:s=200x200",
        "-frames:v",
        "1",
        dir.path().join("p.png").to_str().unwrap(),
    ]);
    let blue_share = |img: &image::RgbImage| {
        // The top-right corner: clear of the circle (bottom-left) and the captions.
        let (mut blue, mut all) = (0, 0);
        for y in 10..60 {
            for x in img.width() - 60..img.width() - 10 {
                let p = img.get_pixel(x, y).0;
                all += 1;
                if p[2] > 150 && p[0] < 100 {
                    blue += 1;
                }
            }
        }
        blue as f64 / all as f64
    };
    for (start, blue) in [(0.0, false), (2.0, true)] {
        let out = dir.path().join(format!("start-{start}.mp4"));
        let mut req = ComposeRequest::new(&bg, &th, &out);
        req.width = 360;
        req.height = 640;
        req.background_start_s = start;
        compose(&req, &|_, _| {}, &AtomicBool::new(false)).unwrap();
        let first = frame_at(&out, 0.0, &dir.path().join(format!("f-{start}.png")));
        assert_eq!(blue_share(&first) > 0.9, blue, "start {start}");
        let still = dir.path().join(format!("still-{start}.jpg"));
        media::layout_preview(&media::LayoutPreview {
            background: Some(bg.clone()),
            background_start_s: start,
            portrait: dir.path().join("p.png"),
            caption: None,
            caption_style: media::CaptionStyle::Classic,
            safe_zone: media::SafeZone::Reels,
            width: 360,
            height: 640,
            position: media::Position::BottomLeft,
            diameter: None,
            ring: None,
            logo: None,
            output: still.clone(),
        })
        .unwrap();
        assert_eq!(blue_share(&media::load_image(&still).unwrap()) > 0.9, blue);
    }
    let mut bad = ComposeRequest::new(&bg, &th, dir.path().join("bad.mp4"));
    bad.background_start_s = f64::NAN;
    assert!(matches!(
        compose(&bad, &|_, _| {}, &AtomicBool::new(false)),
        Err(MediaError::BadParameter(_))
    ));
}
