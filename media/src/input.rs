//! Opening user files safely: every way a file can be wrong becomes an [`InputProblem`] that
//! names it, before any decoder runs.
use crate::error::{InputProblem, MediaError, Result};
use ffmpeg_next as ff;
use std::io::Read;
use std::path::Path;

/// Files above this size are refused before they are opened (a phone clip of a few minutes
/// is far below it; a Telegram local Bot API server caps uploads at 2000 MB).
pub const MAX_INPUT_BYTES: u64 = 2_000 * 1024 * 1024;
/// Larger video frames than 8K are refused: decoding them would need gigabytes.
pub const MAX_VIDEO_PIXELS: u64 = 7680 * 4320;

/// Starts ffmpeg once per process; cheap to call again.
pub fn init_ffmpeg() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let _ = ff::init();
        ff::util::log::set_level(ff::util::log::Level::Fatal);
    });
}

/// Checks that `path` names a readable, non-empty, not oversized file and returns its size.
pub fn check_file(path: &Path, max_bytes: u64) -> Result<u64> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => MediaError::bad_input(path, InputProblem::Missing),
        _ => MediaError::bad_input(path, InputProblem::Unreadable(e.to_string())),
    })?;
    if meta.is_dir() {
        return Err(MediaError::bad_input(
            path,
            InputProblem::Unreadable("it is a directory".into()),
        ));
    }
    if meta.len() == 0 {
        return Err(MediaError::bad_input(path, InputProblem::Empty));
    }
    if meta.len() > max_bytes {
        return Err(MediaError::bad_input(
            path,
            InputProblem::TooLarge(format!(
                "{} MB is over the {} MB limit",
                meta.len() >> 20,
                max_bytes >> 20
            )),
        ));
    }
    std::fs::File::open(path)
        .map_err(|e| MediaError::bad_input(path, InputProblem::Unreadable(e.to_string())))?;
    Ok(meta.len())
}

/// The only protocol a user's file is read through: the local file itself. A playlist inside
/// it can then name no URL.
const PROTOCOL_WHITELIST: &str = "file";
/// The containers users' media comes in. Playlists and lists (HLS, DASH, concat, ffconcat,
/// image sequences with patterns) are not among them: they name other files or URLs, and a
/// hostile upload could make the server read another user's clip or fetch from its network.
const DEMUXER_WHITELIST: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,flv,\
    mp3,wav,ogg,flac,aac,w64,caf,\
    jpeg_pipe,png_pipe,webp_pipe,bmp_pipe,tiff_pipe,gif,gif_pipe,image2";

/// Opens a media container, mapping every failure to what is wrong with the file. Only the
/// file protocol and the demuxers in [`DEMUXER_WHITELIST`] are allowed.
pub fn open_media(path: &Path) -> Result<ff::format::context::Input> {
    open_with(path, false)
}

/// Like [`open_media`], for a caller that only decodes the audio: an MP4/MOV file's header
/// already says everything its audio decoder needs, so ffmpeg's stream analysis — which
/// decodes video frames, ~0.1 s for a 1080p phone clip — is skipped there. Other containers,
/// and MP4s whose audio parameters are incomplete, are analysed as usual.
pub fn open_media_for_audio(path: &Path) -> Result<ff::format::context::Input> {
    open_with(path, true)
}

fn open_with(path: &Path, audio_only: bool) -> Result<ff::format::context::Input> {
    init_ffmpeg();
    check_file(path, MAX_INPUT_BYTES)?;
    let mut options = ff::Dictionary::new();
    options.set("protocol_whitelist", PROTOCOL_WHITELIST);
    options.set(
        "format_whitelist",
        &DEMUXER_WHITELIST.replace([' ', '\n'], ""),
    );
    let unreadable = || {
        let problem = if has_known_container_signature(path) {
            InputProblem::Truncated
        } else {
            InputProblem::NotMedia
        };
        MediaError::bad_input(path, problem)
    };
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| MediaError::bad_input(path, InputProblem::NotMedia))?;
    let mut ps = std::ptr::null_mut();
    // SAFETY: the same calls as ffmpeg-next's `input_with_dictionary` (open, then analyse,
    // closing on failure), with the analysis skipped where the header suffices; the context
    // is owned by the returned `Input` from then on.
    let input = unsafe {
        let mut opts = options.disown();
        let opened =
            ff::ffi::avformat_open_input(&mut ps, c_path.as_ptr(), std::ptr::null_mut(), &mut opts);
        ff::Dictionary::own(opts);
        if opened != 0 {
            return Err(unreadable());
        }
        if !(audio_only && header_describes_audio(ps))
            && ff::ffi::avformat_find_stream_info(ps, std::ptr::null_mut()) < 0
        {
            ff::ffi::avformat_close_input(&mut ps);
            return Err(unreadable());
        }
        ff::format::context::Input::wrap(ps)
    };
    if input.streams().count() == 0 {
        return Err(MediaError::bad_input(path, InputProblem::NotMedia));
    }
    Ok(input)
}

/// An MP4/MOV header whose audio streams (if any) all name a codec, a sample rate and a
/// channel count.
///
/// # Safety
/// `ps` is an opened format context.
unsafe fn header_describes_audio(ps: *mut ff::ffi::AVFormatContext) -> bool {
    // SAFETY: per the contract, `ps` and its streams are valid.
    unsafe {
        let name = std::ffi::CStr::from_ptr((*(*ps).iformat).name).to_string_lossy();
        if !name.starts_with("mov,") {
            return false;
        }
        (0..(*ps).nb_streams as usize).all(|i| {
            let par = (*(*(*ps).streams.add(i))).codecpar;
            (*par).codec_type != ff::ffi::AVMediaType::AVMEDIA_TYPE_AUDIO
                || ((*par).codec_id != ff::ffi::AVCodecID::AV_CODEC_ID_NONE
                    && (*par).sample_rate > 0
                    && (*par).ch_layout.nb_channels > 0)
        })
    }
}

/// A container whose header we recognise but ffmpeg cannot open has lost its tail (an MP4
/// without its `moov` box, a cut Matroska file, …).
fn has_known_container_signature(path: &Path) -> bool {
    let mut head = [0u8; 12];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    if n < 12 {
        return false;
    }
    let mp4 = &head[4..8] == b"ftyp"
        || &head[4..8] == b"mdat"
        || &head[4..8] == b"moov"
        || &head[4..8] == b"wide";
    let mkv = head[..4] == [0x1A, 0x45, 0xDF, 0xA3];
    let riff = &head[..4] == b"RIFF";
    let ogg = &head[..4] == b"OggS";
    mp4 || mkv || riff || ogg
}

/// Finds a decoder for a stream or says which codec is unsupported.
pub fn decoder_context(
    path: &Path,
    stream: &ff::format::stream::Stream,
) -> Result<ff::codec::context::Context> {
    let params = stream.parameters();
    let id = params.id();
    if id == ff::codec::Id::None || ff::codec::decoder::find(id).is_none() {
        let name = codec_display_name(&params);
        return Err(MediaError::bad_input(
            path,
            InputProblem::UnsupportedCodec(name),
        ));
    }
    Ok(ff::codec::context::Context::from_parameters(params)?)
}

fn codec_display_name(params: &ff::codec::Parameters) -> String {
    let id = params.id();
    if id != ff::codec::Id::None {
        return format!("{id:?}").to_lowercase();
    }
    // SAFETY: parameters wrap a valid AVCodecParameters owned by the stream.
    let tag = unsafe { (*params.as_ptr()).codec_tag };
    let bytes = tag.to_le_bytes();
    if bytes.iter().all(|b| b.is_ascii_graphic()) {
        format!("'{}'", String::from_utf8_lossy(&bytes))
    } else {
        "(unknown)".into()
    }
}
