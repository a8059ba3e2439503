use super::*;
use std::collections::HashMap;

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn defaults_need_no_settings() {
    let c = Config::load(None, vars(&[]), Layer::default()).unwrap();
    assert_eq!(c.database_url, "sqlite://data/reelforge.db");
    assert_eq!(c.storage, Storage::Folder("data/files".into()));
    assert_eq!(c.providers, Providers::Remote);
}

#[test]
fn file_then_environment_then_flags_win_in_that_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reelforge.toml");
    std::fs::write(
        &file,
        "http_addr = \"127.0.0.1:1\"\nadmin_ids = \"1\"\nproviders = \"local\"\n",
    )
    .unwrap();
    let env = vars(&[("HTTP_ADDR", "127.0.0.1:2"), ("ADMIN_IDS", "2,3")]);
    let flags = Layer {
        http_addr: Some("127.0.0.1:3".into()),
        ..Layer::default()
    };
    let c = Config::load(Some(&file), env, flags).unwrap();
    assert_eq!(c.http_addr.port(), 3, "flag beats environment and file");
    assert_eq!(c.admin_ids, vec![2, 3], "environment beats file");
    assert_eq!(c.providers, Providers::Local, "file beats default");
}

#[test]
fn invalid_settings_are_named_in_one_sentence() {
    let err = Config::load(None, vars(&[("ADMIN_IDS", "12,bob")]), Layer::default()).unwrap_err();
    assert!(
        err.0.contains("ADMIN_IDS") && err.0.contains("bob"),
        "{err}"
    );
    let err = Config::load(
        None,
        vars(&[("STORAGE_URL", "s3://media/ads")]),
        Layer::default(),
    )
    .unwrap_err();
    assert!(err.0.contains("S3_ACCESS_KEY_ID"), "{err}");
    let err = Config::load(
        None,
        vars(&[("DATABASE_URL", "mysql://x")]),
        Layer::default(),
    )
    .unwrap_err();
    assert!(err.0.contains("DATABASE_URL"), "{err}");
}

#[test]
fn media_gpu_is_auto_by_default_off_on_request_and_named_when_wrong() {
    assert!(
        Config::load(None, vars(&[]), Layer::default())
            .unwrap()
            .media_gpu
    );
    let off = Config::load(None, vars(&[("MEDIA_GPU", "off")]), Layer::default()).unwrap();
    assert!(!off.media_gpu);
    let err = Config::load(None, vars(&[("MEDIA_GPU", "cuda")]), Layer::default()).unwrap_err();
    assert!(
        err.0.contains("MEDIA_GPU") && err.0.contains("cuda"),
        "{err}"
    );
}

#[test]
fn video_tiers_list_providers_in_order() {
    let c = Config::load(None, vars(&[]), Layer::default()).unwrap();
    assert_eq!(
        c.video_tiers["fast"],
        vec![
            ("openai".to_string(), "sora-2".to_string()),
            ("kie".to_string(), "veo3_fast".to_string())
        ]
    );
    let err = Config::load(
        None,
        vars(&[("VIDEO_TIERS", "fast=runway:gen3")]),
        Layer::default(),
    )
    .unwrap_err();
    assert!(
        err.0.contains("VIDEO_TIERS") && err.0.contains("runway"),
        "{err}"
    );
}

#[test]
fn provider_deadlines_are_one_number_or_one_per_tier() {
    use std::time::Duration;
    let c = Config::load(None, vars(&[]), Layer::default()).unwrap();
    assert_eq!(
        c.provider_deadlines.for_tier("quality"),
        Duration::from_secs(1800)
    );
    let c = Config::load(
        None,
        vars(&[("PROVIDER_DEADLINE_S", "600")]),
        Layer::default(),
    )
    .unwrap();
    assert_eq!(
        c.provider_deadlines.for_tier("ugc"),
        Duration::from_secs(600)
    );
    let c = Config::load(
        None,
        vars(&[("PROVIDER_DEADLINE_S", "fast=300, quality=2400, *=900")]),
        Layer::default(),
    )
    .unwrap();
    let d = &c.provider_deadlines;
    assert_eq!(d.for_tier("fast"), Duration::from_secs(300));
    assert_eq!(d.for_tier("quality"), Duration::from_secs(2400));
    assert_eq!(d.for_tier("ugc"), Duration::from_secs(900));
    for bad in ["fast=soon", "0", "=60", "fast=0"] {
        let err = Config::load(
            None,
            vars(&[("PROVIDER_DEADLINE_S", bad)]),
            Layer::default(),
        )
        .unwrap_err();
        assert!(err.0.contains("PROVIDER_DEADLINE_S"), "{bad}: {err}");
    }
}

#[test]
fn the_talking_head_chain_and_breakers_are_read_and_bad_entries_named() {
    let c = Config::load(None, vars(&[]), Layer::default()).unwrap();
    assert_eq!(c.chains.talking_head.len(), 4);
    assert_eq!(
        c.chains.talking_head[1],
        ("fal".to_string(), "veed/fabric-1.0".to_string())
    );
    assert_eq!(
        c.chains.talking_head[3],
        ("local".to_string(), String::new())
    );
    assert_eq!((c.chains.failures, c.chains.cooldown_s), (5, 120));
    let c = Config::load(
        None,
        vars(&[
            ("TALKING_HEAD_CHAIN", "fal:veed/fabric-1.0, local"),
            ("BREAKER_FAILURES", "3"),
        ]),
        Layer::default(),
    )
    .unwrap();
    assert_eq!(c.chains.talking_head.len(), 2);
    assert_eq!(c.chains.failures, 3);
    for (name, bad) in [
        ("TALKING_HEAD_CHAIN", "heygen:avatar"),
        ("TALKING_HEAD_CHAIN", "fal"),
        ("TALKING_HEAD_CHAIN", " , "),
        ("BREAKER_COOLDOWN_S", "soon"),
    ] {
        let err = Config::load(None, vars(&[(name, bad)]), Layer::default()).unwrap_err();
        assert!(err.0.contains(name), "{bad}: {err}");
    }
}

#[test]
fn secrets_never_show_in_debug_output() {
    let env = vars(&[
        ("TELEGRAM_BOT_TOKEN", "123:SECRET-TOKEN"),
        ("DATABASE_URL", "postgres://bot:pa55word@db/reelforge"),
        ("FAL_API_KEYS", "fal-key-1, fal-key-2"),
        ("ELEVENLABS_API_KEY", "el-key"),
        ("STORAGE_URL", "s3://media/ads"),
        ("S3_ACCESS_KEY_ID", "AKIA-ID"),
        ("S3_SECRET_ACCESS_KEY", "S3-SECRET"),
        ("STRIPE_SECRET_KEY", "sk_live_SECRET"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_SECRET"),
    ]);
    let c = Config::load(None, env, Layer::default()).unwrap();
    assert_eq!(c.api_keys["fal"], vec!["fal-key-1", "fal-key-2"]);
    assert_eq!(
        c.api_keys["elevenlabs"],
        vec!["el-key"],
        "singular *_API_KEY accepted"
    );
    let shown = format!("{c:?}");
    for secret in [
        "SECRET-TOKEN",
        "pa55word",
        "fal-key-1",
        "el-key",
        "S3-SECRET",
        "AKIA-ID",
        "sk_live_SECRET",
        "whsec_SECRET",
    ] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    assert!(shown.contains("postgres://bot:***@db/reelforge"));
}

#[test]
fn bot_settings_are_read_and_bad_ones_named() {
    let cfg = Config::load(
        None,
        vars(&[
            ("ADMIN_IDS", "7, 8"),
            ("WEBHOOK_URL", "https://bot.example.com/hook"),
            ("DAILY_JOB_LIMIT", "3"),
            ("KASPI_PHONE", "+7 700 000 00 00"),
            ("TELEGRAM_PROXY", "socks5://user:pw@proxy:1080"),
        ]),
        Layer::default(),
    )
    .unwrap();
    assert_eq!(cfg.bot.admin_chat_id, Some(7), "the first admin by default");
    assert_eq!(cfg.bot.daily_job_limit, 3);
    assert_eq!(cfg.bot.job_cooldown_s, 5);
    assert_eq!(
        cfg.bot.webhook_url.as_deref(),
        Some("https://bot.example.com/hook")
    );
    assert!(
        !format!("{cfg:?}").contains("pw@"),
        "proxy password redacted"
    );
    for (name, value, says) in [
        (
            "DAILY_JOB_LIMIT",
            "many",
            "DAILY_JOB_LIMIT must be a whole number",
        ),
        (
            "JOB_COOLDOWN_S",
            "-1",
            "JOB_COOLDOWN_S must be a whole number",
        ),
        (
            "WEBHOOK_URL",
            "bot.example.com",
            "WEBHOOK_URL must be the public",
        ),
        (
            "ADMIN_CHAT_ID",
            "@admins",
            "ADMIN_CHAT_ID must be a Telegram chat id",
        ),
    ] {
        let err = Config::load(None, vars(&[(name, value)]), Layer::default()).unwrap_err();
        assert!(err.0.contains(says), "{name}: {err}");
    }
}

#[test]
fn speech_and_edit_chains_loss_fallback_and_failure_rate_are_read() {
    let c = Config::load(None, vars(&[]), Layer::default()).unwrap();
    let names = |chain: &[(String, String)]| -> Vec<String> {
        chain
            .iter()
            .map(|(p, m)| crate::config::Chains::entry_name(p, m))
            .collect()
    };
    assert_eq!(
        names(&c.chains.tts),
        [
            "elevenlabs:eleven_multilingual_v2",
            "openai:gpt-4o-mini-tts",
            "local"
        ]
    );
    assert_eq!(
        names(&c.chains.image_edit),
        [
            "fal:fal-ai/nano-banana/edit",
            "fal:fal-ai/flux-pro/kontext",
            "local"
        ]
    );
    assert!(!c.chains.allow_loss);
    assert_eq!(c.chains.failure_rate, 50);
    let c = Config::load(
        None,
        vars(&[
            ("TTS_CHAIN", "openai:tts-1, elevenlabs"),
            ("ALLOW_LOSS_FALLBACK", "1"),
            ("BREAKER_FAILURE_RATE", "0"),
        ]),
        Layer::default(),
    )
    .unwrap();
    assert_eq!(
        names(&c.chains.tts),
        ["openai:tts-1", "elevenlabs:eleven_multilingual_v2"]
    );
    assert!(c.chains.allow_loss);
    assert_eq!(c.chains.failure_rate, 0);
    for (name, bad) in [
        ("TTS_CHAIN", "google:wavenet"),
        ("TTS_CHAIN", "openai"),
        ("IMAGE_EDIT_CHAIN", "elevenlabs:x"),
        ("ALLOW_LOSS_FALLBACK", "maybe"),
        ("BREAKER_FAILURE_RATE", "150"),
    ] {
        let err = Config::load(None, vars(&[(name, bad)]), Layer::default()).unwrap_err();
        assert!(err.0.contains(name), "{bad}: {err}");
    }
}

/// The settings each document names, by `NAME` in its lines.
fn names_in(
    text: &str,
    line_filter: impl Fn(&str) -> Option<&str>,
) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter_map(line_filter)
        .flat_map(|part| {
            part.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .filter(|w| w.len() > 2 && w.contains('_') || ["PROVIDERS"].contains(w))
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_readme_table_and_env_example_name_every_setting_and_no_other() {
    let root = env!("CARGO_MANIFEST_DIR");
    let code: std::collections::BTreeSet<String> =
        SETTING_NAMES.iter().map(|s| s.to_string()).collect();
    // README: the first cell of each row of the configuration table.
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let table = readme
        .split("| setting | default | meaning |")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap();
    let in_readme = names_in(table, |l| {
        l.strip_prefix("| ").and_then(|r| r.split(" | ").next())
    });
    assert_eq!(in_readme, code, "README's configuration table");
    // .env.example: `NAME=…` or `# NAME=…`, each after a comment saying what it means.
    let example = std::fs::read_to_string(format!("{root}/.env.example")).unwrap();
    let in_example = names_in(&example, |l| {
        let l = l.trim_start_matches("# ");
        let (name, _) = l.split_once('=')?;
        name.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            .then_some(name)
    });
    // Besides the settings, only the variables docker-compose.yml itself uses.
    let compose = std::fs::read_to_string(format!("{root}/docker-compose.yml")).unwrap();
    let compose_only: Vec<&String> = in_example.difference(&code).collect();
    for name in &compose_only {
        assert!(
            compose.contains(&format!("${{{name}")),
            "{name} is in .env.example but neither a setting nor used by docker-compose.yml"
        );
    }
    let missing: Vec<&String> = code.difference(&in_example).collect();
    assert!(missing.is_empty(), ".env.example lacks {missing:?}");
}

#[test]
fn a_toml_file_takes_numbers_booleans_and_lists_without_quotes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reelforge.toml");
    std::fs::write(
        &file,
        "daily_job_limit = 7\napi_webhook_private_ok = true\nadmin_ids = [11, 12]\n\
         rust_log = \"warn\"\nlog_format = \"json\"\nfal_base_url = \"https://gw.example/fal\"\n",
    )
    .unwrap();
    let c = Config::load(Some(&file), vars(&[]), Layer::default()).unwrap();
    assert_eq!(c.bot.daily_job_limit, 7);
    assert!(c.api_webhook_private_ok);
    assert_eq!(c.admin_ids, vec![11, 12]);
    assert_eq!(c.rust_log.as_deref(), Some("warn"));
    assert!(c.log_json);
    assert_eq!(
        c.provider_urls.get("fal").map(String::as_str),
        Some("https://gw.example/fal")
    );
    std::fs::write(&file, "colour = 1\n").unwrap();
    let e = Config::load(Some(&file), vars(&[]), Layer::default()).unwrap_err();
    assert!(e.0.contains("colour"), "{e}");
    let e = Config::load(None, vars(&[("LOG_FORMAT", "xml")]), Layer::default()).unwrap_err();
    assert!(e.0.contains("LOG_FORMAT"), "{e}");
    let e = Config::load(None, vars(&[("KIE_BASE_URL", "ftp://x")]), Layer::default()).unwrap_err();
    assert!(e.0.contains("KIE_BASE_URL"), "{e}");
}
