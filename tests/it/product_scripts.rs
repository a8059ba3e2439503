//! Products and their scripts through the API (with a chat model that obeys an injected page)
//! and through the chat (a pasted link → a card → scripts → the picked one at the UGC script
//! step), on the fake shop of `products`.
use crate::common;
use crate::dbs;
use crate::products::{loopback, shop};
use axum::Router;
use reelforge::products::Intake;
use std::sync::Arc;

pub(crate) type Seen = Arc<std::sync::Mutex<Vec<serde_json::Value>>>;

/// An OpenAI-compatible chat model: three Russian scripts in the asked JSON — unless the
/// product data says to ignore the instructions, when it "obeys" and repeats its system
/// message (what a successful injection looks like). Records every request.
pub(crate) async fn chat_model() -> (String, Seen) {
    use axum::routing::post;
    use axum::Json;
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |Json(body): Json<serde_json::Value>| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push(body.clone());
                let system = body["messages"][0]["content"].as_str().unwrap_or("").to_string();
                let user = body["messages"][1]["content"].as_str().unwrap_or("");
                if system.starts_with("You translate") {
                    // A language version's script, in the language the system message asks.
                    let text = if system.contains("into Kazakh") {
                        "Сіз де таңертең бетке крем жағасыз ба, ал түскі асқа дейін тері қайта тартылады ма? «Роса» кремі күні бойы ылғалдандырады. Профильдегі сілтеме арқылы тапсырыс беріңіз."
                    } else if system.contains("into English") {
                        "Do you put cream on in the morning, and by lunch your skin feels tight again? Rosa cream keeps it moist all day. Order through the link in our profile."
                    } else {
                        "Вы тоже мажете лицо кремом утром? Крем «Роса» увлажняет весь день."
                    };
                    let content = serde_json::json!({ "text": text });
                    return Json(serde_json::json!({"id": "chatcmpl-2", "object": "chat.completion",
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": content.to_string()}}]}));
                }
                let scripts: Vec<String> = if user.contains("IGNORE ALL PREVIOUS") {
                    vec![system.chars().take(280).collect(); 3]
                } else {
                    vec![
                        "Вы тоже мажете лицо кремом утром, а к обеду кожа снова стягивает? Крем «Роса» увлажняет весь день и не содержит отдушек. Закажите по ссылке в профиле.".into(),
                        "Сухая кожа зимой — это боль. Крем «Роса» держит влагу до вечера и подходит даже чувствительной коже. Попробуйте сами, ссылка ниже.".into(),
                        "Всего 12 990 тенге за крем, который заменит три других. «Роса» увлажняет и не пахнет химией. Успейте заказать, пока он есть в наличии!".into(),
                    ]
                };
                let content = serde_json::json!({"scripts": scripts.iter().enumerate()
                    .map(|(i, t)| serde_json::json!({"hook": format!("Hook {i}"), "text": t})).collect::<Vec<_>>()});
                Json(serde_json::json!({"id": "chatcmpl-1", "object": "chat.completion",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content.to_string()}}]}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reads_a_product_and_writes_scripts_without_obeying_the_page() {
    use crate::api::{problem, Client};
    use serde_json::{json, Value};
    let t = dbs::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let (tg, tg_url) = crate::fake_tg::FakeTelegram::start().await;
    let (shop, _) = shop().await;
    let (llm, seen) = chat_model().await;
    for user in [301, 302] {
        reelforge::db::users::touch_user(&t.db, user, None, "ru")
            .await
            .unwrap();
    }
    let (key, _) = reelforge::db::api_keys::create(&t.db, 301)
        .await
        .unwrap()
        .unwrap();
    let (other, _) = reelforge::db::api_keys::create(&t.db, 302)
        .await
        .unwrap()
        .unwrap();
    let serve = common::LocalServe::start(
        &t.url,
        dir.path(),
        &tg_url,
        &[("PRODUCT_FETCH_PRIVATE_OK", "1"), ("LLM_URL", llm.as_str())],
    )
    .await;
    let c = Client {
        http: reqwest::Client::new(),
        base: serve.base.clone(),
    };
    let post = |path: &'static str, key: String, body: Value| {
        let c = &c;
        async move {
            c.call(
                reqwest::Method::POST,
                path,
                &key,
                Some(&body.to_string()),
                None,
            )
            .await
        }
    };

    let (s, _, body) = post(
        "/v1/products",
        key.clone(),
        json!({"url": format!("{shop}/p/cream")}),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let product: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(product["name"], "Крем для лица «Роса»");
    assert_eq!(product["price"], "12990");
    assert!(
        product["image"].as_str().unwrap().starts_with("products/"),
        "{product}"
    );
    let id = product["id"].as_i64().unwrap();

    // Scripts from the model, in the asked schema; the page text only inside the user message.
    let (s, _, body) = c
        .call(
            reqwest::Method::POST,
            &format!("/v1/products/{id}/scripts"),
            &key,
            Some(r#"{"language":"ru"}"#),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let scripts: Value = serde_json::from_str(&body).unwrap();
    let scripts = scripts["scripts"].as_array().unwrap();
    assert_eq!(scripts.len(), 3);
    assert!(
        scripts.iter().all(|s| s["source"] == "model"),
        "{scripts:?}"
    );
    assert!(scripts[2]["text"]
        .as_str()
        .unwrap()
        .contains("12 990 тенге"));
    {
        let requests = seen.lock().unwrap();
        let request = requests.last().unwrap();
        assert_eq!(request["response_format"]["type"], "json_object");
        assert_eq!(request["messages"][0]["role"], "system");
        assert!(request["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("untrusted"));
        assert!(request["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("Увлажняет кожу"));
    }
    // Another user's product does not exist for this key.
    let (s, ..) = c
        .call(
            reqwest::Method::GET,
            &format!("/v1/products/{id}"),
            &other,
            None,
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, ..) = c
        .call(
            reqwest::Method::POST,
            &format!("/v1/products/{id}/scripts"),
            &other,
            Some("{}"),
            None,
        )
        .await;
    assert_eq!(s, 404);

    // A page that tells the model to leak its instructions: the model obeys, the answer is
    // refused, and the templates serve instead.
    let (s, _, body) = post(
        "/v1/products",
        key.clone(),
        json!({"url": format!("{shop}/ignore")}),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let injected = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    let (s, _, body) = c
        .call(
            reqwest::Method::POST,
            &format!("/v1/products/{injected}/scripts"),
            &key,
            Some(r#"{"language":"en"}"#),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let scripts: Value = serde_json::from_str(&body).unwrap();
    for s in scripts["scripts"].as_array().unwrap() {
        assert_eq!(s["source"], "template", "{s}");
        let text = s["text"].as_str().unwrap();
        assert!(
            !text.contains("spoken scripts") && !text.contains("evil.example"),
            "{text}"
        );
    }

    // Described instead of linked; bad bodies get problem+json.
    let (s, _, body) = post(
        "/v1/products",
        key.clone(),
        json!({"name": "Чайник", "description": "Закипает за минуту.", "price": "4990", "currency": "RUB"}),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let (s, h, body) = post(
        "/v1/products",
        key.clone(),
        json!({"url": format!("{shop}/p/cream"), "name": "x"}),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    problem(s, &h, &body, "bad-request");
    let (s, h, body) = post("/v1/products", key.clone(), json!({"name": "<b> </b>"})).await;
    assert_eq!(s, 422, "{body}");
    problem(s, &h, &body, "invalid-field");
    let (s, h, body) = post(
        "/v1/products",
        key.clone(),
        json!({"url": format!("{shop}/nothing")}),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    problem(s, &h, &body, "no-product");
    let (s, h, body) = post(
        "/v1/products",
        key.clone(),
        json!({"url": "ftp://example.com/x"}),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    problem(s, &h, &body, "bad-link");
    let (s, list) = c.get("/v1/products", &key).await;
    assert_eq!(s, 200);
    assert_eq!(list["products"].as_array().unwrap().len(), 3, "{list}");
    drop(tg);
}

/// In the chat: a pasted link becomes a product card with its photo, "✍️ Scripts" writes
/// three (templates: no chat model here), "Use B" starts the UGC flow, and at the script step
/// one press takes script B into the speech preview. A page without a product asks for a
/// few words instead, and the next message becomes the product.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seller_pastes_a_link_and_orders_a_video_from_a_written_script() {
    use crate::bot_flows;
    let e = bot_flows::env().await;
    let f = &e.fake;
    let (shop, _) = shop().await;
    let mut app = e.app();
    let work = e.dir.path().join("products");
    std::fs::create_dir_all(&work).unwrap();
    app.intake = Arc::new(
        Intake::new(
            e.db.clone(),
            e.storage.clone(),
            loopback(&["127.0.0.1"]),
            work,
        )
        .unwrap(),
    );
    let running = e.run(app);
    e.member(42, 5000).await;

    f.text(42, &format!("{shop}/p/cream"));
    let card = f
        .wait_call("sendphoto", |b| {
            crate::fake_tg::form_field(b.as_str().unwrap_or(""), "caption")
                .is_some_and(|c| c.contains("Крем для лица «Роса»"))
        })
        .await;
    let buttons = crate::fake_tg::buttons_of(&card);
    let scripts_button = buttons
        .iter()
        .find_map(|b| {
            b.split_once('|')
                .map(|(_, d)| d.to_string())
                .filter(|d| d.starts_with("shop:scr:"))
        })
        .unwrap_or_else(|| panic!("{buttons:?}"));
    f.press(42, &scripts_button, 20);
    let texts = f.wait_text(42, "Три сценария").await;
    let set = texts.iter().find(|t| t.contains("Три сценария")).unwrap();
    assert!(set.contains("12 990 тенге"), "{set}");
    let offered = f.last_buttons(42);
    assert!(
        offered.iter().any(|b| b.ends_with("shop:use:1")),
        "{offered:?}"
    );
    let (_, json, _) = reelforge::db::products::scripts_of(&e.db, 42)
        .await
        .unwrap()
        .unwrap();
    let written: Vec<reelforge::products::scripts::Script> = serde_json::from_str(&json).unwrap();
    let b = written[1].text.clone();

    f.press(42, "shop:use:1", 21);
    f.wait_text(42, "Выбрано: B").await;
    f.wait_text(42, "Какой ролик").await;
    f.press(42, "u:f:head", 22);
    f.wait_text(42, "Выберите персонажа").await;
    bot_flows::pick_character_and_voice(f, 42, "ru+f3").await;
    let texts = f.wait_text(42, "Выбранный сценарий").await;
    assert!(texts.last().unwrap().contains(&b), "{:?}", texts.last());
    assert!(f.last_buttons(42).iter().any(|x| x.ends_with("u:pk")));
    f.press(42, "u:pk", 23);
    f.wait_text(42, "Стоимость ролика").await;
    match reelforge::bot::dialogue::load(&e.db, 42).await.unwrap() {
        reelforge::bot::dialogue::Dialogue::UgcConfirm { script, .. } => assert_eq!(script, b),
        other => panic!("{other:?}"),
    }

    // A name that decodes to markup is shown as text, never as a link.
    f.text(42, &format!("{shop}/evil-name"));
    let card = f.wait_text(42, "🛍 Крем").await;
    assert!(
        card.last().unwrap().contains("<a href"),
        "plain text as it is"
    );
    let scripts = f.newest_button(42, "shop:scr:");
    f.press(42, &scripts, 24);
    common::wait_until(
        "the second set",
        std::time::Duration::from_secs(20),
        || async {
            f.texts_to(42)
                .iter()
                .filter(|t| t.contains("Три сценария"))
                .count()
                == 2
        },
    )
    .await;
    let set = f
        .texts_to(42)
        .into_iter()
        .rfind(|t| t.contains("Три сценария"))
        .unwrap();
    assert!(
        set.contains("&lt;a href=&quot;https://evil.example&quot;&gt;") && !set.contains("<a href"),
        "{set}"
    );

    // No product on the page: a few words instead.
    f.text(42, &format!("{shop}/nothing"));
    f.wait_text(42, "не нашёл товар").await;
    f.text(
        42,
        "Чайник стеклянный\nЗакипает за минуту, держит тепло час.",
    );
    f.wait_text(42, "🛍 Чайник стеклянный").await;
    // A private address is refused in plain words.
    f.text(42, "http://10.0.0.1/admin");
    f.wait_text(42, "внутренний адрес").await;
    f.text(42, "/products");
    f.wait_text(42, "Ваши товары").await;
    assert_eq!(f.last_buttons(42).len(), 3, "{:?}", f.last_buttons(42));
    bot_flows::stop(running).await;
}
