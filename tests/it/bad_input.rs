//! Every kind of bad input ends with exit status 2 and one plain sentence naming the file and
//! the problem — never a panic or a backtrace.
use crate::common;
use common::*;
use std::path::Path;

fn refused(args: &[&str], file: &Path, expected: &str) {
    let r = reelforge(args);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(
        r.status.code(),
        Some(2),
        "exit status for {expected}: {err}"
    );
    assert!(
        err.contains(expected),
        "message {err:?} should say {expected:?}"
    );
    assert!(
        err.contains(file.file_name().unwrap().to_str().unwrap()),
        "message names the file: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
}

fn compose_with_background(dir: &Path, bg: &Path) -> Vec<String> {
    let th = dir.join("th.mp4");
    if !th.exists() {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc=s=320x240:d=1",
            "-f",
            "lavfi",
            "-i",
            "sine=d=1",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            s(&th),
        ]);
    }
    [
        "compose",
        "--background",
        s(bg),
        "--talking-head",
        s(&th),
        "-o",
        s(&dir.join("out.mp4")),
    ]
    .iter()
    .map(|x| x.to_string())
    .collect()
}

fn run_compose(dir: &Path, bg: &Path, expected: &str) {
    let args = compose_with_background(dir, bg);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    refused(&refs, bg, expected);
    assert!(
        !dir.join("out.mp4").exists(),
        "no partial output is left behind"
    );
}

#[test]
fn missing_empty_and_non_media_files_are_named() {
    let d = tmp();
    run_compose(d.path(), &d.path().join("nowhere.mp4"), "does not exist");
    let empty = d.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    run_compose(d.path(), &empty, "is empty");
    let text = d.path().join("notes.mp4");
    std::fs::write(&text, "this is a shopping list, not a video\n".repeat(50)).unwrap();
    run_compose(d.path(), &text, "is not a video");
}

#[test]
fn truncated_mp4_is_reported_as_truncated() {
    let d = tmp();
    let full = background(d.path(), "full.mp4", 320, 240, 2.0, 30);
    let bytes = std::fs::read(&full).unwrap();
    let cut = d.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap(); // the moov box at the end is gone
    run_compose(d.path(), &cut, "truncated");
}

#[test]
fn audio_only_background_has_no_video_stream() {
    let d = tmp();
    let audio = d.path().join("song.m4a");
    ffmpeg(&["-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", s(&audio)]);
    run_compose(d.path(), &audio, "has no video stream");
}

#[test]
fn unknown_codec_is_unsupported() {
    let d = tmp();
    let mkv = d.path().join("h264.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=s=64x64:d=0.5",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        s(&mkv),
    ]);
    // Same file with a codec id no decoder knows.
    let bytes = std::fs::read(&mkv).unwrap();
    let at = bytes
        .windows(15)
        .position(|w| w == b"V_MPEG4/ISO/AVC")
        .unwrap();
    let mut odd = bytes.clone();
    odd[at..at + 15].copy_from_slice(b"V_QQQQQ/QQQ/QQQ");
    let path = d.path().join("odd.mkv");
    std::fs::write(&path, odd).unwrap();
    run_compose(d.path(), &path, "unsupported codec");
}

#[test]
fn oversized_file_is_too_large() {
    let d = tmp();
    let huge = d.path().join("huge.mp4");
    let f = std::fs::File::create(&huge).unwrap();
    f.set_len(2_100 * 1024 * 1024).unwrap(); // sparse: takes no disk space
    run_compose(d.path(), &huge, "too large");
}

#[test]
fn decompression_bomb_is_refused_from_the_header() {
    let d = tmp();
    let bomb = d.path().join("bomb.png");
    std::fs::write(&bomb, png_header(60_000, 60_000)).unwrap();
    refused(
        &[
            "fit-image",
            s(&bomb),
            "--size",
            "720x1280",
            "-o",
            s(&d.path().join("o.jpg")),
        ],
        &bomb,
        "decompression bomb",
    );
}

#[test]
fn wrong_parameters_get_a_plain_answer() {
    let d = tmp();
    let bg = background(d.path(), "bg.mp4", 320, 240, 1.0, 30);
    let mut args = compose_with_background(d.path(), &bg);
    args.extend(["--size".to_string(), "721x1280".to_string()]);
    let r = reelforge(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("must be even"));
    let r = reelforge(&["compose", "--nonsense"]);
    assert_eq!(r.status.code(), Some(2));
    let th = d.path().join("th.mp4");
    let r = reelforge(&[
        "compose",
        "--background",
        s(&bg),
        "--talking-head",
        s(&th),
        "-o",
        "/no/such/folder/out.mp4",
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("/no/such/folder does not exist"));
}

/// A PNG signature and IHDR chunk claiming `w`×`h` pixels, with no pixel data at all.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut v = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    v.extend(13u32.to_be_bytes());
    v.extend(&ihdr);
    v.extend(crc32(&ihdr).to_be_bytes());
    v
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
