//! The GPU path: NVDEC decoding (FFmpeg's CUDA hwaccel) and NVENC encoding where the device
//! has them. `MEDIA_GPU=auto` (the default) tries each stage once per process and falls back
//! to the CPU for that stage with one log line; `off` never touches the GPU. Decoded frames
//! come back to system memory (NV12) for the compositor, which works on the CPU.
use ffmpeg_next as ff;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static ENABLED: AtomicBool = AtomicBool::new(true);

/// `true` = auto (use the GPU where it works), `false` = off.
pub fn set_gpu(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

pub fn gpu_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// A CUDA device context shared by every decoder of the process.
struct Device(*mut ff::ffi::AVBufferRef);
// SAFETY: an AVHWDeviceContext is reference-counted and thread-safe to reference; it is
// created once and never freed while the process runs.
unsafe impl Send for Device {}
unsafe impl Sync for Device {}

static DEVICE: OnceLock<Result<Device, String>> = OnceLock::new();

fn device() -> Option<&'static Device> {
    if !gpu_enabled() {
        return None;
    }
    let d = DEVICE.get_or_init(|| {
        crate::input::init_ffmpeg();
        let mut ctx: *mut ff::ffi::AVBufferRef = std::ptr::null_mut();
        // SAFETY: av_hwdevice_ctx_create writes a new reference into `ctx` on success.
        let r = unsafe {
            ff::ffi::av_hwdevice_ctx_create(
                &mut ctx,
                ff::ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_CUDA,
                std::ptr::null(),
                std::ptr::null_mut(),
                0,
            )
        };
        if r < 0 || ctx.is_null() {
            let why = ff::Error::from(r).to_string();
            tracing::info!(reason = %why, "NVDEC unavailable: video is decoded on the CPU");
            Err(why)
        } else {
            tracing::info!("NVDEC available: video is decoded on the GPU");
            Ok(Device(ctx))
        }
    });
    d.as_ref().ok()
}

/// How video is decoded in this process: `nvdec`, or `cpu` with the reason.
pub fn decode_path() -> String {
    match (gpu_enabled(), device()) {
        (false, _) => "cpu (MEDIA_GPU=off)".into(),
        (true, Some(_)) => "nvdec".into(),
        (true, None) => format!(
            "cpu (no CUDA device: {})",
            DEVICE
                .get()
                .and_then(|d| d.as_ref().err().cloned())
                .unwrap_or_default()
        ),
    }
}

/// Attaches the CUDA device to a decoder about to be opened when its codec can decode on it.
/// Returns whether it did.
pub(crate) fn attach(ctx: &mut ff::codec::context::Context) -> bool {
    let Some(dev) = device() else {
        return false;
    };
    // SAFETY: the codec context is not opened yet; its codec pointer is the decoder's.
    unsafe {
        let raw = ctx.as_mut_ptr();
        let codec = if (*raw).codec.is_null() {
            ff::ffi::avcodec_find_decoder((*raw).codec_id)
        } else {
            (*raw).codec
        };
        if codec.is_null() {
            return false;
        }
        let mut i = 0;
        loop {
            let cfg = ff::ffi::avcodec_get_hw_config(codec, i);
            if cfg.is_null() {
                return false;
            }
            let by_device =
                (*cfg).methods & ff::ffi::AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX as i32 != 0;
            if by_device && (*cfg).device_type == ff::ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_CUDA {
                break;
            }
            i += 1;
        }
        let r = ff::ffi::av_buffer_ref(dev.0);
        if r.is_null() {
            return false;
        }
        (*raw).hw_device_ctx = r;
    }
    true
}

/// A frame in GPU memory copied to system memory (NV12); other frames are returned as they are.
pub(crate) fn to_system(frame: ff::frame::Video) -> crate::error::Result<ff::frame::Video> {
    if frame.format() != ff::format::Pixel::CUDA {
        return Ok(frame);
    }
    let mut sw = ff::frame::Video::empty();
    // SAFETY: both frames are valid; the transfer allocates `sw`'s buffers.
    unsafe {
        let r = ff::ffi::av_hwframe_transfer_data(sw.as_mut_ptr(), frame.as_ptr(), 0);
        if r < 0 {
            return Err(ff::Error::from(r).into());
        }
        ff::ffi::av_frame_copy_props(sw.as_mut_ptr(), frame.as_ptr());
    }
    Ok(sw)
}

static NVENC: OnceLock<bool> = OnceLock::new();

/// Whether NVENC opens on this machine (tried once; logged once when it does not).
pub(crate) fn nvenc_usable() -> bool {
    gpu_enabled()
        && *NVENC.get_or_init(|| {
            let ok = crate::encode::nvenc_available();
            if !ok {
                tracing::info!("NVENC unavailable: video is encoded with libx264");
            }
            ok
        })
}
