//! JPEG "shrink on load": libjpeg-turbo (and, as a fallback, FFmpeg's JPEG decoder) can run
//! the inverse DCT at 1/2, 1/4 or 1/8 size, which skips most of the decoding work when a 12 MP
//! photo is going to become a 720×1280 frame anyway. This is what vipsthumbnail does.
use crate::error::Result;
use crate::input::init_ffmpeg;
use ffmpeg_next as ff;
use image::RgbImage;

/// The largest power-of-two reduction (0–3, i.e. 1×–8×) that still leaves at least as many
/// pixels as downscaling by `scale` (output size / source size) needs.
pub fn lowres_for_scale(scale: f64) -> u32 {
    let mut n = 0;
    while n < 3 && f64::from(1u32 << (n + 1)) * scale <= 1.0 {
        n += 1;
    }
    n
}

/// Decodes a JPEG held in memory at 1/2^`lowres` size as RGB: libjpeg-turbo (SIMD Huffman
/// decoding, scaled IDCT and colour conversion in one pass), else FFmpeg's decoder (CMYK and
/// other files libjpeg-turbo refuses); `None` when neither can (the caller then decodes at
/// full size with the image crate).
pub fn decode_jpeg_reduced(bytes: &[u8], lowres: u32) -> Option<RgbImage> {
    decode_turbo(bytes, lowres).or_else(|| decode(bytes, lowres).ok().flatten())
}

fn decode_turbo(bytes: &[u8], lowres: u32) -> Option<RgbImage> {
    let mut d = turbojpeg::Decompressor::new().ok()?;
    let scale = turbojpeg::ScalingFactor::new(1, 1 << lowres.min(3));
    let header = d.read_header(bytes).ok()?.scaled(scale);
    d.set_scaling_factor(scale).ok()?;
    let (w, h) = (header.width, header.height);
    let mut image = turbojpeg::Image {
        pixels: vec![0u8; 3 * w * h],
        width: w,
        pitch: 3 * w,
        height: h,
        format: turbojpeg::PixelFormat::RGB,
    };
    d.decompress(bytes, image.as_deref_mut()).ok()?;
    RgbImage::from_raw(w as u32, h as u32, image.pixels)
}

/// Encodes RGB as a JPEG (quality `quality`, 4:2:0) with libjpeg-turbo's SIMD encoder.
pub fn encode_jpeg(img: &RgbImage, quality: i32) -> Option<Vec<u8>> {
    let mut c = turbojpeg::Compressor::new().ok()?;
    c.set_quality(quality).ok()?;
    c.set_subsamp(turbojpeg::Subsamp::Sub2x2).ok()?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let image = turbojpeg::Image {
        pixels: img.as_raw().as_slice(),
        width: w,
        pitch: 3 * w,
        height: h,
        format: turbojpeg::PixelFormat::RGB,
    };
    c.compress_to_vec(image).ok()
}

fn decode(bytes: &[u8], lowres: u32) -> Result<Option<RgbImage>> {
    init_ffmpeg();
    let Some(codec) = ff::codec::decoder::find(ff::codec::Id::MJPEG) else {
        return Ok(None);
    };
    let mut ctx = ff::codec::context::Context::new_with_codec(codec);
    // SAFETY: a plain field write before the decoder is opened.
    unsafe {
        (*ctx.as_mut_ptr()).lowres = lowres.min(3) as i32;
    }
    let mut decoder = ctx.decoder().video()?;
    decoder.send_packet(&ff::Packet::copy(bytes))?;
    decoder.send_eof()?;
    let mut frame = ff::frame::Video::empty();
    decoder.receive_frame(&mut frame)?;
    let (w, h) = (frame.width(), frame.height());
    if w == 0 || h == 0 {
        return Ok(None);
    }
    let mut rgb = ff::frame::Video::empty();
    let mut scaler = ff::software::scaling::Context::get(
        frame.format(),
        w,
        h,
        ff::format::Pixel::RGB24,
        w,
        h,
        ff::software::scaling::Flags::BILINEAR,
    )?;
    scaler.run(&frame, &mut rgb)?;
    let stride = rgb.stride(0);
    let data = rgb.data(0);
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    for row in 0..h as usize {
        out.extend_from_slice(&data[row * stride..row * stride + w as usize * 3]);
    }
    Ok(RgbImage::from_raw(w, h, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduction_never_goes_below_the_needed_size() {
        assert_eq!(lowres_for_scale(1280.0 / 3000.0), 1); // 12 MP landscape to 720x1280 cover
        assert_eq!(lowres_for_scale(0.6), 0);
        assert_eq!(lowres_for_scale(0.25), 2);
        assert_eq!(lowres_for_scale(0.01), 3);
    }
}
