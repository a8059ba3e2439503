//! One ad in Russian, Kazakh and English from one order (issue 24, item 3), through the fake
//! Bot API: on the confirmation the user adds Қазақша (translated by a fake chat model, or
//! typed when there is none) and English (typed over the translation), orders once at the
//! total shown, and gets three videos — each its own speech in its language, the same
//! character and background — as one album labelled by language. The speech chain's first
//! entry (a fake ElevenLabs `eleven_multilingual_v2`, which documents no Kazakh) is never
//! asked to speak the Kazakh script. Then "+ another language" under a delivered video makes
//! one more version from the finished order.
use crate::bot_flows::{self, env};
use crate::common;
use crate::harness;
use axum::routing::post;
use axum::{Json, Router};
use reelforge::jobs::JobSpec;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const RU: &str = "Вы тоже мажете лицо кремом утром, а к обеду кожа снова стягивает? Крем «Роса» увлажняет весь день.";
const KK_TYPED: &str =
    "Сіз де таңертең бетке крем жағасыз ба? «Роса» кремі күні бойы ылғалдандырады.";
const EN_TYPED: &str =
    "Morning cream, and by lunch your skin is tight again? Rosa keeps it moist all day.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_makes_the_ad_in_three_languages_as_one_album_with_a_chat_model() {
    three_languages(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_makes_the_ad_in_three_languages_as_one_album_typed_offline() {
    three_languages(false).await;
}

/// A fake ElevenLabs that records what it was asked to speak and refuses (an invalid key, as
/// documented: `{"detail": {...}}`), so the chain goes on to espeak-ng.
async fn elevenlabs() -> (String, Arc<Mutex<Vec<String>>>) {
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let a = asked.clone();
    let app = Router::new().route(
        "/v1/text-to-speech/{voice}/with-timestamps",
        post(move |Json(body): Json<serde_json::Value>| {
            let a = a.clone();
            async move {
                a.lock()
                    .unwrap()
                    .push(body["text"].as_str().unwrap_or("").to_string());
                (
                    axum::http::StatusCode::UNAUTHORIZED,
                    Json(serde_json::json!({"detail": {"status": "invalid_api_key", "message": "Invalid API key"}})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, asked)
}

async fn three_languages(with_model: bool) {
    let e = env().await;
    let f = &e.fake;
    let mut app = e.app();
    if with_model {
        let (url, _) = crate::product_scripts::chat_model().await;
        app.scripts = Arc::new(reelforge::products::scripts::ScriptWriter {
            model: Some(reelforge::providers::llm::ChatModel::new(
                reqwest::Client::new(),
                &url,
                "gpt-4o-mini",
                None,
            )),
        });
    }
    let (el_url, asked) = elevenlabs().await;
    app.speech = Arc::new(reelforge::providers::speech::SpeechChain {
        entries: vec![
            reelforge::providers::speech::Entry {
                name: "elevenlabs:eleven_multilingual_v2".into(),
                engine: reelforge::providers::speech::Engine::ElevenLabs(
                    Arc::new(reelforge::providers::elevenlabs::ElevenLabs::new(
                        reqwest::Client::new(),
                        vec!["el-key".into()],
                        Some(&el_url),
                    )),
                    "eleven_multilingual_v2".into(),
                ),
            },
            reelforge::providers::speech::Entry::local(),
        ],
        policy: Default::default(),
    });
    let running = e.run(app);
    e.member(71, 20_000).await;
    f.text(71, "/create");
    f.wait_text(71, "Какой ролик").await;
    f.press(71, "u:f:bg", 3);
    f.wait_text(71, "не длиннее 15 секунд").await;
    f.video(71, "bg", bot_flows::small_clip(e.dir.path()), 1000);
    f.wait_text(71, "Выберите персонажа").await;
    bot_flows::pick_character_and_voice(f, 71, "ru+f3").await;
    f.text(71, RU);
    f.wait_text(71, "Стоимость ролика").await;
    let one = f.newest_button(71, "u:go:");

    // Қазақша: the model's translation taken, or typed without a model.
    f.press(71, "u:lg:kk", 10);
    if with_model {
        f.wait_text(71, "Взять этот текст").await;
        f.wait_text(71, "Қазақша:").await;
        f.press(71, "u:vok", 11);
    } else {
        f.wait_text(71, "Пришлите сценарий на языке «Қазақша»")
            .await;
        // Russian is not Kazakh.
        f.text(71, RU);
        f.wait_text(71, "не похоже на текст на языке «Қазақша»")
            .await;
        f.text(71, KK_TYPED);
    }
    f.wait_text(71, "Языки: Русский · Қазақша").await;
    // English: typed over the translation (or typed at once).
    f.press(71, "u:lg:en", 12);
    if with_model {
        f.wait_text(71, "English:").await;
        f.press(71, "u:ved", 13);
    }
    f.wait_text(71, "Пришлите сценарий на языке «English»")
        .await;
    f.text(71, EN_TYPED);
    f.wait_text(71, "Языки: Русский · Қазақша · English").await;
    let go = f.newest_button(71, "u:go:");
    assert_ne!(go, one, "the versions are priced in");
    let total: i64 = go.trim_start_matches("u:go:").parse().unwrap();
    let before = reelforge::db::ledger::balance_of(&e.db, 71).await.unwrap();
    f.press(71, &go, 14);
    common::wait_until("three jobs", Duration::from_secs(30), || async {
        reelforge::db::jobs::all_jobs(&e.db).await.unwrap().len() == 3
    })
    .await;
    let after = reelforge::db::ledger::balance_of(&e.db, 71).await.unwrap();
    assert_eq!(after, before - total, "one order, charged as shown");

    let jobs = reelforge::db::jobs::all_jobs(&e.db).await.unwrap();
    let params: Vec<reelforge::jobs::UgcParams> = jobs
        .iter()
        .map(|j| match j.spec.clone().unwrap() {
            JobSpec::UgcVideo(p) => p,
            other => panic!("{other:?}"),
        })
        .collect();
    let languages: Vec<&str> = params.iter().map(|p| p.language.as_str()).collect();
    assert_eq!(languages, ["ru+f3", "kk+f3", "en+f3"]);
    let group = params[0].versions.clone().expect("one album group");
    assert_eq!(group.of, 3);
    assert!(params.iter().all(|p| p.versions.as_ref() == Some(&group)
        && p.portrait == params[0].portrait
        && p.background == params[0].background
        && p.layout == params[0].layout));
    assert_eq!(params[0].script, RU);
    if with_model {
        assert!(
            params[1].script.starts_with("Сіз де таңертең"),
            "{}",
            params[1].script
        );
    } else {
        assert_eq!(params[1].script, KK_TYPED);
    }
    assert_eq!(params[2].script, EN_TYPED);

    // Each version was spoken before it was priced, in its own language; ElevenLabs (no
    // Kazakh) was never asked for the Kazakh script. Made, the three arrive as one album.
    let deliver = reelforge::bot::deliver::TelegramDeliver::new(
        crate::fake_tg::endpoint(&e.url),
        e.db.clone(),
    )
    .unwrap();
    let services = harness::services(&e.db, e.dir.path(), Arc::new(deliver));
    let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
    let rows = harness::run_jobs_within(&e.db, services, &ids, Duration::from_secs(240)).await;
    for row in &rows {
        assert_eq!(row.state.name(), "done", "{row:?}");
    }
    let asked = asked.lock().unwrap().clone();
    assert!(
        asked.iter().all(|t| !t.contains("ылғалдандырады")),
        "the Kazakh script skips an entry that cannot speak it: {asked:?}"
    );
    assert!(
        asked.iter().any(|t| t == RU),
        "Russian, which it speaks, is asked of ElevenLabs first: {asked:?}"
    );
    assert_eq!(
        rows[1].checkpoints.speech_by.as_deref(),
        Some("local"),
        "{:?}",
        rows[1].checkpoints
    );
    let albums = f.calls_of("sendmediagroup");
    assert_eq!(albums.len(), 1, "one album for the three versions");
    let captions: Vec<String> = crate::fake_tg::media_of(&albums[0])
        .iter()
        .map(|m| m["caption"].as_str().unwrap_or("").to_string())
        .collect();
    let mut sorted = captions.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["English · 9:16", "Русский · 9:16", "Қазақша · 9:16"],
        "{captions:?}"
    );
    let messages: Vec<i64> = rows
        .iter()
        .map(|r| r.checkpoints.delivered.as_ref().unwrap().message_id)
        .collect();
    assert!(
        messages.iter().all(|m| *m == messages[0] && *m > 0),
        "{messages:?}"
    );
    f.wait_text(71, "Один ролик на языках").await;
    for row in &rows {
        let speech = row.checkpoints.speech_seconds.unwrap_or(0.0);
        assert!(
            speech > 1.0,
            "each version has its own speech: {:?}",
            row.checkpoints
        );
    }

    // "+ another language" under the delivered album: one more version of that finished
    // order, in a language it is not in, delivered with its language.
    let more = f.newest_button(71, "u:vl:");
    let made: i64 = more.trim_start_matches("u:vl:").parse().unwrap();
    assert!(ids.contains(&made), "{more}");
    f.press(71, &more, 20);
    f.wait_text(71, "На каком ещё языке").await;
    let pick = f.newest_button(71, "u:lg:");
    let language = pick.trim_start_matches("u:lg:").to_string();
    f.press(71, &pick, 21);
    if with_model {
        f.wait_text(71, "Взять этот текст").await;
        f.press(71, "u:vok", 22);
    } else {
        f.wait_text(71, "Пришлите сценарий на языке").await;
        f.text(
            71,
            match language.as_str() {
                "kk" => KK_TYPED,
                "en" => EN_TYPED,
                _ => RU,
            },
        );
    }
    common::wait_until("a priced button", Duration::from_secs(30), || async {
        f.last_buttons(71).iter().any(|b| b.contains("u:go:"))
    })
    .await;
    let go = f.newest_button(71, "u:go:");
    f.press(71, &go, 23);
    common::wait_until("the fourth job", Duration::from_secs(30), || async {
        reelforge::db::jobs::all_jobs(&e.db).await.unwrap().len() == 4
    })
    .await;
    bot_flows::stop(running).await;
    let fourth = reelforge::db::jobs::all_jobs(&e.db)
        .await
        .unwrap()
        .remove(3);
    let JobSpec::UgcVideo(p) = fourth.spec.clone().unwrap() else {
        panic!("{fourth:?}")
    };
    assert_eq!(p.language_code(), language);
    assert_eq!(p.versions.as_ref().map(|v| v.of), Some(1));
    assert_eq!(p.portrait, params[0].portrait);
    let deliver = reelforge::bot::deliver::TelegramDeliver::new(
        crate::fake_tg::endpoint(&e.url),
        e.db.clone(),
    )
    .unwrap();
    let services = harness::services(&e.db, e.dir.path(), Arc::new(deliver));
    let rows =
        harness::run_jobs_within(&e.db, services, &[fourth.id], Duration::from_secs(120)).await;
    assert_eq!(rows[0].state.name(), "done", "{:?}", rows[0]);
    let name = reelforge::pipelines::versions::language_name(&language);
    f.wait_call("sendvideo", |b| {
        b.as_str().is_some_and(|form| form.contains(name))
    })
    .await;
}

/// `POST /v1/campaigns` with `languages`: the variant in Russian (the client's script), Kazakh
/// (translated by the chat model) and English (the client's `translations`), each its own job
/// with its language in the API, delivered as one album; refused languages are named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_through_the_api_makes_each_variant_in_its_languages() {
    use crate::api::{problem, Client};
    use serde_json::{json, Value};
    let t = crate::dbs::sqlite().await;
    let db = t.db.clone();
    let dir = tempfile::tempdir().unwrap();
    let (tg, tg_url) = crate::fake_tg::FakeTelegram::start().await;
    let (llm, _) = crate::product_scripts::chat_model().await;
    reelforge::db::users::touch_user(&db, 451, None, "ru")
        .await
        .unwrap();
    harness::pay(&db, 451, 20_000).await;
    let (key, _) = reelforge::db::api_keys::create(&db, 451)
        .await
        .unwrap()
        .unwrap();
    let serve =
        common::LocalServe::start(&t.url, dir.path(), &tg_url, &[("LLM_URL", llm.as_str())]).await;
    let c = Client {
        http: reqwest::Client::new(),
        base: serve.base.clone(),
    };
    let (s, photo) = c
        .upload(
            &key,
            "portrait.jpg",
            std::fs::read(common::ASTRONAUT).unwrap(),
        )
        .await;
    assert_eq!(s, 201, "{photo}");
    let video = json!({"portrait": photo["id"], "size": "360x640", "language": "ru+f3"});
    let post = |body: Value, idem: &'static str| {
        let (c, key) = (&c, key.clone());
        async move {
            c.call(
                reqwest::Method::POST,
                "/v1/campaigns",
                &key,
                Some(&body.to_string()),
                Some(idem),
            )
            .await
        }
    };
    for (bad, why) in [
        (
            json!({"scripts": [RU], "languages": ["ru"], "video": video}),
            "own language",
        ),
        (
            json!({"scripts": [RU], "languages": ["en"], "translations": {"en": [EN_TYPED, EN_TYPED]}, "video": video}),
            "one script per variant",
        ),
        (
            json!({"scripts": [RU], "languages": ["en"], "translations": {"en": [RU]}, "video": video}),
            "not written in that language",
        ),
    ] {
        let (s, h, body) = post(bad, "bad").await;
        assert_eq!(s, 422, "{body}");
        problem(s, &h, &body, "invalid-field");
        assert!(body.contains(why), "{why}: {body}");
    }
    let before = reelforge::db::ledger::balance_of(&db, 451).await.unwrap();
    let (s, _, body) = post(
        json!({"scripts": [RU], "languages": ["kk", "en"], "translations": {"en": [EN_TYPED]}, "video": video}),
        "three-languages",
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let campaign: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(campaign["versions"], json!(["ru", "kk", "en"]));
    let jobs = campaign["variants"].as_array().unwrap();
    let languages: Vec<&str> = jobs
        .iter()
        .map(|j| j["language"].as_str().unwrap())
        .collect();
    assert_eq!(languages, ["ru", "kk", "en"]);
    assert!(jobs.iter().all(|j| j["variant"] == "A"));
    assert!(jobs[1]["script"]
        .as_str()
        .unwrap()
        .starts_with("Сіз де таңертең"));
    assert_eq!(jobs[2]["script"], EN_TYPED);
    assert_eq!(jobs[1]["job"]["language"], "kk");
    assert_eq!(jobs[1]["job"]["spec"]["language"], "kk+f3");
    let group = jobs[0]["job"]["spec"]["versions"].clone();
    assert_eq!(group["of"], 3);
    assert!(jobs.iter().all(|j| j["job"]["spec"]["versions"] == group));
    let price: i64 = jobs
        .iter()
        .map(|j| j["job"]["price"].as_i64().unwrap())
        .sum();
    assert_eq!(campaign["price"], price);
    assert_eq!(
        reelforge::db::ledger::balance_of(&db, 451).await.unwrap(),
        before - price
    );

    let id = campaign["id"].as_i64().unwrap();
    let mut done = Value::Null;
    for _ in 0..200 {
        let (s, view) = c.get(&format!("/v1/campaigns/{id}"), &key).await;
        assert_eq!(s, 200, "{view}");
        if view["state"] == "completed" {
            done = view;
            break;
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    for j in done["variants"].as_array().expect("the campaign completed") {
        assert_eq!(j["job"]["state"], "done", "{j}");
    }
    let albums = tg.calls_of("sendmediagroup");
    assert_eq!(albums.len(), 1, "the variant's versions as one album");
    let captions: Vec<String> = crate::fake_tg::media_of(&albums[0])
        .iter()
        .map(|m| m["caption"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(captions.len(), 3, "{captions:?}");
    assert!(
        captions.iter().all(|c| c.starts_with("Вариант A · ")),
        "{captions:?}"
    );
}

/// A version that fails (its speech cannot be made) is refunded alone; the others do not wait
/// for it and still come as one album.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_version_is_refunded_and_the_others_still_come_as_one_album() {
    let e = env().await;
    let f = &e.fake;
    reelforge::db::users::touch_user(&e.db, 81, None, "ru")
        .await
        .unwrap();
    harness::pay(&e.db, 81, 20_000).await;
    let services = harness::services_with_portrait(
        &e.db,
        e.dir.path(),
        Arc::new(
            reelforge::bot::deliver::TelegramDeliver::new(
                crate::fake_tg::endpoint(&e.url),
                e.db.clone(),
            )
            .unwrap(),
        ),
    )
    .await;
    let main: reelforge::jobs::UgcParams = serde_json::from_value(serde_json::json!({
        "portrait": "gallery/anna.jpg", "script": RU, "language": "ru+f3", "size": "360x640"
    }))
    .unwrap();
    let versions = [
        reelforge::bot::dialogue::VersionDraft {
            language: "kk".into(),
            script: KK_TYPED.into(),
            speech: None,
        },
        reelforge::bot::dialogue::VersionDraft {
            language: "en".into(),
            script: EN_TYPED.into(),
            speech: None,
        },
    ];
    let mut specs = reelforge::bot::ugc::versions::specs(&main, &versions, true);
    // The English version's portrait is gone: it fails for good at the talking head.
    if let JobSpec::UgcVideo(p) = &mut specs[2] {
        p.portrait = "gallery/missing.jpg".into();
    }
    let prices = reelforge::pricing::PriceTable::default_table();
    let orders: Vec<_> = specs
        .into_iter()
        .map(|s| reelforge::orders::Order::priced(&prices, s, None, 1).unwrap())
        .collect();
    let made = reelforge::orders::submit_all(&e.db, 81, orders, Vec::new())
        .await
        .unwrap();
    let before = reelforge::db::ledger::balance_of(&e.db, 81).await.unwrap();
    let rows = harness::run_jobs_within(&e.db, services, &made.ids, Duration::from_secs(240)).await;
    let states: Vec<&str> = rows.iter().map(|r| r.state.name()).collect();
    assert_eq!(states, ["done", "done", "failed"], "{rows:?}");
    assert_eq!(
        reelforge::db::ledger::balance_of(&e.db, 81).await.unwrap(),
        before + rows[2].cost_tokens,
        "the failed version is refunded"
    );
    let albums = f.calls_of("sendmediagroup");
    assert_eq!(albums.len(), 1);
    let captions: Vec<String> = crate::fake_tg::media_of(&albums[0])
        .iter()
        .map(|m| m["caption"].as_str().unwrap_or("").to_string())
        .collect();
    let mut sorted = captions.clone();
    sorted.sort();
    assert_eq!(sorted, ["Русский · 9:16", "Қазақша · 9:16"], "{captions:?}");
}

/// Three versions of one order as jobs, with the local providers.
async fn three_version_jobs(e: &bot_flows::Env, user: i64) -> Vec<i64> {
    reelforge::db::users::touch_user(&e.db, user, None, "ru")
        .await
        .unwrap();
    harness::pay(&e.db, user, 20_000).await;
    let main: reelforge::jobs::UgcParams = serde_json::from_value(serde_json::json!({
        "portrait": "gallery/anna.jpg", "script": RU, "language": "ru+f3", "size": "360x640"
    }))
    .unwrap();
    let versions: Vec<reelforge::bot::dialogue::VersionDraft> =
        [("kk", KK_TYPED), ("en", EN_TYPED)]
            .iter()
            .map(|(l, t)| reelforge::bot::dialogue::VersionDraft {
                language: l.to_string(),
                script: t.to_string(),
                speech: None,
            })
            .collect();
    let prices = reelforge::pricing::PriceTable::default_table();
    let orders: Vec<_> = reelforge::bot::ugc::versions::specs(&main, &versions, true)
        .into_iter()
        .map(|s| reelforge::orders::Order::priced(&prices, s, None, 2).unwrap())
        .collect();
    reelforge::orders::submit_all(&e.db, user, orders, Vec::new())
        .await
        .unwrap()
        .ids
}

/// Telegram refuses the album (one file it will not take): each version is then sent by
/// itself, none refunded, none sent twice; once sent in an album, a version cannot be
/// cancelled and refunded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_album_sends_each_version_alone_and_a_sent_one_cannot_be_refunded() {
    let e = env().await;
    let ids = three_version_jobs(&e, 82).await;
    let bot = Arc::new(harness::Bot {
        refuse_albums: true,
        ..Default::default()
    });
    let services = harness::services_with_portrait(&e.db, e.dir.path(), bot.clone()).await;
    let before = reelforge::db::ledger::balance_of(&e.db, 82).await.unwrap();
    let rows = harness::run_jobs_within(&e.db, services, &ids, Duration::from_secs(240)).await;
    let states: Vec<&str> = rows.iter().map(|r| r.state.name()).collect();
    assert_eq!(states, ["done", "done", "done"], "{rows:?}");
    assert_eq!(
        reelforge::db::ledger::balance_of(&e.db, 82).await.unwrap(),
        before,
        "nothing refunded"
    );
    let sent = bot.delivered();
    assert_eq!(sent.len(), 3, "each once, by itself");
    assert!(sent
        .iter()
        .all(|d| d.versions.len() == 1 && d.language.is_some()));

    // A version another's album is carrying (here: marked, its own job still queued) is
    // past cancelling: it would reach the chat and be refunded.
    let more = three_version_jobs(&e, 83).await;
    assert_eq!(
        reelforge::db::versions::sending(&e.db, more[0], &[more[1]])
            .await
            .unwrap(),
        [more[1]]
    );
    assert_eq!(
        reelforge::db::jobs::cancel(&e.db, more[1]).await.unwrap(),
        reelforge::db::jobs::Cancelled::TooLate
    );
    assert_eq!(
        reelforge::db::jobs::cancel(&e.db, more[2]).await.unwrap(),
        reelforge::db::jobs::Cancelled::Ended,
        "one not carried still can be"
    );
    // The album that was carrying it never says how it went (its sender ended): the carried
    // version does not wait forever, it offers a re-send; the other is sent.
    let bot = Arc::new(harness::Bot::default());
    let services = harness::services_with_portrait(&e.db, e.dir.path(), bot.clone()).await;
    let rows =
        harness::run_jobs_within(&e.db, services, &more[..2], Duration::from_secs(240)).await;
    assert!(rows.iter().all(|r| r.state.name() == "done"), "{rows:?}");
    assert!(rows[1].checkpoints.delivered.as_ref().unwrap().uncertain);
    assert_eq!(bot.resend_offers.lock().unwrap().clone(), [more[1]]);
    assert_eq!(bot.delivered().len(), 1);
}
