//! Reading a video as a constant-rate sequence of display-oriented YUV 4:2:0 pictures: the
//! frame shown at time t is the last decoded frame whose timestamp is ≤ t (so variable frame
//! rate becomes constant), the clip loops when asked past its end, rotation is applied, and
//! only the frames that are shown get scaled.
use crate::error::{InputProblem, MediaError, Result};
use crate::input::{decoder_context, open_media};
use crate::probe::{is_cover_art, rational, stream_rotation};
use crate::yuv::{even, Yuv420};
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

/// How a source frame becomes the output picture: scale the display-oriented frame to
/// `scaled_w`×`scaled_h`, then take the `out_w`×`out_h` window at (`left`, `top`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameFit {
    pub scaled_w: usize,
    pub scaled_h: usize,
    pub left: usize,
    pub top: usize,
    pub out_w: usize,
    pub out_h: usize,
}

impl FrameFit {
    /// Scale to cover `out_w`×`out_h` and centre-crop (even sizes throughout).
    pub fn cover(display_w: u32, display_h: u32, out_w: usize, out_h: usize) -> Self {
        let s = (out_w as f64 / f64::from(display_w)).max(out_h as f64 / f64::from(display_h));
        let scaled_w = even((f64::from(display_w) * s).ceil()).max(out_w);
        let scaled_h = even((f64::from(display_h) * s).ceil()).max(out_h);
        let left = ((scaled_w - out_w) / 2) & !1;
        let top = ((scaled_h - out_h) / 2) & !1;
        Self {
            scaled_w,
            scaled_h,
            left,
            top,
            out_w,
            out_h,
        }
    }

    /// Keep the whole frame, shrunk so its long side is at most `max_long` (even sizes).
    pub fn whole(display_w: u32, display_h: u32, max_long: u32) -> Self {
        let s = (f64::from(max_long) / f64::from(display_w.max(display_h))).min(1.0);
        let w = even(f64::from(display_w) * s);
        let h = even(f64::from(display_h) * s);
        Self {
            scaled_w: w,
            scaled_h: h,
            left: 0,
            top: 0,
            out_w: w,
            out_h: h,
        }
    }
}

pub struct VideoReader {
    path: PathBuf,
    input: ff::format::context::Input,
    decoder: ff::decoder::Video,
    stream_index: usize,
    time_base: f64,
    pub rotation: u32,
    pub display_w: u32,
    pub display_h: u32,
    /// Clip length used for looping (container or stream duration).
    pub duration_s: f64,
    /// One per output picture a decoded frame becomes (several when one pass makes several
    /// formats: each frame is decoded once and scaled once per format).
    fits: Vec<Scaling>,
    /// HDR sources are scaled to 10 bits, then tone-mapped.
    hdr: Option<crate::tonemap::ToneMapper>,
    current: Option<(f64, ff::frame::Video)>,
    pending: Option<(f64, ff::frame::Video)>,
    loop_offset: f64,
    last_pts: f64,
    frame_step: f64,
    at_eof: bool,
    decoded_any: bool,
    pub frames_decoded: u64,
    /// Decoding on the GPU (NVDEC); frames are copied back to system memory.
    pub on_gpu: bool,
}

// SAFETY: a reader is moved to the thread that decodes with it and used by that thread alone;
// the swscale and libav contexts it owns have no affinity to the thread that created them.
unsafe impl Send for VideoReader {}

impl VideoReader {
    /// Opens the best video stream. `shown_pixels` is the area the picture will be shown at:
    /// when that is well below the source's, the decoder skips the loop filter (its smoothing
    /// is lost in the downscale anyway, and it is a large part of H.264/HEVC decoding time).
    pub fn open(path: &Path, shown_pixels: Option<usize>) -> Result<Self> {
        let input = open_media(path)?;
        let stream = input
            .streams()
            .best(ff::media::Type::Video)
            .filter(|s| !is_cover_art(s))
            .ok_or_else(|| MediaError::bad_input(path, InputProblem::NoVideoStream))?;
        let stream_index = stream.index();
        let time_base = rational(stream.time_base());
        let rotation = stream_rotation(&stream);
        // SAFETY: the parameters belong to the stream of the open input.
        let trc = unsafe { (*stream.parameters().as_ptr()).color_trc };
        let hdr = crate::tonemap::HdrTransfer::from_trc(trc).map(crate::tonemap::ToneMapper::new);
        let mut ctx = decoder_context(path, &stream)?;
        // SAFETY: the parameters belong to the stream of the open input.
        let coded_pixels = unsafe {
            ((*stream.parameters().as_ptr()).width.max(0) as usize)
                * ((*stream.parameters().as_ptr()).height.max(0) as usize)
        };
        ctx.set_threading(ff::threading::Config {
            kind: ff::threading::Type::Frame,
            // One thread per core, not ffmpeg's cores + 1: the encoder runs beside the decoder,
            // and on 2 cores the extra threads cost more in switching than they gain. Pictures
            // under a megapixel (a 720p talking head) decode in a few ms on the caller's own
            // thread: frame threads there cost more in hand-overs (measured +15 % CPU) than the
            // caller waits.
            count: if coded_pixels < SMALL_PICTURE_PIXELS {
                1
            } else {
                crate::cores()
            },
            ..Default::default()
        });
        // Only from a 2× downscale per side on: below that the deblocking artefacts survive
        // the scaling, and the encoder spends more on them (measured on the compose bench:
        // 1080×1920 → 720×1280 decoded 0.6 s faster but encoded 0.7 s slower and 32 % bigger).
        if shown_pixels.is_some_and(|shown| shown * 4 <= coded_pixels) {
            // SAFETY: plain field writes on a codec context that is not opened yet.
            unsafe {
                let raw = ctx.as_mut_ptr();
                (*raw).skip_loop_filter = ff::ffi::AVDiscard::AVDISCARD_ALL;
                (*raw).flags2 |= ff::ffi::AV_CODEC_FLAG2_FAST;
            }
        }
        // NVDEC where the device and the codec allow it (MEDIA_GPU=auto), else the CPU.
        let on_gpu = crate::gpu::attach(&mut ctx);
        let decoder = ctx.decoder().video().map_err(|_| {
            MediaError::bad_input(
                path,
                InputProblem::UnsupportedCodec(
                    format!("{:?}", stream.parameters().id()).to_lowercase(),
                ),
            )
        })?;
        let (w, h) = (decoder.width(), decoder.height());
        if w == 0 || h == 0 {
            return Err(MediaError::bad_input(
                path,
                InputProblem::Invalid("its video stream has no frame size".into()),
            ));
        }
        if u64::from(w) * u64::from(h) > crate::input::MAX_VIDEO_PIXELS {
            return Err(MediaError::bad_input(
                path,
                InputProblem::TooLarge(format!("{w}×{h} video frames are larger than 8K")),
            ));
        }
        let (display_w, display_h) = if rotation % 180 == 90 { (h, w) } else { (w, h) };
        let stream_s = if stream.duration() > 0 {
            stream.duration() as f64 * time_base
        } else {
            0.0
        };
        let container_s = if input.duration() > 0 {
            input.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE)
        } else {
            0.0
        };
        let fps = rational(stream.avg_frame_rate());
        let frame_step = if fps > 0.0 { 1.0 / fps } else { 1.0 / 30.0 };
        Ok(Self {
            path: path.to_path_buf(),
            input,
            decoder,
            stream_index,
            time_base,
            rotation,
            display_w,
            display_h,
            duration_s: if stream_s > 0.0 {
                stream_s
            } else {
                container_s
            },
            fits: Vec::new(),
            hdr,
            current: None,
            pending: None,
            loop_offset: 0.0,
            last_pts: 0.0,
            frame_step,
            at_eof: false,
            decoded_any: false,
            frames_decoded: 0,
            on_gpu,
        })
    }

    pub fn set_fit(&mut self, fit: FrameFit) {
        self.set_fits(&[fit]);
    }

    /// Each decoded frame becomes one picture per fit ([`VideoReader::frames_at`]).
    pub fn set_fits(&mut self, fits: &[FrameFit]) {
        self.fits = fits.iter().copied().map(Scaling::new).collect();
    }

    /// The picture shown at `t` seconds (looping past the end), written into `out`, whose size
    /// must be the fit's output size. Returns false only if the file has no decodable frame.
    pub fn frame_at(&mut self, t: f64, out: &mut Yuv420) -> Result<bool> {
        self.frames_at(t, std::slice::from_mut(out))
    }

    /// Like [`VideoReader::frame_at`] for every fit at once: the frame is decoded once and
    /// scaled into `outs[i]` by fit `i`.
    pub fn frames_at(&mut self, t: f64, outs: &mut [Yuv420]) -> Result<bool> {
        self.advance_to(t)?;
        let Some((_, frame)) = self.current.as_ref() else {
            return Ok(false);
        };
        if self.fits.is_empty() {
            let whole = FrameFit::whole(self.display_w, self.display_h, u32::MAX);
            self.fits.push(Scaling::new(whole));
        }
        debug_assert_eq!(self.fits.len(), outs.len(), "one picture per fit");
        for (scaling, out) in self.fits.iter_mut().zip(outs) {
            scaling.render(frame, self.rotation, self.hdr.as_ref(), out)?;
        }
        Ok(true)
    }

    fn advance_to(&mut self, t: f64) -> Result<()> {
        loop {
            if self.pending.is_none() {
                self.pending = self.decode_next()?;
            }
            match self.pending.take() {
                Some((pts, frame)) if pts <= t + 1e-6 || self.current.is_none() => {
                    self.current = Some((pts, frame));
                    for scaling in &mut self.fits {
                        scaling.fresh = false;
                    }
                }
                Some(p) => {
                    self.pending = Some(p);
                    return Ok(());
                }
                None => return Ok(()),
            }
        }
    }

    /// The next decoded frame with its timestamp on the looped timeline, restarting the clip
    /// at its end.
    fn decode_next(&mut self) -> Result<Option<(f64, ff::frame::Video)>> {
        for _attempt in 0..2 {
            if let Some((pts, frame)) = self.decode_one()? {
                return Ok(Some((pts + self.loop_offset, frame)));
            }
            if !self.decoded_any {
                return Err(MediaError::bad_input(&self.path, InputProblem::Truncated));
            }
            // Loop: the next pass starts one frame after the last frame of this one.
            self.loop_offset += self.last_pts + self.frame_step;
            self.last_pts = 0.0;
            self.input.seek(0, ..)?;
            self.decoder.flush();
            self.at_eof = false;
        }
        Ok(None)
    }

    fn decode_one(&mut self) -> Result<Option<(f64, ff::frame::Video)>> {
        let mut frame = ff::frame::Video::empty();
        loop {
            match self.decoder.receive_frame(&mut frame) {
                Ok(()) => {
                    let ts = frame
                        .timestamp()
                        .or(frame.pts())
                        .map(|p| p as f64 * self.time_base);
                    let pts = ts.unwrap_or(self.last_pts + self.frame_step);
                    let pts = pts.max(self.last_pts);
                    self.last_pts = pts;
                    self.decoded_any = true;
                    self.frames_decoded += 1;
                    return Ok(Some((pts.max(0.0), crate::gpu::to_system(frame)?)));
                }
                Err(ff::Error::Eof) => return Ok(None),
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {}
                Err(_) => continue, // a damaged frame: skip it and keep going
            }
            if self.at_eof {
                return Ok(None);
            }
            self.feed_packet()?;
        }
    }

    fn feed_packet(&mut self) -> Result<()> {
        let mut packet = ff::Packet::empty();
        loop {
            match packet.read(&mut self.input) {
                Ok(()) if packet.stream() == self.stream_index => {
                    // A corrupt packet is dropped; the decoder conceals the damage.
                    let _ = self.decoder.send_packet(&packet);
                    return Ok(());
                }
                Ok(()) => {}
                Err(_) => {
                    self.at_eof = true;
                    let _ = self.decoder.send_eof();
                    return Ok(());
                }
            }
        }
    }
}

/// One output picture of the decoded frames: its fit, its scaler and the scaled frame.
struct Scaling {
    fit: FrameFit,
    scaler: Option<(ff::format::Pixel, u32, u32, ff::software::scaling::Context)>,
    scaled: ff::frame::Video,
    /// HDR: the 10-bit scale before tone mapping into `scaled`.
    deep: ff::frame::Video,
    /// `scaled` holds the current frame.
    fresh: bool,
}

impl Scaling {
    fn new(fit: FrameFit) -> Self {
        Self {
            fit,
            scaler: None,
            scaled: ff::frame::Video::empty(),
            deep: ff::frame::Video::empty(),
            fresh: false,
        }
    }

    fn render(
        &mut self,
        frame: &ff::frame::Video,
        rotation: u32,
        hdr: Option<&crate::tonemap::ToneMapper>,
        out: &mut Yuv420,
    ) -> Result<()> {
        let key = (frame.format(), frame.width(), frame.height());
        let fit = self.fit;
        // Scaled straight into `out` when nothing is cropped or turned (a 9:16 clip on a 9:16
        // frame): one copy of every picture fewer.
        if rotation == 0
            && hdr.is_none()
            && fit.left == 0
            && fit.top == 0
            && (fit.scaled_w, fit.scaled_h) == (out.width, out.height)
        {
            let ctx = self.prepare_scaler(key, fit.scaled_w, fit.scaled_h, false)?;
            scale_into(ctx, frame, out);
            return Ok(());
        }
        if !self.fresh {
            let (sw, sh) = if rotation % 180 == 90 {
                (fit.scaled_h, fit.scaled_w)
            } else {
                (fit.scaled_w, fit.scaled_h)
            };
            self.prepare_scaler(key, sw, sh, hdr.is_some())?;
            if let Some((_, _, _, ctx)) = self.scaler.as_mut() {
                match hdr {
                    Some(mapper) => {
                        ctx.run(frame, &mut self.deep)?;
                        mapper.convert(&self.deep, &mut self.scaled);
                    }
                    None => ctx.run(frame, &mut self.scaled)?,
                }
            }
            self.fresh = true;
        }
        out.crop_rotated_from(&self.scaled, rotation, fit.left, fit.top);
        Ok(())
    }

    /// A scaler from frames like `key` (format, width, height) to `sw`×`sh`, made once and
    /// again only when the decoded frames change.
    fn prepare_scaler(
        &mut self,
        key: (ff::format::Pixel, u32, u32),
        sw: usize,
        sh: usize,
        hdr: bool,
    ) -> Result<&mut ff::software::scaling::Context> {
        let stale = self
            .scaler
            .as_ref()
            .map(|(f, w, h, _)| (*f, *w, *h) != key)
            .unwrap_or(true);
        if stale {
            let target = if hdr {
                ff::format::Pixel::YUV420P10LE
            } else {
                ff::format::Pixel::YUV420P
            };
            let ctx = ff::software::scaling::Context::get(
                key.0,
                key.1,
                key.2,
                target,
                sw as u32,
                sh as u32,
                ff::software::scaling::Flags::BILINEAR,
            )?;
            self.scaler = Some((key.0, key.1, key.2, ctx));
            self.scaled = ff::frame::Video::new(ff::format::Pixel::YUV420P, sw as u32, sh as u32);
        }
        match self.scaler.as_mut() {
            Some((_, _, _, ctx)) => Ok(ctx),
            None => Err(MediaError::Internal("no scaler".into())),
        }
    }
}

/// The ends of the background reader's channels kept by the compositor.
pub(crate) struct BackgroundFeed {
    /// Once: the clip's length and whether NVDEC decodes it, or why it cannot be opened.
    pub opened: mpsc::Receiver<Result<(f64, bool)>>,
    /// The pictures for output frames 0, 1, 2, … — one per output size, in the order asked.
    pub frames: mpsc::Receiver<Result<Vec<Yuv420>>>,
    /// Pictures handed back to be filled again.
    pub spent: mpsc::Sender<Vec<Yuv420>>,
}

/// Below this many pixels a video is decoded without frame threads.
const SMALL_PICTURE_PIXELS: usize = 1_000_000;

/// Pictures of background the queue may hold: about 64 MB of them (46 frames at 720×1280, 20
/// at 1080×1920), at least half a second.
const QUEUE_BYTES: usize = 64 << 20;

/// Opens the background (reporting its length, or why it cannot be opened, on
/// [`BackgroundFeed::opened`]), then decodes its frames once and scales and crops each into
/// one picture per size in `sizes`, for output frames 0, 1, 2, … (looping the clip) until the
/// receiver hangs up. The queue holds [`QUEUE_BYTES`] of pictures: the decoder keeps working
/// all the while the talking head, the audio and the face track are prepared, and the encoder
/// then starts with a full queue.
pub(crate) fn spawn_background_reader<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    path: &'scope Path,
    sizes: Vec<(usize, usize)>,
    needed: &'scope AtomicU64,
    start_s: f64,
) -> BackgroundFeed {
    let frame_bytes: usize = sizes.iter().map(|(w, h)| w * h * 3 / 2).sum();
    let depth = (QUEUE_BYTES / frame_bytes.max(1)).clamp(
        crate::encode::OUTPUT_FPS as usize / 2,
        2 * crate::encode::OUTPUT_FPS as usize,
    );
    let (tx, rx) = mpsc::sync_channel::<Result<Vec<Yuv420>>>(depth);
    let (opened_tx, opened_rx) = mpsc::sync_channel::<Result<(f64, bool)>>(1);
    // Encoded pictures come back to be filled again: no fresh 1–3 MB buffer (allocation,
    // page faults, clearing) per frame.
    let (spent_tx, spent_rx) = mpsc::channel::<Vec<Yuv420>>();
    scope.spawn(move || {
        let shown = sizes.iter().map(|(w, h)| w * h).max().unwrap_or(0);
        let mut background = match VideoReader::open(path, Some(shown)) {
            Ok(reader) => reader,
            Err(e) => {
                let _ = opened_tx.send(Err(e));
                return;
            }
        };
        let fits: Vec<FrameFit> = sizes
            .iter()
            .map(|&(w, h)| FrameFit::cover(background.display_w, background.display_h, w, h))
            .collect();
        background.set_fits(&fits);
        let _ = opened_tx.send(Ok((background.duration_s, background.on_gpu)));
        for i in 0.. {
            if i >= needed.load(Ordering::Relaxed) {
                return;
            }
            let mut pictures = spent_rx
                .try_recv()
                .unwrap_or_else(|_| sizes.iter().map(|&(w, h)| Yuv420::new(w, h)).collect());
            let t = start_s + i as f64 / f64::from(crate::encode::OUTPUT_FPS);
            let item = background.frames_at(t, &mut pictures).map(|_| pictures);
            let failed = item.is_err();
            if tx.send(item).is_err() || failed {
                return;
            }
        }
    });
    BackgroundFeed {
        opened: opened_rx,
        frames: rx,
        spent: spent_tx,
    }
}

/// Runs `ctx` from `frame` straight into the planes of `out` (whose size the scaler was made
/// for).
fn scale_into(
    ctx: &mut ff::software::scaling::Context,
    frame: &ff::frame::Video,
    out: &mut Yuv420,
) {
    let (w, h) = (out.width, out.height);
    let dst = [out.y.as_mut_ptr(), out.u.as_mut_ptr(), out.v.as_mut_ptr()];
    let strides = [w as i32, (w / 2) as i32, (w / 2) as i32];
    debug_assert!(out.y.len() >= w * h && out.u.len() >= (w / 2) * (h / 2));
    // SAFETY: the scaler was made for this source format/size and an output of `w`×`h`
    // YUV420P; the three destination planes hold `w`×`h` and (`w`/2)×(`h`/2) bytes with the
    // given strides, and `frame` is a decoded picture of the scaler's source size.
    unsafe {
        let src = (*frame.as_ptr()).data.as_ptr() as *const *const u8;
        let src_stride = (*frame.as_ptr()).linesize.as_ptr();
        ff::ffi::sws_scale(
            ctx.as_mut_ptr(),
            src,
            src_stride,
            0,
            frame.height() as i32,
            dst.as_ptr(),
            strides.as_ptr(),
        );
    }
}
