//! The JPEG poster Telegram shows before playback: at most 320 px on the long side and
//! 200 KB, from a composed frame.
use crate::error::{MediaError, Result};
use crate::yuv::Yuv420;
use fast_image_resize as fr;
use std::path::Path;

pub const THUMB_LONG_SIDE: usize = 320;
pub const THUMB_MAX_BYTES: usize = 200 * 1024;

/// BT.709 limited-range YUV 4:2:0 to RGB.
pub fn yuv_to_rgb(p: &Yuv420) -> Vec<u8> {
    let mut out = vec![0u8; p.width * p.height * 3];
    for y in 0..p.height {
        for x in 0..p.width {
            let c = (y / 2) * (p.width / 2) + x / 2;
            let yy = (f32::from(p.y[y * p.width + x]) - 16.0) * 1.164;
            let u = f32::from(p.u[c]) - 128.0;
            let v = f32::from(p.v[c]) - 128.0;
            let o = (y * p.width + x) * 3;
            out[o] = (yy + 1.793 * v).clamp(0.0, 255.0) as u8;
            out[o + 1] = (yy - 0.213 * u - 0.533 * v).clamp(0.0, 255.0) as u8;
            out[o + 2] = (yy + 2.112 * u).clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Writes a picture at full size as a JPEG of `quality` (stills a phone shows full screen).
pub fn write_jpeg(picture: &Yuv420, path: &Path, quality: u8) -> Result<()> {
    let img = image::RgbImage::from_raw(
        picture.width as u32,
        picture.height as u32,
        yuv_to_rgb(picture),
    )
    .ok_or_else(|| MediaError::Internal("still buffer".into()))?;
    let mut bytes = Vec::new();
    img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
        &mut bytes, quality,
    ))
    .map_err(|e| MediaError::Internal(format!("still encode: {e}")))?;
    std::fs::write(path, bytes)?;
    Ok(())
}

/// Writes the thumbnail and returns its (width, height).
pub fn write_thumbnail(picture: &Yuv420, path: &Path) -> Result<(u32, u32)> {
    let rgb = yuv_to_rgb(picture);
    let s = THUMB_LONG_SIDE as f64 / picture.width.max(picture.height) as f64;
    let (w, h) = (
        ((picture.width as f64 * s).round() as u32).max(1),
        ((picture.height as f64 * s).round() as u32).max(1),
    );
    let src = fr::images::ImageRef::new(
        picture.width as u32,
        picture.height as u32,
        &rgb,
        fr::PixelType::U8x3,
    )
    .map_err(|e| MediaError::Internal(format!("thumbnail source: {e}")))?;
    let mut dst = fr::images::Image::new(w, h, fr::PixelType::U8x3);
    fr::Resizer::new()
        .resize(&src, &mut dst, None)
        .map_err(|e| MediaError::Internal(format!("thumbnail resize: {e}")))?;
    let img = image::RgbImage::from_raw(w, h, dst.into_vec())
        .ok_or_else(|| MediaError::Internal("thumbnail buffer".into()))?;
    for quality in [85u8, 70, 55, 40] {
        let mut bytes = Vec::new();
        img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
            &mut bytes, quality,
        ))
        .map_err(|e| MediaError::Internal(format!("thumbnail encode: {e}")))?;
        if bytes.len() <= THUMB_MAX_BYTES {
            std::fs::write(path, bytes)?;
            return Ok((w, h));
        }
    }
    Err(MediaError::Internal("thumbnail stays above 200 KB".into()))
}

/// The thumbnail of a finished video: its frame at one second (or its middle when shorter).
pub fn video_thumbnail(video: &Path, out: &Path) -> Result<(u32, u32)> {
    let mut reader =
        crate::video_in::VideoReader::open(video, Some(THUMB_LONG_SIDE * THUMB_LONG_SIDE))?;
    let fit = crate::video_in::FrameFit::whole(reader.display_w, reader.display_h, 1280);
    reader.set_fit(fit);
    let mut picture = Yuv420::new(fit.out_w, fit.out_h);
    let t = (reader.duration_s / 2.0).min(1.0);
    reader.frame_at(t, &mut picture)?;
    write_thumbnail(&picture, out)
}
