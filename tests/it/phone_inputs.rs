//! What phones send: rotated clips (display matrix), variable frame rate, odd sizes, lossless
//! and HEVC codecs, HDR. Each must come out upright, at constant 30 fps, even-sized, in SDR.
use crate::common;
use common::*;

fn report(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn rotated_phone_clip_is_shown_upright() {
    let d = tmp();
    // Coded landscape: left half red, right half blue; the display matrix turns it 90° clockwise,
    // so upright the top half is red and the bottom half blue.
    let coded = p(d.path(), "coded.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=640x360:d=1",
        "-f",
        "lavfi",
        "-i",
        "color=c=blue:s=640x360:d=1",
        "-filter_complex",
        "[0:v]crop=320:360:0:0[l];[1:v]crop=320:360:0:0[r];[l][r]hstack,format=yuv420p",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        s(&coded),
    ]);
    let rotated = p(d.path(), "rotated.mp4");
    ffmpeg(&[
        "-i",
        s(&coded),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        s(&rotated),
    ]);
    let info = reelforge(&["probe", s(&rotated)]);
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert!(
        info["video"]["rotation"] == 90 || info["video"]["rotation"] == 270,
        "{info}"
    );
    assert_eq!(
        (
            info["video"]["display_width"].as_u64(),
            info["video"]["display_height"].as_u64()
        ),
        (Some(360), Some(640))
    );
    // ffmpeg's own auto-rotation is the reference for which half ends up on top.
    let upright = p(d.path(), "upright.png");
    ffmpeg(&["-i", s(&rotated), "-frames:v", "1", s(&upright)]);
    let top_is_red = pixel(&upright, None, 180, 100).0 > 180;

    let th = moving_head(d.path(), "th.mp4", 1.0);
    let out = p(d.path(), "out.mp4");
    let r = reelforge(&[
        "compose",
        "--background",
        s(&rotated),
        "--talking-head",
        s(&th),
        "--position",
        "top-left",
        "--size",
        "360x640",
        "-o",
        s(&out),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (top, bottom) = (
        pixel(&out, Some(0.5), 300, 250),
        pixel(&out, Some(0.5), 300, 600),
    );
    let (red, blue) = if top_is_red {
        (top, bottom)
    } else {
        (bottom, top)
    };
    assert!(red.0 > 180 && red.2 < 80, "red half: {red:?}");
    assert!(blue.2 > 180 && blue.0 < 80, "blue half: {blue:?}");
}

#[test]
fn variable_frame_rate_and_odd_sizes_become_constant_30_fps_even_output() {
    let d = tmp();
    // Frame steps jitter between 13 and 53 ms, like a phone's variable frame rate; odd sizes
    // in a lossless codec (x264 cannot even encode them in 4:2:0).
    let vfr = p(d.path(), "vfr.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=641x479:r=30:d=3",
        "-vf",
        "settb=1/1000,setpts='N*33+if(eq(mod(N,3),0),20,0)'",
        "-fps_mode",
        "vfr",
        "-enc_time_base",
        "1/1000",
        "-c:v",
        "ffv1",
        s(&vfr),
    ]);
    let info: serde_json::Value =
        serde_json::from_slice(&reelforge(&["probe", s(&vfr)]).stdout).unwrap();
    assert_eq!(info["video"]["variable_frame_rate"], true, "{info}");
    let head = p(d.path(), "head.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=s=333x251:r=24:d=2",
        "-f",
        "lavfi",
        "-i",
        "sine=d=2",
        "-c:v",
        "ffv1",
        "-c:a",
        "flac",
        s(&head),
    ]);
    let out = p(d.path(), "out.mp4");
    let rep = p(d.path(), "r.json");
    let r = reelforge(&[
        "compose",
        "--background",
        s(&vfr),
        "--talking-head",
        s(&head),
        "--size",
        "1280x720",
        "--position",
        "bottom-right",
        "-o",
        s(&out),
        "--report",
        s(&rep),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let probe = ffprobe(&out);
    let v = stream(&probe, "video");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(1280), Some(720))
    );
    assert_eq!(v["r_frame_rate"], "30/1");
    assert_eq!(v["avg_frame_rate"], "30/1");
    assert!((num(&v["nb_read_frames"]) - 60.0).abs() <= 1.0);
    // No face in a test pattern: the report says the centre was used.
    assert_eq!(report(&rep)["face_track"]["fallback_center"], true);
}

#[test]
fn hdr_phone_clip_is_tone_mapped_not_washed_out() {
    let d = tmp();
    // PQ (BT.2020, 10-bit) grey at about the HDR reference white of 203 nits. Shown without
    // tone mapping it is a dull mid grey (RGB ~146); mapped to SDR it must be near white.
    let hdr = p(d.path(), "hdr.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=0x949494:s=640x360:d=1",
        "-pix_fmt",
        "yuv420p10le",
        "-c:v",
        "libx265",
        "-x265-params",
        "log-level=error",
        "-color_trc",
        "smpte2084",
        "-color_primaries",
        "bt2020",
        "-colorspace",
        "bt2020nc",
        s(&hdr),
    ]);
    let info: serde_json::Value =
        serde_json::from_slice(&reelforge(&["probe", s(&hdr)]).stdout).unwrap();
    assert_eq!(info["video"]["color_transfer"], "smpte2084");
    let th = moving_head(d.path(), "th.mp4", 1.0);
    let out = p(d.path(), "out.mp4");
    let r = reelforge(&[
        "compose",
        "--background",
        s(&hdr),
        "--talking-head",
        s(&th),
        "--position",
        "top-left",
        "-o",
        s(&out),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (r, g, b) = pixel(&out, Some(0.5), 500, 900);
    assert!(r > 200 && g > 200 && b > 200, "bright: {r} {g} {b}");
    assert!(
        r.abs_diff(g) < 8 && g.abs_diff(b) < 8,
        "still neutral: {r} {g} {b}"
    );
}
