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

/// A TCP listener on 127.0.0.1 that counts the connections it gets.
fn counting_listener() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(conn);
        }
    });
    (port, hits)
}

#[test]
fn an_hls_playlist_named_mp4_fetches_nothing_and_reads_no_server_file() {
    let dir = tempfile::tempdir().unwrap();
    let (port, hits) = counting_listener();
    // Another user's clip on the server, by a path a playlist can name.
    let other = crate::common::background(dir.path(), "other-user.mp4", 160, 120, 1.0, 30);
    for segment in [
        format!("http://127.0.0.1:{port}/segment.ts"),
        other.display().to_string(),
    ] {
        let fake = dir.path().join("clip.mp4");
        std::fs::write(
            &fake,
            format!(
                "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n{segment}\n#EXT-X-ENDLIST\n"
            ),
        )
        .unwrap();
        let err = media::probe(&fake).expect_err(&segment);
        assert!(err.is_bad_input(), "{segment}: {err}");
        // The command line says it in one sentence with exit status 2.
        let out = crate::common::reelforge(&["probe", fake.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{segment}");
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no connection"
    );
}

#[test]
fn a_concat_list_naming_server_files_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let other = crate::common::background(dir.path(), "other-user.mp4", 160, 120, 1.0, 30);
    for entry in ["/etc/passwd", "other-user.mp4"] {
        let list = dir.path().join("list.mp4");
        std::fs::write(&list, format!("ffconcat version 1.0\nfile '{entry}'\n")).unwrap();
        let err = media::probe(&list).expect_err(entry);
        assert!(err.is_bad_input(), "{entry}: {err}");
    }
    // A real clip still opens.
    assert!(media::probe(&other).unwrap().video.is_some());
}

#[test]
fn a_truncated_jpeg_is_refused_instead_of_fitted_with_a_grey_band() {
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(crate::common::ASTRONAUT).unwrap();
    let cut = dir.path().join("cut.jpg");
    std::fs::write(&cut, &whole[..whole.len() * 6 / 10]).unwrap();
    let out = dir.path().join("out.jpg");
    let run = crate::common::reelforge(&[
        "fit-image",
        cut.to_str().unwrap(),
        "--size",
        "360x640",
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(err.contains("truncated"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!out.exists());
    // The whole photo still fits.
    let fine = dir.path().join("whole.jpg");
    std::fs::write(&fine, &whole).unwrap();
    assert!(media::load_image(&fine).is_ok());
}
