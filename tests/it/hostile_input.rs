//! Hostile input that must not reach the server's files: scripts that look like espeak-ng
//! options, and "videos" that are really playlists pointing at URLs or local files.
use reelforge::providers::local;

fn wav_seconds(path: &std::path::Path) -> f64 {
    media::probe(path).unwrap().duration_s
}

#[tokio::test]
async fn scripts_that_look_like_options_are_spoken_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.env");
    // A long file: read aloud it would last minutes.
    std::fs::write(&secret, "TELEGRAM_BOT_TOKEN=123:SECRET\n".repeat(200)).unwrap();
    let written = dir.path().join("stolen.wav");
    let literal = dir.path().join("literal.wav");
    local::speak("f secret", "en", &literal).await.unwrap();
    let reference = wav_seconds(&literal);
    for script in [
        format!("-f{}", secret.display()),
        "--version".to_string(),
        format!("-w{}", written.display()),
        "--stdin".to_string(),
    ] {
        let out = dir.path().join("out.wav");
        let _ = std::fs::remove_file(&out);
        local::speak(&script, "en", &out).await.unwrap();
        let spoken = wav_seconds(&out);
        // The literal characters take a few seconds; the file would take minutes.
        assert!(
            spoken < reference * 4.0 + 5.0,
            "{script}: {spoken:.1} s of speech (the literal text takes about {reference:.1} s)"
        );
        assert!(!written.exists(), "{script} made espeak-ng write a file");
    }
}

#[tokio::test]
async fn a_voice_name_that_is_an_option_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.wav");
    for voice in ["-f/etc/passwd", "--stdin", "ru; rm -rf /", ""] {
        let err = local::speak("hello", voice, &out).await.unwrap_err();
        assert!(err.to_string().contains("voice"), "{voice}: {err}");
    }
    assert!(!out.exists());
}
