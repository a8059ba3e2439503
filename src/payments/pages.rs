//! Stripe Checkout's return pages (`/paid`, `/cancelled`): where the card page sends the
//! buyer back, in their browser's language (Russian or English, the bot's locales), with a
//! link back to the bot. The tokens themselves come with the verified webhook, not here.
use crate::bot::texts::{Lang, Texts};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// `link`: the bot's `https://t.me/<username>` (or Telegram itself when unknown).
pub fn router(link: String) -> Router {
    let link = Arc::new(link);
    Router::new()
        .route("/paid", get(paid))
        .route("/cancelled", get(cancelled))
        .with_state(link)
}

fn lang_of(headers: &HeaderMap) -> Lang {
    let first = headers
        .get("accept-language")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split([',', ';']).next())
        .map(str::trim);
    Lang::from_telegram(first)
}

fn page(lang: Lang, title_key: &str, text_key: &str, link: &str) -> Html<String> {
    let texts = Texts::bundled();
    let t = |k: &str| texts.get(lang, k, &[]);
    Html(
        maud::html! {
            (maud::DOCTYPE)
            html lang=(lang.code()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (t(title_key)) }
                    style { "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}a.button{display:inline-block;padding:.7rem 1.2rem;border-radius:.5rem;background:#229ED9;color:#fff;text-decoration:none}" }
                }
                body {
                    h1 { (t(title_key)) }
                    p { (t(text_key)) }
                    p { a class="button" id="back" href=(link) { (t("pay.page_back")) } }
                }
            }
        }
        .into_string(),
    )
}

async fn paid(State(link): State<Arc<String>>, headers: HeaderMap) -> Html<String> {
    page(
        lang_of(&headers),
        "pay.page_paid_title",
        "pay.page_paid_text",
        &link,
    )
}

async fn cancelled(State(link): State<Arc<String>>, headers: HeaderMap) -> Html<String> {
    page(
        lang_of(&headers),
        "pay.page_cancelled_title",
        "pay.page_cancelled_text",
        &link,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get_page(path: &str, lang: &str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, router("https://t.me/reelforge_bot".into())).await
        });
        let resp = reqwest::Client::new()
            .get(format!("http://{addr}{path}"))
            .header("accept-language", lang)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.text().await.unwrap()
    }

    #[tokio::test]
    async fn the_return_pages_speak_the_browsers_language_and_lead_back_to_the_bot() {
        let texts = Texts::bundled();
        let ru = get_page("/paid", "ru-RU,ru;q=0.9,en;q=0.8").await;
        assert!(
            ru.contains(&texts.get(Lang::Ru, "pay.page_paid_title", &[])),
            "{ru}"
        );
        assert!(ru.contains("href=\"https://t.me/reelforge_bot\""), "{ru}");
        let en = get_page("/cancelled", "en-GB,en;q=0.9").await;
        assert!(
            en.contains(&texts.get(Lang::En, "pay.page_cancelled_text", &[])),
            "{en}"
        );
        for key in [
            "pay.page_paid_title",
            "pay.page_paid_text",
            "pay.page_cancelled_title",
            "pay.page_cancelled_text",
            "pay.page_back",
        ] {
            for lang in [Lang::Ru, Lang::En] {
                assert_ne!(texts.get(lang, key, &[]), key, "{key} in {}", lang.code());
            }
        }
    }
}
