//! Provider clips leave the service platform-ready: each kind of clip a provider may send
//! (HEVC, the index at the end, 10-bit, no audio, too big) is made deliverable — kept,
//! remuxed or re-encoded — and checked with ffprobe, the reference tool.
use crate::common::*;
use media::DeliverableAction as Action;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

const CAP: u64 = 50 * 1024 * 1024;

/// A 720×1280 clip of `secs` seconds made by the ffmpeg CLI with the given encoder options.
fn clip(dir: &Path, name: &str, secs: u32, audio: bool, video_args: &[&str]) -> PathBuf {
    let out = p(dir, name);
    let dur = secs.to_string();
    let mut args = vec!["-f", "lavfi", "-i", "testsrc2=s=720x1280:r=30"];
    if audio {
        args.extend(["-f", "lavfi", "-i", "sine=f=440:sample_rate=44100"]);
    }
    args.extend(["-t", &dur]);
    args.extend(video_args);
    if audio {
        args.extend(["-c:a", "aac"]);
    }
    args.push(s(&out));
    ffmpeg(&args);
    out
}

/// What ffprobe says about the deliverable, checked against what plays everywhere.
fn assert_platform_ready(path: &Path, cap: u64) -> serde_json::Value {
    let probe = ffprobe(path);
    let v = stream(&probe, "video");
    assert_eq!(v["codec_name"], "h264", "{v}");
    assert_eq!(v["pix_fmt"], "yuv420p", "{v}");
    assert!(
        v["width"].as_u64().unwrap().is_multiple_of(2)
            && v["height"].as_u64().unwrap().is_multiple_of(2)
    );
    let a = stream(&probe, "audio");
    assert_eq!(a["codec_name"], "aac", "{a}");
    let boxes = mp4_boxes(path);
    let (moov, mdat) = (
        boxes.iter().position(|b| b == "moov").unwrap(),
        boxes.iter().position(|b| b == "mdat").unwrap(),
    );
    assert!(moov < mdat, "index in front: {boxes:?}");
    assert!(std::fs::metadata(path).unwrap().len() <= cap);
    probe
}

fn deliver(input: &Path, cap: u64) -> (PathBuf, media::Deliverable) {
    let out = input.with_file_name(format!(
        "{}-ready.mp4",
        input.file_stem().unwrap().to_string_lossy()
    ));
    let made = media::make_deliverable(input, &out, cap, &AtomicBool::new(false)).unwrap();
    (out, made)
}

#[test]
fn a_good_clip_is_kept_and_one_with_the_index_at_the_end_is_remuxed_not_reencoded() {
    let d = tmp();
    let faststart = clip(
        d.path(),
        "fast.mp4",
        2,
        true,
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
        ],
    );
    let (out, made) = deliver(&faststart, CAP);
    assert_eq!(made.action, Action::Kept, "{made:?}");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&faststart).unwrap()
    );

    let moov_last = clip(
        d.path(),
        "slow.mp4",
        2,
        true,
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let boxes = mp4_boxes(&moov_last);
    assert!(
        boxes.iter().position(|b| b == "moov") > boxes.iter().position(|b| b == "mdat"),
        "the fixture has its index at the end: {boxes:?}"
    );
    let (out, made) = deliver(&moov_last, CAP);
    assert_eq!(made.action, Action::Remuxed, "{made:?}");
    assert!(made.reasons[0].contains("moov"), "{made:?}");
    assert_platform_ready(&out, CAP);
    // The same packets: the size barely changes, the frame count is the same.
    let (a, b) = (
        std::fs::metadata(&moov_last).unwrap().len() as f64,
        std::fs::metadata(&out).unwrap().len() as f64,
    );
    assert!((a - b).abs() / a < 0.02, "{a} vs {b}");
    let frames = |p: &Path| {
        stream(&ffprobe(p), "video")["nb_frames"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(frames(&moov_last), frames(&out));
}

#[test]
fn hevc_ten_bit_and_silent_clips_are_reencoded_to_h264_with_aac() {
    let d = tmp();
    let cases = [
        (
            "hevc.mp4",
            true,
            vec![
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-tag:v",
                "hvc1",
                "-x265-params",
                "log-level=error",
            ],
            "hevc",
        ),
        (
            "tenbit.mp4",
            true,
            vec![
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p10le",
            ],
            "yuv420p10le",
        ),
        (
            "silent.mp4",
            false,
            vec![
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
                "-movflags",
                "+faststart",
            ],
            "no audio",
        ),
    ];
    for (name, audio, args, why) in cases {
        let input = clip(d.path(), name, 2, audio, &args);
        let (out, made) = deliver(&input, CAP);
        assert_eq!(made.action, Action::Reencoded, "{name}: {made:?}");
        assert!(
            made.reasons.iter().any(|r| r.contains(why)),
            "{name}: {made:?}"
        );
        let probe = assert_platform_ready(&out, CAP);
        let v = stream(&probe, "video");
        assert_eq!(
            (v["width"].as_u64(), v["height"].as_u64()),
            (Some(720), Some(1280))
        );
        assert_eq!(v["profile"], "High", "{name}");
        assert_eq!(v["r_frame_rate"], "30/1", "{name}");
        let a = stream(&probe, "audio");
        assert_eq!(
            (a["sample_rate"].as_str(), a["channels"].as_u64()),
            (Some("48000"), Some(2))
        );
        let dur = num(&probe["format"]["duration"]);
        assert!((dur - 2.0).abs() < 0.15, "{name}: {dur} s");
        // The picture survives: the test pattern's colours are still there.
        let px = pixel(&out, Some(1.0), 360, 200);
        assert!(
            px.0 as u32 + px.1 as u32 + px.2 as u32 > 60,
            "{name}: {px:?}"
        );
    }
}

#[test]
fn a_clip_that_would_be_70_mb_is_shrunk_under_the_50_mb_cap() {
    let d = tmp();
    // 12 s at a constant 48 Mbit/s (filler bits included): about 70 MB.
    let big = clip(
        d.path(),
        "big.mp4",
        12,
        true,
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-b:v",
            "48M",
            "-minrate",
            "48M",
            "-maxrate",
            "48M",
            "-bufsize",
            "4M",
            "-x264-params",
            "nal-hrd=cbr",
            "-movflags",
            "+faststart",
        ],
    );
    let size = std::fs::metadata(&big).unwrap().len();
    assert!(size > 65 * 1024 * 1024, "fixture is {size} bytes");
    let (out, made) = deliver(&big, CAP);
    assert_eq!(made.action, Action::Reencoded, "{made:?}");
    assert!(
        made.reasons
            .iter()
            .any(|r| r.contains("over the 50.0 MB cap")),
        "{made:?}"
    );
    let probe = assert_platform_ready(&out, CAP);
    let dur = num(&probe["format"]["duration"]);
    assert!((dur - 12.0).abs() < 0.2, "the whole clip: {dur} s");
    assert!(
        made.size_bytes <= CAP && made.size_bytes > 1024 * 1024,
        "{made:?}"
    );
}

#[test]
fn the_gpu_path_falls_back_to_the_cpu_per_stage_and_off_keeps_it_there() {
    let d = tmp();
    let bg = background(d.path(), "bg.mp4", 720, 1280, 2.0, 30);
    let th = moving_head(d.path(), "th.mp4", 2.0);
    let run = |name: &str, gpu: &str| {
        let out = p(d.path(), &format!("{name}.mp4"));
        let r = compose_report(&bg, &th, &[], &out, &[("MEDIA_GPU", gpu)]);
        (
            r["decoder"].as_str().unwrap().to_string(),
            r["encoder"].as_str().unwrap().to_string(),
            r["frames"].as_u64().unwrap(),
        )
    };
    let (dec, enc, frames) = run("auto", "auto");
    // A machine without NVDEC/NVENC (this CI) says why and uses the CPU; one with them uses
    // them. Either way the video is made.
    let has_cuda = std::path::Path::new("/dev/nvidiactl").exists();
    if has_cuda {
        assert!(dec == "nvdec" || dec.starts_with("cpu ("), "{dec}");
    } else {
        assert!(dec.starts_with("cpu (") && dec.len() > 6, "{dec}");
        assert_eq!(enc, "libx264");
    }
    let (dec_off, enc_off, frames_off) = run("off", "off");
    assert_eq!(dec_off, "cpu (MEDIA_GPU=off)");
    assert_eq!(enc_off, "libx264");
    assert_eq!(frames, frames_off);
}
