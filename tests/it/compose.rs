//! End-to-end compose: real decoding, compositing and encoding through the CLI.
use crate::common;
use common::*;

fn report(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn output_is_h264_high_yuv420p_with_aac_faststart_thumbnail_and_voice_length() {
    let d = tmp();
    let bg = background(d.path(), "bg.mp4", 1080, 1920, 2.0, 30);
    let th = moving_head(d.path(), "th.mp4", 3.0);
    let out = p(d.path(), "out.mp4");
    let rep = p(d.path(), "report.json");
    let r = reelforge(&[
        "compose",
        "--background",
        s(&bg),
        "--talking-head",
        s(&th),
        "-o",
        s(&out),
        "--report",
        s(&rep),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));

    let probe = ffprobe(&out);
    let v = stream(&probe, "video");
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(v["profile"], "High");
    assert_eq!(v["pix_fmt"], "yuv420p");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(720), Some(1280))
    );
    assert_eq!(v["r_frame_rate"], "30/1");
    let a = stream(&probe, "audio");
    assert_eq!(a["codec_name"], "aac");
    assert_eq!(a["sample_rate"], "48000");
    assert_eq!(a["channels"], 2);
    // The voice is the talking head's 3 s soundtrack; the 2 s background was looped under it.
    let frames = num(&v["nb_read_frames"]);
    assert!((frames - 90.0).abs() <= 1.0, "{frames} frames");
    assert!(
        (num(&v["duration"]) - 3.0).abs() <= 1.0 / 30.0 + 1e-6,
        "video {}",
        v["duration"]
    );
    assert!(
        (num(&a["duration"]) - 3.0).abs() <= 0.03,
        "audio {}",
        a["duration"]
    );
    let boxes = mp4_boxes(&out);
    let moov = boxes.iter().position(|b| b == "moov").unwrap();
    let mdat = boxes.iter().position(|b| b == "mdat").unwrap();
    assert!(moov < mdat, "faststart puts moov first: {boxes:?}");

    let rep = report(&rep);
    assert_eq!(rep["background_looped"], true);
    assert_eq!(rep["width"], 720);
    assert!(rep["stages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["stage"] == "face_track"));
    let thumb = p(d.path(), "out.jpg");
    let tp = ffprobe(&thumb);
    let tv = stream(&tp, "video");
    assert!(
        tv["width"]
            .as_u64()
            .unwrap()
            .max(tv["height"].as_u64().unwrap())
            <= 320
    );
    assert!(std::fs::metadata(&thumb).unwrap().len() <= 200 * 1024);
}

#[test]
fn a_separate_voice_sets_the_length_and_stays_in_sync() {
    let d = tmp();
    let bg = background(d.path(), "bg.mp4", 640, 360, 10.0, 25);
    let th = moving_head(d.path(), "th.mp4", 2.0);
    // Clicks at 0.5, 2.5 and 4.5 s in a 5 s voice.
    let voice = p(d.path(), "voice.wav");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=1000:sample_rate=22050:d=5",
        "-af",
        "volume='if(lt(mod(t-0.5,2),0.05),1,0)':eval=frame",
        s(&voice),
    ]);
    let out = p(d.path(), "out.mp4");
    let r = reelforge(&[
        "compose",
        "--background",
        s(&bg),
        "--talking-head",
        s(&th),
        "--voice",
        s(&voice),
        "--bg-volume",
        "0",
        "--size",
        "720x720",
        "-o",
        s(&out),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let probe = ffprobe(&out);
    let v = stream(&probe, "video");
    assert!(
        (num(&v["nb_read_frames"]) - 150.0).abs() <= 1.0,
        "5 s at 30 fps, background trimmed"
    );
    let samples = pcm(&out);
    let onsets: Vec<f64> = onsets(&samples, 0.2);
    assert_eq!(onsets.len(), 3, "three clicks: {onsets:?}");
    for (got, want) in onsets.iter().zip([0.5, 2.5, 4.5]) {
        assert!(
            (got - want).abs() < 0.03,
            "click at {got:.3}s, expected {want}s"
        );
    }
}

/// Times where the signal rises above `level` after at least 0.5 s of quiet.
fn onsets(samples: &[f32], level: f32) -> Vec<f64> {
    let mut found = Vec::new();
    let mut last: Option<usize> = None;
    for (i, s) in samples.iter().enumerate() {
        if s.abs() > level {
            if last.map(|l| i - l > 24_000).unwrap_or(true) {
                found.push(i as f64 / 48_000.0);
            }
            last = Some(i);
        }
    }
    found
}

#[test]
fn captions_are_burned_in_clear_of_the_circle() {
    let d = tmp();
    let bg = p(d.path(), "black.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=black:s=720x1280:d=3",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        s(&bg),
    ]);
    let th = moving_head(d.path(), "th.mp4", 3.0);
    let with = p(d.path(), "with.mp4");
    let without = p(d.path(), "without.mp4");
    let rep = p(d.path(), "r.json");
    let text = "Привет, мир! Hello world 🔥";
    assert!(reelforge(&[
        "compose",
        "--background",
        s(&bg),
        "--talking-head",
        s(&th),
        "--captions",
        text,
        "-o",
        s(&with),
        "--report",
        s(&rep)
    ])
    .status
    .success());
    assert!(reelforge(&[
        "compose",
        "--background",
        s(&bg),
        "--talking-head",
        s(&th),
        "-o",
        s(&without)
    ])
    .status
    .success());
    let rep = report(&rep);
    let caps = rep["captions"].as_array().unwrap();
    assert!(caps.len() >= 2, "{caps:?}");
    assert_eq!(caps[0]["text"], "Привет, мир!");
    let circle_top = rep["circle"]["y"].as_u64().unwrap() as u32;
    let t = (caps[0]["start_s"].as_f64().unwrap() + caps[0]["end_s"].as_f64().unwrap()) / 2.0;
    // Everything above the circle: bright text on black only where captions are drawn.
    let bright = |v: &[u8]| v.iter().filter(|p| **p > 200).count();
    let lit_with = bright(&gray_crop(&with, t, 0, 0, 720, circle_top));
    let lit_without = bright(&gray_crop(&without, t, 0, 0, 720, circle_top));
    assert!(lit_with > 1500, "caption pixels: {lit_with}");
    assert_eq!(lit_without, 0);
}

#[test]
fn every_caption_style_renders_kazakh_inside_its_safe_zone_and_karaoke_lights_the_spoken_word() {
    let d = tmp();
    let bg = p(d.path(), "black.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=black:s=720x1280:d=3",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        s(&bg),
    ]);
    let th = moving_head(d.path(), "th.mp4", 3.0);
    // Every Kazakh letter, upper and lower case, with Russian and Latin around them.
    let text = "Сәлем! Ғажап қаңтар, өнім ұнады, үлкен һәм іс. ӘҒҚҢӨҰҮҺІ Sale today";
    let yellow = |px: &[[u8; 3]]| {
        px.iter()
            .filter(|c| c[0] > 190 && c[1] > 150 && c[2] < 110)
            .count()
    };
    let mut lit = std::collections::HashMap::new();
    for (style, zone) in [
        ("karaoke", "tiktok"),
        ("bold-pop", "shorts"),
        ("boxed", "reels"),
        ("classic", "none"),
    ] {
        let out = p(d.path(), &format!("{style}.mp4"));
        let options = [
            "--captions",
            text,
            "--caption-style",
            style,
            "--safe-zone",
            zone,
            "--position",
            "bottom-right",
        ];
        let rep = compose_report(&bg, &th, &options, &out, &[]);
        assert_eq!(rep["caption_style"], style);
        assert_eq!(rep["safe_zone"], zone);
        let area = &rep["safe_area"];
        let a = |k: &str| area[k].as_i64().unwrap();
        let circle = &rep["circle"];
        let c = |k: &str| circle[k].as_i64().unwrap();
        assert!(c("x") + c("diameter") <= a("right") && c("y") + c("diameter") <= a("bottom"));
        let phrases = rep["captions"].as_array().unwrap();
        let boxes = rep["caption_boxes"].as_array().unwrap();
        assert_eq!(phrases.len(), boxes.len(), "{style}: every phrase drawn");
        let all: String = phrases
            .iter()
            .map(|p| p["text"].as_str().unwrap())
            .collect();
        for ch in "ӘҒҚҢӨҰҮҺІ".chars() {
            assert!(all.contains(ch), "{style}: {ch} kept");
        }
        for b in boxes {
            let g = |k: &str| b[k].as_i64().unwrap();
            let ctx = format!("{style}/{zone}: box {b} area {area} circle {circle}");
            assert!(
                g("x") >= a("left") && g("x") + g("width") <= a("right"),
                "{ctx}"
            );
            assert!(
                g("y") >= a("top") && g("y") + g("height") <= a("bottom"),
                "{ctx}"
            );
            assert!(g("y") + g("height") <= c("y"), "{ctx}: clear of the circle");
        }
        // The frame a quarter-second into the second word of the first phrase.
        // The first phrase of two words or more.
        let k = phrases
            .iter()
            .position(|p| p["words"].as_array().unwrap().len() >= 2)
            .unwrap();
        let words = phrases[k]["words"].as_array().unwrap();
        let t = words[1]["start"].as_f64().unwrap() + 0.25;
        let b = &boxes[k];
        let g = |k: &str| b[k].as_u64().unwrap() as u32;
        let px = rgb_crop(&out, t, g("x"), g("y"), g("width"), g("height"));
        let white = px.iter().filter(|c| c.iter().all(|v| *v > 200)).count();
        assert!(white > 300, "{style}: white text {white}");
        lit.insert(style, yellow(&px));
        if style == "bold-pop" {
            assert!(phrases
                .iter()
                .all(|p| p["words"].as_array().unwrap().len() <= 3));
        }
    }
    assert!(lit["karaoke"] > 150, "karaoke lights the word: {lit:?}");
    for other in ["classic", "boxed", "bold-pop"] {
        assert!(lit[other] < 10, "{other} has no accent: {lit:?}");
    }
}

#[test]
fn size_cap_is_enforced_by_the_bitrate_ceiling() {
    let d = tmp();
    // Pure noise is the worst case for an encoder.
    let noisy = p(d.path(), "noise.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "nullsrc=s=720x1280:r=30:d=4,geq=random(1)*255:128:128",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "10",
        "-pix_fmt",
        "yuv420p",
        s(&noisy),
    ]);
    let th = moving_head(d.path(), "th.mp4", 4.0);
    let out = p(d.path(), "out.mp4");
    let r = reelforge(&[
        "compose",
        "--background",
        s(&noisy),
        "--talking-head",
        s(&th),
        "--max-mb",
        "0.6",
        "-o",
        s(&out),
        "--report",
        s(&p(d.path(), "capped.json")),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let size = std::fs::metadata(&out).unwrap().len();
    assert!(size <= (0.6 * 1024.0 * 1024.0) as u64, "{size} bytes");
    // The bitrate ceiling kept it under the cap at once (the passes aiming lower are for an
    // encoder that overshoots; encode::within_cap is tested on its own).
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p(d.path(), "capped.json")).unwrap())
            .unwrap();
    assert_eq!(rep["passes"], 1);
    assert_eq!(rep["size_bytes"], size);
    let uncapped = p(d.path(), "big.mp4");
    assert!(reelforge(&[
        "compose",
        "--background",
        s(&noisy),
        "--talking-head",
        s(&th),
        "-o",
        s(&uncapped)
    ])
    .status
    .success());
    assert!(
        std::fs::metadata(&uncapped).unwrap().len() > size * 2,
        "the cap is what kept it small"
    );
}

#[test]
fn silent_inputs_give_a_silent_track_as_long_as_the_head() {
    let d = tmp();
    let bg = p(d.path(), "mute-bg.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=320x240:d=1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        s(&bg),
    ]);
    let head = p(d.path(), "mute-head.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=s=320x240:d=2.5",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        s(&head),
    ]);
    let out = p(d.path(), "out.mp4");
    let r = reelforge(&[
        "compose",
        "--background",
        s(&bg),
        "--talking-head",
        s(&head),
        "--size",
        "720x720",
        "-o",
        s(&out),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let head_s = num(&stream(&ffprobe(&head), "video")["duration"]);
    let probe = ffprobe(&out);
    let frames = num(&stream(&probe, "video")["nb_read_frames"]);
    assert!(
        (frames - head_s * 30.0).abs() <= 1.0,
        "{frames} frames for {head_s} s"
    );
    let a = stream(&probe, "audio");
    assert!(
        (num(&a["duration"]) - head_s).abs() <= 1.0 / 30.0 + 1e-3,
        "audio {}",
        a["duration"]
    );
    assert!(pcm(&out).iter().all(|x| x.abs() < 1e-4), "silence");
}

/// ffmpeg's EBU R128 meter (the reference): (integrated LUFS, true peak dBTP).
fn ebur128(path: &std::path::Path) -> (f64, f64) {
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(path)
        .args(["-af", "ebur128=peak=true", "-f", "null", "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    let summary = &text[text.rfind("Summary:").expect("ebur128 summary")..];
    let value = |label: &str| -> f64 {
        let at = summary.find(label).unwrap() + label.len();
        summary[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (value("I:"), value("Peak:"))
}

#[test]
fn speech_over_a_loud_phone_clip_comes_out_at_minus_14_lufs_under_minus_1_dbtp() {
    let d = tmp();
    // A phone clip with a loud soundtrack, and a head speaking with pauses.
    let bg = p(d.path(), "loud.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=640x360:r=30:d=6",
        "-f",
        "lavfi",
        "-i",
        "anoisesrc=c=pink:a=0.5:d=6",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        s(&bg),
    ]);
    let th = moving_head(d.path(), "th.mp4", 2.0);
    let voice = p(d.path(), "voice.wav");
    let status = std::process::Command::new("espeak-ng")
        .args(["-v", "en", "-w"])
        .arg(&voice)
        .arg("Fresh coffee every morning. Come in and try it today.")
        .status()
        .unwrap();
    assert!(status.success());
    let out = p(d.path(), "out.mp4");
    let r = reelforge(&[
        "compose",
        "--background",
        s(&bg),
        "--talking-head",
        s(&th),
        "--voice",
        s(&voice),
        "--size",
        "360x640",
        "-o",
        s(&out),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (lufs, peak) = ebur128(&out);
    assert!(
        (lufs + 14.0).abs() <= 1.0,
        "integrated loudness {lufs} LUFS"
    );
    assert!(peak <= -1.0, "true peak {peak} dBTP");
}
