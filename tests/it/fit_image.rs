//! `fit-image`: exact sizes from every supported format, EXIF orientation, face-centred cover.
use crate::common;
use common::*;

fn dims(path: &std::path::Path) -> (u64, u64) {
    let p = ffprobe(path);
    let v = stream(&p, "video");
    (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap())
}

#[test]
fn every_input_format_comes_out_at_the_exact_size() {
    let d = tmp();
    for ext in ["png", "webp", "gif", "bmp", "tiff", "jpg"] {
        let src = p(d.path(), &format!("in.{ext}"));
        // TIFF as RGB: the YCbCr-subsampled TIFF ffmpeg writes by default is rare in the wild.
        let mut args = vec![
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=801x603:d=1",
            "-frames:v",
            "1",
        ];
        if ext == "tiff" {
            args.extend(["-pix_fmt", "rgb24"]);
        }
        args.push(s(&src));
        ffmpeg(&args);
        for (mode, out_ext) in [("cover", "jpg"), ("contain", "png")] {
            let out = p(d.path(), &format!("out-{ext}-{mode}.{out_ext}"));
            let r = reelforge(&[
                "fit-image",
                s(&src),
                "--size",
                "720x1280",
                "--mode",
                mode,
                "-o",
                s(&out),
            ]);
            assert!(
                r.status.success(),
                "{ext} {mode}: {}",
                String::from_utf8_lossy(&r.stderr)
            );
            assert_eq!(dims(&out), (720, 1280), "{ext} {mode}");
        }
    }
}

#[test]
fn cover_crop_is_centred_on_the_face() {
    let d = tmp();
    // The portrait sits at the far right of a wide grey canvas.
    let wide = p(d.path(), "wide.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:s=1600x600:d=1",
        "-i",
        ASTRONAUT,
        "-filter_complex",
        "[1:v]scale=400:400[f];[0:v][f]overlay=x=1150:y=100",
        "-frames:v",
        "1",
        s(&wide),
    ]);
    let out = p(d.path(), "out.png");
    let r = reelforge(&["fit-image", s(&wide), "--size", "400x600", "-o", s(&out)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let report: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert!(report["face"].is_object(), "{report}");
    let (w, h, faces) = media::faces_in_image(&out).unwrap();
    assert_eq!((w, h), (400, 600));
    let (fx, _) = faces[0].center();
    assert!(
        (fx - 200.0).abs() < 40.0,
        "face at x={fx} in a 400 px wide crop"
    );
}

#[test]
fn exif_orientation_is_applied_and_alpha_flattened() {
    let d = tmp();
    // Landscape pixels, left red / right blue, tagged "rotate 90° clockwise to display".
    let plain = p(d.path(), "plain.jpg");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=100x100:d=1",
        "-f",
        "lavfi",
        "-i",
        "color=c=blue:s=100x100:d=1",
        "-filter_complex",
        "hstack",
        "-frames:v",
        "1",
        s(&plain),
    ]);
    let jpeg = std::fs::read(&plain).unwrap();
    let tagged = p(d.path(), "tagged.jpg");
    std::fs::write(&tagged, with_exif_orientation(&jpeg, 6)).unwrap();
    let out = p(d.path(), "out.png");
    let r = reelforge(&["fit-image", s(&tagged), "--size", "100x200", "-o", s(&out)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let report: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(
        (
            report["source_width"].as_u64(),
            report["source_height"].as_u64()
        ),
        (Some(100), Some(200)),
        "upright is portrait"
    );
    let px = |y: u32| {
        let o = std::process::Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-i",
                s(&out),
                "-vf",
                &format!("format=rgb24,crop=1:1:50:{y}"),
                "-f",
                "rawvideo",
                "-",
            ])
            .output()
            .unwrap();
        (o.stdout[0], o.stdout[2])
    };
    assert!(px(20).0 > 200 && px(20).1 < 60, "red on top");
    assert!(px(180).1 > 200 && px(180).0 < 60, "blue at the bottom");

    // A fully transparent PNG becomes white, not black.
    let clear = p(d.path(), "clear.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=black@0.0:s=64x64:d=1,format=rgba",
        "-frames:v",
        "1",
        s(&clear),
    ]);
    let flat = p(d.path(), "flat.jpg");
    assert!(
        reelforge(&["fit-image", s(&clear), "--size", "32x32", "-o", s(&flat)])
            .status
            .success()
    );
    let o = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-i",
            s(&flat),
            "-vf",
            "format=gray,crop=1:1:16:16",
            "-f",
            "rawvideo",
            "-",
        ])
        .output()
        .unwrap();
    assert!(o.stdout[0] > 240, "flattened on white: {}", o.stdout[0]);
}

/// Inserts an APP1 Exif segment with one Orientation entry right after the JPEG's SOI marker.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend(1u16.to_be_bytes()); // one entry
    tiff.extend(0x0112u16.to_be_bytes()); // Orientation
    tiff.extend(3u16.to_be_bytes()); // SHORT
    tiff.extend(1u32.to_be_bytes());
    tiff.extend(orientation.to_be_bytes());
    tiff.extend([0, 0]);
    tiff.extend(0u32.to_be_bytes()); // no next IFD
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend(&jpeg[2..]);
    out
}
