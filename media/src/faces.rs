//! Face detection with rustface (SeetaFace frontal model embedded at build time).
use serde::Serialize;

static MODEL_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/seeta_fd_frontal_v1.0.bin"));

/// A face box in the pixel coordinates of the image it was found in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    pub score: f32,
}

impl FaceBox {
    pub fn center(&self) -> (f32, f32) {
        (self.x + self.width / 2.0, self.y + self.height / 2.0)
    }
    pub fn area(&self) -> f32 {
        self.width * self.height
    }
    /// The same box in a picture `factor` times as large.
    pub fn scaled(&self, factor: f32) -> Self {
        Self {
            x: self.x * factor,
            y: self.y * factor,
            width: self.width * factor,
            height: self.height * factor,
            score: self.score,
        }
    }
}

/// The smallest face found, in pixels of the image searched: the detector's 40 px window at
/// full scale (rustface 0.1.7 searches downwards from the image's own size and never
/// enlarges it, whatever minimum face size it is given). To find smaller faces, search a
/// larger picture.
pub const MIN_FACE_PX: u32 = 40;

pub struct FaceDetector {
    inner: Box<dyn rustface::Detector>,
}

impl FaceDetector {
    pub fn new() -> Self {
        // The model is compiled into the binary from the rustface package; reading it cannot fail
        // unless the build itself is broken.
        let model = rustface::read_model(MODEL_BYTES).expect("embedded SeetaFace model is valid");
        let mut inner = rustface::create_detector_with_model(model);
        inner.set_score_thresh(2.0);
        inner.set_pyramid_scale_factor(0.8);
        inner.set_slide_window_step(4, 4);
        Self { inner }
    }

    /// Looks for faces up to `px` pixels only (`None`: any size): the pyramid's coarser
    /// levels, which find the larger faces, are skipped.
    pub fn set_max_face_size(&mut self, px: Option<u32>) {
        self.inner
            .set_max_face_size(px.map_or(0, |p| p.max(MIN_FACE_PX)));
    }

    /// Detects faces in an 8-bit grey image (row stride = width), best first.
    pub fn detect_gray(&mut self, gray: &[u8], width: u32, height: u32) -> Vec<FaceBox> {
        if width < 24 || height < 24 || gray.len() < (width * height) as usize {
            return Vec::new();
        }
        let image = rustface::ImageData::new(gray, width, height);
        let mut faces: Vec<FaceBox> = self
            .inner
            .detect(&image)
            .into_iter()
            .map(|f| {
                let b = f.bbox();
                FaceBox {
                    x: b.x() as f32,
                    y: b.y() as f32,
                    width: b.width() as f32,
                    height: b.height() as f32,
                    score: f.score() as f32,
                }
            })
            .collect();
        faces.sort_by(|a, b| b.area().total_cmp(&a.area()));
        faces
    }

    /// Detects on a copy downscaled to `long_side` pixels on its long side (detection cost
    /// grows with the pixel count) and maps the boxes back.
    pub fn detect_gray_downscaled(
        &mut self,
        gray: &[u8],
        width: u32,
        height: u32,
        long_side: u32,
    ) -> Vec<FaceBox> {
        let long = width.max(height);
        if long <= long_side {
            return self.detect_gray(gray, width, height);
        }
        let factor = long_side as f32 / long as f32;
        let sw = ((width as f32 * factor).round() as u32).max(1);
        let sh = ((height as f32 * factor).round() as u32).max(1);
        let small = downscale_gray(gray, width, height, sw, sh);
        self.detect_gray(&small, sw, sh)
            .into_iter()
            .map(|f| f.scaled(1.0 / factor))
            .collect()
    }
}

impl Default for FaceDetector {
    fn default() -> Self {
        Self::new()
    }
}

/// Area-average downscale of a grey plane (box filter): enough for a detector's input.
pub fn downscale_gray(src: &[u8], w: u32, h: u32, dw: u32, dh: u32) -> Vec<u8> {
    downscale_plane(src, w as usize, w, h, dw, dh)
}

/// Same as [`downscale_gray`] with an explicit row stride (for decoded frame planes).
pub fn downscale_plane(src: &[u8], stride: usize, w: u32, h: u32, dw: u32, dh: u32) -> Vec<u8> {
    let mut out = vec![0u8; (dw * dh) as usize];
    for oy in 0..dh {
        let y0 = (oy * h / dh) as usize;
        let y1 = (((oy + 1) * h / dh) as usize).max(y0 + 1).min(h as usize);
        for ox in 0..dw {
            let x0 = (ox * w / dw) as usize;
            let x1 = (((ox + 1) * w / dw) as usize).max(x0 + 1).min(w as usize);
            let mut sum = 0u32;
            for y in y0..y1 {
                let row = &src[y * stride..];
                for v in &row[x0..x1] {
                    sum += u32::from(*v);
                }
            }
            out[(oy * dw + ox) as usize] = (sum / ((y1 - y0) * (x1 - x0)) as u32) as u8;
        }
    }
    out
}
