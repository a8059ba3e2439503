//! Fitting an image to an exact size (providers reject any other): EXIF orientation applied,
//! alpha flattened on white, then `cover` (crop centred on the largest face, else the centre)
//! or `contain` (the whole image over a blurred fill). SIMD resizing by fast_image_resize.
use crate::error::{InputProblem, MediaError, Result};
use crate::faces::{FaceBox, FaceDetector};
use crate::input::check_file;
use fast_image_resize as fr;
use image::{DynamicImage, ImageDecoder, RgbImage};
use serde::Serialize;
use std::io::Cursor;
use std::path::Path;

/// Images above this many pixels are refused from their header, before decoding (a 12 MP
/// phone photo is 12 M; a classic bomb claims 50 000 × 50 000).
pub const MAX_IMAGE_PIXELS: u64 = 100_000_000;
/// Stills are scanned at up to this long side: faces of [`crate::faces::MIN_FACE_PX`] pixels
/// there, i.e. taking 6 % or more of the long side (8 % on the ¾-size quick decode) — a
/// portrait, a selfie or a person in a product shot.
pub const IMAGE_DETECTION_LONG_SIDE: u32 = 640;
pub const MAX_IMAGE_BYTES: u64 = 100 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FitMode {
    Cover,
    Contain,
}

impl std::str::FromStr for FitMode {
    type Err = MediaError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cover" => Ok(Self::Cover),
            "contain" => Ok(Self::Contain),
            _ => Err(MediaError::BadParameter(format!(
                "mode '{s}' is not cover or contain"
            ))),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FitReport {
    pub source_width: u32,
    pub source_height: u32,
    pub width: u32,
    pub height: u32,
    pub mode: FitMode,
    /// The face the crop was centred on (source pixels, after orientation), if any.
    pub face: Option<FaceBox>,
}

/// Decodes an image file with its EXIF orientation applied and alpha flattened on white.
pub fn load_image(path: &Path) -> Result<RgbImage> {
    Ok(load_image_at_least(path, None)?.image)
}

/// A decoded image, possibly reduced on load, with the size of the original.
pub struct LoadedImage {
    pub image: RgbImage,
    pub original_width: u32,
    pub original_height: u32,
}

/// Like [`load_image`], but when the image is going to be fitted to `target` a JPEG may be
/// decoded at 1/2, 1/4 or 1/8 size, as long as that keeps enough pixels for the fit.
pub fn load_image_at_least(
    path: &Path,
    target: Option<(u32, u32, FitMode)>,
) -> Result<LoadedImage> {
    check_file(path, MAX_IMAGE_BYTES)?;
    let bytes = std::fs::read(path)
        .map_err(|e| MediaError::bad_input(path, InputProblem::Unreadable(e.to_string())))?;
    if let Some((w, h)) = crate::image_header::header_dimensions(&bytes) {
        check_pixel_count(path, w, h)?;
    }
    // The decoder would fill a cut JPEG with grey; a user should hear the file is damaged.
    if crate::image_header::jpeg_is_truncated(&bytes) {
        return Err(MediaError::bad_input(path, InputProblem::Truncated));
    }
    let reader = image::ImageReader::new(Cursor::new(&bytes))
        .with_guessed_format()
        .map_err(|e| MediaError::bad_input(path, InputProblem::Unreadable(e.to_string())))?;
    let Some(format) = reader.format() else {
        return Err(MediaError::bad_input(path, InputProblem::NotAnImage));
    };
    let mut decoder = reader.into_decoder().map_err(|e| header_problem(path, e))?;
    let (w, h) = decoder.dimensions();
    check_pixel_count(path, w, h)?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let loaded = |image: RgbImage| {
        let (ow, oh) = if swaps_axes(orientation) {
            (h, w)
        } else {
            (w, h)
        };
        LoadedImage {
            image,
            original_width: ow,
            original_height: oh,
        }
    };
    if let (image::ImageFormat::Jpeg, Some((tw, th, mode))) = (format, target) {
        // Coded (not display) orientation: swap the target instead of the source.
        let (tw, th) = if swaps_axes(orientation) {
            (th, tw)
        } else {
            (tw, th)
        };
        let (sx, sy) = (f64::from(tw) / f64::from(w), f64::from(th) / f64::from(h));
        let scale = match mode {
            FitMode::Cover => sx.max(sy),
            FitMode::Contain => sx.min(sy),
        };
        let lowres = crate::jpeg_lowres::lowres_for_scale(scale);
        if lowres > 0 {
            if let Some(small) = crate::jpeg_lowres::decode_jpeg_reduced(&bytes, lowres) {
                let mut img = DynamicImage::ImageRgb8(small);
                img.apply_orientation(orientation);
                return Ok(loaded(img.into_rgb8()));
            }
        }
    }
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| pixel_problem(path, e))?;
    img.apply_orientation(orientation);
    Ok(loaded(flatten_on_white(img)))
}

fn swaps_axes(o: image::metadata::Orientation) -> bool {
    use image::metadata::Orientation::*;
    matches!(o, Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH)
}

/// Refuses a size over the pixel limit (a decompression bomb) or without pixels.
pub fn check_pixel_count(path: &Path, w: u32, h: u32) -> Result<()> {
    if u64::from(w) * u64::from(h) > MAX_IMAGE_PIXELS {
        return Err(MediaError::bad_input(
            path,
            InputProblem::DecompressionBomb {
                width: w.into(),
                height: h.into(),
                limit: MAX_IMAGE_PIXELS,
            },
        ));
    }
    if w == 0 || h == 0 {
        return Err(MediaError::bad_input(
            path,
            InputProblem::Invalid("it has no pixels".into()),
        ));
    }
    Ok(())
}

fn header_problem(path: &Path, e: image::ImageError) -> MediaError {
    match e {
        image::ImageError::Unsupported(u) => {
            MediaError::bad_input(path, InputProblem::UnsupportedCodec(u.to_string()))
        }
        image::ImageError::Limits(_) => MediaError::bad_input(
            path,
            InputProblem::TooLarge("its pixels need too much memory".into()),
        ),
        _ => MediaError::bad_input(path, InputProblem::Truncated),
    }
}

fn pixel_problem(path: &Path, e: image::ImageError) -> MediaError {
    match e {
        image::ImageError::Limits(_) => MediaError::bad_input(
            path,
            InputProblem::TooLarge("its pixels need too much memory".into()),
        ),
        image::ImageError::Unsupported(u) => {
            MediaError::bad_input(path, InputProblem::Invalid(u.to_string()))
        }
        _ => MediaError::bad_input(path, InputProblem::Truncated),
    }
}

fn flatten_on_white(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
        let a = u32::from(p[3]);
        for c in 0..3 {
            o[c] = ((u32::from(p[c]) * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    out
}

/// The largest face in an RGB image, detected on a downscaled grey copy.
pub fn largest_face(img: &RgbImage, detector: &mut FaceDetector) -> Option<FaceBox> {
    let (w, h) = img.dimensions();
    let factor = (IMAGE_DETECTION_LONG_SIDE as f32 / w.max(h) as f32).min(1.0);
    let (sw, sh) = (
        ((w as f32 * factor) as u32).max(1),
        ((h as f32 * factor) as u32).max(1),
    );
    let small = if factor < 1.0 {
        resize(img, sw, sh, None).ok()?
    } else {
        img.clone()
    };
    let faces = detector.detect_gray(&gray_of(&small), sw, sh);
    faces.into_iter().next().map(|f| f.scaled(1.0 / factor))
}

fn gray_of(img: &RgbImage) -> Vec<u8> {
    img.pixels()
        .map(|p| ((u32::from(p[0]) * 77 + u32::from(p[1]) * 150 + u32::from(p[2]) * 29) >> 8) as u8)
        .collect()
}

/// True when the file starts like an image format we decode (not a video container).
pub fn looks_like_image(path: &Path) -> bool {
    let mut head = [0u8; 64];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .unwrap_or(0);
    n > 0 && image::guess_format(&head[..n]).is_ok()
}

/// Faces in an image file, largest first, in pixels of the oriented image.
pub fn faces_in_image(path: &Path) -> Result<(u32, u32, Vec<FaceBox>)> {
    let img = load_image(path)?;
    let faces = FaceDetector::new().detect_gray_downscaled(
        &gray_of(&img),
        img.width(),
        img.height(),
        IMAGE_DETECTION_LONG_SIDE,
    );
    Ok((img.width(), img.height(), faces))
}

/// Fits `img` to exactly `width`×`height`.
pub fn fit_rgb(
    img: &RgbImage,
    width: u32,
    height: u32,
    mode: FitMode,
    face: Option<FaceBox>,
) -> Result<RgbImage> {
    let (sw, sh) = img.dimensions();
    match mode {
        FitMode::Cover => {
            let (left, top, cw, ch) = cover_crop(sw, sh, width, height, face.map(|f| f.center()));
            resize(img, width, height, Some((left, top, cw, ch)))
        }
        FitMode::Contain => {
            let mut canvas = blurred_fill(img, width, height)?;
            let s = (f64::from(width) / f64::from(sw)).min(f64::from(height) / f64::from(sh));
            let fw = ((f64::from(sw) * s).round() as u32).clamp(1, width);
            let fh = ((f64::from(sh) * s).round() as u32).clamp(1, height);
            let fitted = resize(img, fw, fh, None)?;
            image::imageops::replace(
                &mut canvas,
                &fitted,
                i64::from((width - fw) / 2),
                i64::from((height - fh) / 2),
            );
            Ok(canvas)
        }
    }
}

/// The source window with the output's aspect ratio, as large as possible, centred on
/// `center` (or the middle) and kept inside the image.
pub fn cover_crop(
    sw: u32,
    sh: u32,
    w: u32,
    h: u32,
    center: Option<(f32, f32)>,
) -> (f64, f64, f64, f64) {
    let (sw, sh) = (f64::from(sw), f64::from(sh));
    let target = f64::from(w) / f64::from(h);
    let (cw, ch) = if sw / sh > target {
        (sh * target, sh)
    } else {
        (sw, sw / target)
    };
    let (cx, cy) = center
        .map(|(x, y)| (f64::from(x), f64::from(y)))
        .unwrap_or((sw / 2.0, sh / 2.0));
    let left = (cx - cw / 2.0).clamp(0.0, sw - cw);
    let top = (cy - ch / 2.0).clamp(0.0, sh - ch);
    (left, top, cw, ch)
}

fn resize(img: &RgbImage, w: u32, h: u32, crop: Option<(f64, f64, f64, f64)>) -> Result<RgbImage> {
    let src =
        fr::images::ImageRef::new(img.width(), img.height(), img.as_raw(), fr::PixelType::U8x3)
            .map_err(|e| MediaError::Internal(format!("resize source: {e}")))?;
    let mut dst = fr::images::Image::new(w, h, fr::PixelType::U8x3);
    let mut opts =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear));
    if let Some((l, t, cw, ch)) = crop {
        opts = opts.crop(l, t, cw, ch);
    }
    fr::Resizer::new()
        .resize(&src, &mut dst, &opts)
        .map_err(|e| MediaError::Internal(format!("resize: {e}")))?;
    RgbImage::from_raw(w, h, dst.into_vec())
        .ok_or_else(|| MediaError::Internal("resize produced a wrong buffer".into()))
}

/// The image covering the frame, shrunk to a sixteenth and blown up again: a soft backdrop.
fn blurred_fill(img: &RgbImage, w: u32, h: u32) -> Result<RgbImage> {
    let (sw, sh) = img.dimensions();
    let (l, t, cw, ch) = cover_crop(sw, sh, w, h, None);
    let small = resize(img, (w / 16).max(2), (h / 16).max(2), Some((l, t, cw, ch)))?;
    let small = image::imageops::blur(&small, 1.5);
    let mut big = resize(&small, w, h, None)?;
    for p in big.pixels_mut() {
        for c in 0..3 {
            p[c] = (u32::from(p[c]) * 3 / 4) as u8; // darker, so the picture stands out
        }
    }
    Ok(big)
}

/// Reads `input`, fits it, and writes JPEG (quality 90) or PNG by `output`'s extension.
pub fn fit_image_to_frame(
    input: &Path,
    output: &Path,
    width: u32,
    height: u32,
    mode: FitMode,
) -> Result<FitReport> {
    if !(16..=4096).contains(&width) || !(16..=4096).contains(&height) {
        return Err(MediaError::BadParameter(format!(
            "size {width}x{height} is outside 16..4096 per side"
        )));
    }
    let (loaded, face) = std::thread::scope(|scope| -> Result<_> {
        // A JPEG's face search runs on the other core from its own 1/8-size decode while this
        // thread decodes the picture for the crop.
        let early = (mode == FitMode::Cover && is_jpeg(input))
            .then(|| scope.spawn(|| face_from_small_decode(input)));
        let loaded = load_image_at_least(input, Some((width, height, mode)))?;
        let to_loaded = loaded.image.width() as f32 / loaded.original_width as f32;
        let face = match (mode, early.map(|h| h.join())) {
            (FitMode::Contain, _) => None,
            (FitMode::Cover, Some(Ok(Some(found)))) => found.map(|f| f.scaled(to_loaded)),
            (FitMode::Cover, _) => largest_face(&loaded.image, &mut FaceDetector::new()),
        };
        Ok((loaded, face))
    })?;
    let img = &loaded.image;
    let fitted = fit_rgb(img, width, height, mode, face)?;
    save_rgb(&fitted, output)?;
    let to_original = loaded.original_width as f32 / img.width() as f32;
    Ok(FitReport {
        source_width: loaded.original_width,
        source_height: loaded.original_height,
        width,
        height,
        mode,
        face: face.map(|f| f.scaled(to_original)),
    })
}

fn is_jpeg(path: &Path) -> bool {
    let mut head = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && head == [0xFF, 0xD8]
}

/// The largest face in original-image pixels, found on a decode reduced to about
/// [`IMAGE_DETECTION_LONG_SIDE`].
/// `None` when the small decode is not possible (the caller then searches the full picture);
/// `Some(None)` when there is no face.
fn face_from_small_decode(path: &Path) -> Option<Option<FaceBox>> {
    // Down to ¾ of the detection size (a 12 MP photo decodes at 1/8, 500 px, with no resize
    // after it): faces of 8 % of the long side and more.
    let side = IMAGE_DETECTION_LONG_SIDE * 3 / 4;
    let small = load_image_at_least(path, Some((side, side, FitMode::Contain))).ok()?;
    let mut detector = FaceDetector::new();
    let to_original = small.original_width as f32 / small.image.width() as f32;
    Some(largest_face(&small.image, &mut detector).map(|f| f.scaled(to_original)))
}

pub fn save_rgb(img: &RgbImage, output: &Path) -> Result<()> {
    let ext = output
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let file = std::fs::File::create(output)?;
    let mut w = std::io::BufWriter::new(file);
    let result = match ext.as_str() {
        "png" => img.write_with_encoder(image::codecs::png::PngEncoder::new(&mut w)),
        "jpg" | "jpeg" => match crate::jpeg_lowres::encode_jpeg(img, 90) {
            Some(bytes) => {
                std::io::Write::write_all(&mut w, &bytes).map_err(image::ImageError::IoError)
            }
            None => img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
                &mut w, 90,
            )),
        },
        _ => {
            return Err(MediaError::BadParameter(format!(
                "output {} must end in .jpg, .jpeg or .png",
                output.display()
            )))
        }
    };
    result.map_err(|e| MediaError::Internal(format!("encode {}: {e}", output.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cover_crop_follows_the_face_but_stays_inside() {
        // Landscape 4000×3000 to portrait 9:16: a 1687.5 wide window.
        let (l, t, w, h) = cover_crop(4000, 3000, 720, 1280, Some((3900.0, 1500.0)));
        assert!((w - 1687.5).abs() < 0.01 && (h - 3000.0).abs() < 0.01);
        assert!((l - (4000.0 - 1687.5)).abs() < 0.01 && t == 0.0);
        let (l, ..) = cover_crop(4000, 3000, 720, 1280, None);
        assert!((l - (4000.0 - 1687.5) / 2.0).abs() < 0.01);
    }

    #[test]
    fn contain_keeps_the_whole_picture_over_a_fill() {
        let mut img = RgbImage::new(100, 50);
        for p in img.pixels_mut() {
            *p = image::Rgb([250, 10, 10]);
        }
        let out = fit_rgb(&img, 60, 100, FitMode::Contain, None).unwrap();
        assert_eq!(out.dimensions(), (60, 100));
        assert!(out.get_pixel(30, 50)[0] > 240, "picture in the middle");
        assert!(out.get_pixel(30, 2)[0] < 200, "darkened fill above it");
    }
}
