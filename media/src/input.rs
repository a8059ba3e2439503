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
    init_ffmpeg();
    check_file(path, MAX_INPUT_BYTES)?;
    let mut options = ff::Dictionary::new();
    options.set("protocol_whitelist", PROTOCOL_WHITELIST);
    options.set(
        "format_whitelist",
        &DEMUXER_WHITELIST.replace([' ', '\n'], ""),
    );
    let input = ff::format::input_with_dictionary(&path, options).map_err(|_| {
        let problem = if has_known_container_signature(path) {
            InputProblem::Truncated
        } else {
            InputProblem::NotMedia
        };
        MediaError::bad_input(path, problem)
    })?;
    if input.streams().count() == 0 {
        return Err(MediaError::bad_input(path, InputProblem::NotMedia));
    }
    Ok(input)
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
