//! `reelforge demo` works offline with no keys and leaves a real video behind.
use crate::common;
use common::*;

#[test]
fn demo_makes_a_captioned_talking_head_ad() {
    let d = tmp();
    let r = reelforge(&["demo", "--out-dir", s(d.path())]);
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(
        r.status.success(),
        "{}{}",
        stdout,
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(
        stdout.contains("demo.mp4") && stdout.contains("compose"),
        "{stdout}"
    );
    let probe = ffprobe(&d.path().join("demo.mp4"));
    let v = stream(&probe, "video");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(720), Some(1280))
    );
    assert!(num(&probe["format"]["duration"]) > 3.0);
    stream(&probe, "audio");
}
