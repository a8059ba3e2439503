//! Routing: every message and button press lands here, is checked (banned users, stale
//! buttons, files too large) and goes to the flow the conversation is in. Anything the bot
//! does not expect gets a short helpful answer, never silence.
use super::app::{keyboard, menu, row, BotApp, Ctx, HandlerError, HandlerResult};
use super::callback::{Callback, MenuItem, PhotoAction};
use super::commands::Command;
use super::dialogue::{self, Dialogue};
use super::texts::Lang;
use super::uploads::store_photo;
use super::{admin_cmds, pay, product_flow, ugc, video_flow};
use crate::db::ledger;
use crate::db::users::touch_user;
use crate::jobs::JobSpec;
use std::sync::Arc;
use teloxide::prelude::*;
use teloxide::types::{ChatId, FileId};

/// How the user came in: new or not, and for `/start` what its one transaction did.
struct Entry {
    new: bool,
    /// `/start`: the welcome bonus granted and the balance after it.
    started: Option<(i64, i64)>,
}

/// Records the user and refuses banned ones (one polite answer, then silence). `None`: stop.
/// A `/start` is recorded with its welcome bonus and the reset conversation in one
/// transaction (a channel post's deep link brings many at once).
async fn enter<'a>(
    bot: &'a Bot,
    app: &'a BotApp,
    chat: ChatId,
    from: &teloxide::types::User,
    starting: bool,
) -> Result<Option<(Ctx<'a>, Entry)>, HandlerError> {
    let user_id = from.id.0 as i64;
    let lang = Lang::from_telegram(from.language_code.as_deref());
    let username = from.username.as_deref();
    let (user, entry) = if starting {
        let idle = serde_json::to_string(&Dialogue::Idle).unwrap_or_default();
        let s = crate::db::users::start(
            &app.db,
            user_id,
            username,
            lang.code(),
            &idle,
            app.prices.welcome_bonus,
        )
        .await?;
        let entry = Entry {
            new: s.new,
            started: Some((s.bonus, s.balance)),
        };
        (s.user, entry)
    } else {
        let (user, new) = touch_user(&app.db, user_id, username, lang.code()).await?;
        (user, Entry { new, started: None })
    };
    // The stored language: Telegram's unless the user chose one with /language.
    let lang = Lang::from_code(&user.language);
    let ctx = Ctx {
        bot,
        app,
        chat,
        user: user_id,
        lang,
    };
    if user.banned {
        let first = crate::db::users::mark_ban_notified(&app.db, user_id).await?;
        if first {
            ctx.say(ctx.t("banned", &[])).await?;
        }
        return Ok(None);
    }
    Ok(Some((ctx, entry)))
}

pub async fn on_message(bot: Bot, msg: Message, app: Arc<BotApp>) -> HandlerResult {
    crate::metrics::bot_update("message");
    let Some(from) = msg.from.as_ref() else {
        return Ok(());
    };
    let starting = msg
        .text()
        .is_some_and(|t| matches!(Command::read(t.trim()), Some(Command::Start(_))));
    let Some((ctx, entry)) = enter(&bot, &app, msg.chat.id, from, starting).await? else {
        return Ok(());
    };
    let result = route_message(&ctx, &msg, &entry, &from.first_name).await;
    if let Err(e) = result {
        // A plain message instead of silence; the details go to the log only.
        tracing::warn!(user_id = ctx.user, error = %e, "message handling failed");
        let _ = ctx.say(ctx.t("error.internal", &[])).await;
    }
    Ok(())
}

async fn route_message(ctx: &Ctx<'_>, msg: &Message, entry: &Entry, name: &str) -> HandlerResult {
    let text = msg.text().unwrap_or("").trim();
    if text.starts_with('/') {
        return match Command::read(text) {
            Some(command) => on_command(ctx, command, msg, entry, name).await,
            None => ctx.say(ctx.t("input.unknown_command", &[])).await,
        };
    }
    let state = dialogue::load(&ctx.app.db, ctx.user).await?;
    if let Some(photo) = photo_of(msg) {
        return on_photo(ctx, state, photo, msg.caption()).await;
    }
    if let Some((file, size, kind)) = video_of(msg) {
        return match state {
            Dialogue::UgcBackground => ugc::flow::background(ctx, file, size).await,
            _ => ctx.say(ctx.t(kind, &[])).await,
        };
    }
    if !text.is_empty() {
        return on_text(ctx, state, text).await;
    }
    // Stickers, voice notes, locations, documents of other kinds…
    let key = if msg.document().is_some() {
        "input.wrong_file"
    } else {
        "input.unexpected"
    };
    ctx.say(ctx.t(key, &[])).await
}

/// The largest size of a photo, or an image sent as a file: (file id, bytes).
fn photo_of(msg: &Message) -> Option<(FileId, u32)> {
    if let Some(sizes) = msg.photo() {
        return sizes.last().map(|p| (p.file.id.clone(), p.file.size));
    }
    msg.document()
        .filter(|d| d.mime_type.as_ref().is_some_and(|m| m.type_() == "image"))
        .map(|d| (d.file.id.clone(), d.file.size))
}

/// A video, or a video sent as a file: (file id, bytes, what to say outside /create).
fn video_of(msg: &Message) -> Option<(FileId, u32, &'static str)> {
    if let Some(v) = msg.video() {
        return Some((v.file.id.clone(), v.file.size, "input.video_outside_ugc"));
    }
    if let Some(v) = msg.video_note() {
        return Some((v.file.id.clone(), v.file.size, "input.video_outside_ugc"));
    }
    if let Some(a) = msg.animation() {
        return Some((a.file.id.clone(), a.file.size, "input.video_outside_ugc"));
    }
    msg.document()
        .filter(|d| d.mime_type.as_ref().is_some_and(|m| m.type_() == "video"))
        .map(|d| (d.file.id.clone(), d.file.size, "input.video_outside_ugc"))
}

async fn on_photo(
    ctx: &Ctx<'_>,
    state: Dialogue,
    (file, size): (FileId, u32),
    caption: Option<&str>,
) -> HandlerResult {
    let caption = caption.map(str::trim).filter(|c| !c.is_empty());
    match state {
        Dialogue::UgcCharacter { background, .. } => {
            ugc::flow::own_character(ctx, background, file, size).await
        }
        Dialogue::AddCharacterPhoto if ctx.app.is_admin(ctx.user) => {
            super::characters::photo(ctx, file, size).await
        }
        Dialogue::ProductPhoto => {
            let Some(key) = store_photo(ctx, file, size).await? else {
                return Ok(());
            };
            product_flow::ask_description(ctx, key).await
        }
        Dialogue::BrandLogo => super::brand::logo(ctx, file, size).await,
        Dialogue::ShopWords => {
            let Some(words) = caption else {
                return ctx.say(ctx.t("shop.nothing", &[])).await;
            };
            let Some(key) = store_photo(ctx, file, size).await? else {
                return Ok(());
            };
            super::shop::from_words(ctx, words, Some(key)).await
        }
        _ => {
            let Some(key) = store_photo(ctx, file, size).await? else {
                return Ok(());
            };
            match caption {
                Some(prompt) => video_flow::open(ctx, prompt, Some(key)).await,
                None => {
                    ctx.save(&Dialogue::PhotoAction { photo: key }).await?;
                    ctx.say_with(
                        ctx.t("photo.what", &[]),
                        keyboard(vec![row(&[
                            ctx.button(
                                "photo.animate",
                                Callback::Photo(PhotoAction::Animate).data(),
                            ),
                            ctx.button(
                                "photo.product",
                                Callback::Photo(PhotoAction::ProductCard).data(),
                            ),
                        ])]),
                    )
                    .await
                }
            }
        }
    }
}

async fn on_text(ctx: &Ctx<'_>, state: Dialogue, text: &str) -> HandlerResult {
    match state {
        Dialogue::AddCharacterName { key, gender } if ctx.app.is_admin(ctx.user) => {
            super::characters::name(ctx, key, gender, text).await
        }
        Dialogue::ImagePrompt { photo } => video_flow::open(ctx, text, Some(photo)).await,
        Dialogue::ProductDescription { photo } => product_flow::description(ctx, photo, text).await,
        Dialogue::ProductWishes {
            photo,
            description,
            template,
        } => product_flow::wishes(ctx, photo, description, template, Some(text)).await,
        Dialogue::UgcEdit {
            background,
            character,
            original,
            awaiting_prompt: true,
        } => ugc::flow::edit_prompt(ctx, background, character, original, text).await,
        Dialogue::UgcScript {
            background,
            character,
            voice,
        } => {
            // A script of their own: the variants picked with a product's script are not
            // ordered with it (the product's end card stays).
            crate::db::products::drop_variants(&ctx.app.db, ctx.user).await?;
            ugc::flow::script(ctx, background, character, voice, text).await
        }
        Dialogue::UgcVersionScript { confirm, language } => {
            ugc::versions::typed(ctx, *confirm, language, text).await
        }
        Dialogue::Feedback => {
            dialogue::save(&ctx.app.db, ctx.user, &Dialogue::Idle).await?;
            admin_cmds::forward_feedback(ctx, text).await
        }
        Dialogue::UgcBackground => ctx.say(ctx.t("ugc.send_background", &[])).await,
        Dialogue::ProductPhoto => ctx.say(ctx.t("product.send_photo", &[])).await,
        Dialogue::BrandLogo => ctx.say(ctx.t("brand.send_logo", &[])).await,
        Dialogue::BrandAction => super::brand::action(ctx, text).await,
        Dialogue::ShopWords => match super::shop::as_link(text) {
            Some(url) => super::shop::from_link(ctx, url).await,
            None => super::shop::from_words(ctx, text, None).await,
        },
        // Outside a step a shop link is read for its product, and other text is offered as a
        // video prompt.
        _ => match super::shop::as_link(text) {
            Some(url) => super::shop::from_link(ctx, url).await,
            None => video_flow::open(ctx, text, None).await,
        },
    }
}

async fn on_command(
    ctx: &Ctx<'_>,
    command: Command,
    msg: &Message,
    entry: &Entry,
    name: &str,
) -> HandlerResult {
    let app = ctx.app;
    if let Some((admin_command, args)) = command.admin() {
        if !app.is_admin(ctx.user) {
            return ctx.say(ctx.t("input.unknown_command", &[])).await;
        }
        return admin_cmds::run(ctx, admin_command, args.trim(), msg.id.0).await;
    }
    match command {
        Command::Start(param) => {
            // The visit, the bonus and the reset conversation were one transaction (`enter`).
            let (bonus, balance) = match entry.started {
                Some(s) => s,
                None => (0, ledger::balance_of(&app.db, ctx.user).await?),
            };
            let mut parts = vec![ctx.t("start.welcome", &[("name", &name)])];
            if bonus > 0 {
                parts.push(ctx.t("start.bonus", &[("tokens", &bonus)]));
            }
            parts.push(ctx.t("menu.title", &[("balance", &balance)]));
            ctx.say_with(parts.join("\n\n"), super::app::menu_keyboard(app, ctx.lang))
                .await?;
            super::account::start_param(ctx, &param, entry.new).await
        }
        Command::Menu => menu(ctx.bot, app, ctx.chat, ctx.user, ctx.lang).await,
        Command::Help => ctx.say(ctx.t("help.text", &[])).await,
        Command::Cancel => {
            dialogue::save(&app.db, ctx.user, &Dialogue::Idle).await?;
            ctx.say(ctx.t("flow.cancelled", &[])).await
        }
        Command::Generate(prompt) if prompt.trim().is_empty() => {
            ctx.say(ctx.t("generate.ask", &[])).await
        }
        Command::Generate(prompt) => video_flow::open(ctx, prompt.trim(), None).await,
        Command::Product => product_flow::start(ctx).await,
        Command::Create => ugc::flow::start(ctx).await,
        Command::Resume => super::remake::resume(ctx).await,
        Command::Overlay => super::remake::overlay(ctx).await,
        Command::Products => super::shop::list(ctx).await,
        Command::Brand => super::brand::show(ctx).await,
        Command::Balance => {
            let balance = ledger::balance_of(&app.db, ctx.user).await?;
            let mut lines = vec![ctx.t("balance.text", &[("balance", &balance)])];
            for e in ledger::history(&app.db, ctx.user, 5).await? {
                lines.push(format!(
                    "{:+} — {}",
                    e.delta,
                    ctx.t(&format!("reason.{}", e.reason), &[])
                ));
            }
            ctx.say(lines.join("\n")).await
        }
        Command::Buy => pay::packs(ctx).await,
        Command::Queue => ctx.say(queue_text(ctx).await?).await,
        Command::History => {
            if super::history::resend_recent(ctx).await? == 0 {
                ctx.say(ctx.t("history.empty", &[])).await?;
            }
            Ok(())
        }
        Command::Feedback(text) if text.trim().is_empty() => {
            dialogue::save(&app.db, ctx.user, &Dialogue::Feedback).await?;
            ctx.say(ctx.t("feedback.ask", &[])).await
        }
        Command::Feedback(text) => admin_cmds::forward_feedback(ctx, text.trim()).await,
        Command::Api(args) => super::api_keys::command(ctx, args.trim()).await,
        Command::Language => super::account::language(ctx).await,
        Command::Referral => super::account::referral(ctx).await,
        Command::Promo(args) => super::account::promo(ctx, &args).await,
        Command::Orders => super::account::orders(ctx).await,
        Command::Terms => super::account::policy(ctx, "terms").await,
        Command::Privacy => super::account::policy(ctx, "privacy").await,
        Command::Refunds => super::account::policy(ctx, "refunds").await,
        Command::Deletedata => super::account::delete_data(ctx).await,
        Command::Addcharacter if app.is_admin(ctx.user) => super::characters::start(ctx).await,
        Command::Characters if app.is_admin(ctx.user) => super::characters::list(ctx).await,
        Command::Addcharacter | Command::Characters => {
            ctx.say(ctx.t("input.unknown_command", &[])).await
        }
        Command::Topup(_)
        | Command::Users(_)
        | Command::Stats
        | Command::User(_)
        | Command::Ban(_)
        | Command::Unban(_)
        | Command::Refund(_)
        | Command::Job(_)
        | Command::Providers => ctx.say(ctx.t("input.unknown_command", &[])).await,
    }
}

/// The user's unfinished jobs with their place in the queue and an ETA.
async fn queue_text(ctx: &Ctx<'_>) -> Result<String, HandlerError> {
    let mut rows = crate::db::jobs::unfinished_jobs_of_user(&ctx.app.db, ctx.user).await?;
    rows.sort_by_key(|j| j.id);
    if rows.is_empty() {
        return Ok(ctx.t("queue.empty", &[]));
    }
    let mut lines = Vec::new();
    for job in rows {
        let id = job.id;
        let kind = job.kind.map(|k| k.name()).unwrap_or("ugc_video");
        let status = if job.state == crate::jobs::JobState::Queued {
            super::progress::queued_text(&ctx.app.db, &ctx.app.texts, id, ctx.lang).await?
        } else {
            ctx.t("queue.working", &[])
        };
        lines.push(ctx.t(
            "queue.line",
            &[
                ("id", &id),
                ("kind", &ctx.t(&format!("kind.{kind}"), &[])),
                ("status", &status),
            ],
        ));
    }
    Ok(lines.join("\n"))
}

pub async fn on_callback(bot: Bot, q: CallbackQuery, app: Arc<BotApp>) -> HandlerResult {
    crate::metrics::bot_update("callback");
    let chat = q
        .message
        .as_ref()
        .map(|m| m.chat().id)
        .unwrap_or(ChatId(q.from.id.0 as i64));
    let message_id = q.message.as_ref().map(|m| m.id());
    let Some((ctx, _)) = enter(&bot, &app, chat, &q.from, false).await? else {
        bot.answer_callback_query(q.id.clone()).await?;
        return Ok(());
    };
    let data = q.data.clone().unwrap_or_default();
    let handled = match route_callback(&ctx, &data, message_id).await {
        Ok(handled) => handled,
        Err(e) => {
            tracing::warn!(user_id = ctx.user, button = %data, error = %e, "button handling failed");
            let _ = ctx.say(ctx.t("error.internal", &[])).await;
            true
        }
    };
    let answer = bot.answer_callback_query(q.id.clone());
    if handled {
        answer.await?;
    } else {
        // A button from an old message: the conversation has moved on.
        answer
            .text(ctx.t("input.stale_button", &[]))
            .show_alert(true)
            .await?;
    }
    Ok(())
}

/// `Ok(false)`: the button does not fit the conversation's state (an old message).
async fn route_callback(
    ctx: &Ctx<'_>,
    data: &str,
    message: Option<teloxide::types::MessageId>,
) -> Result<bool, HandlerError> {
    let Ok(button) = data.parse::<Callback>() else {
        return Ok(false);
    };
    let state = dialogue::load(&ctx.app.db, ctx.user).await?;
    // One match over (button, conversation state): a button that does not fit the state is
    // from an old message.
    match (button, state) {
        (b @ (Callback::Cancel(_) | Callback::Resend(_) | Callback::Again(_)), _) => {
            on_job_button(ctx, b).await
        }
        (Callback::Menu, _) => menu(ctx.bot, ctx.app, ctx.chat, ctx.user, ctx.lang)
            .await
            .map(|_| true),
        (Callback::MenuItem(item), _) => {
            match item {
                MenuItem::Generate => ctx.say(ctx.t("generate.ask", &[])).await?,
                MenuItem::Product => product_flow::start(ctx).await?,
                MenuItem::Ugc => ugc::flow::start(ctx).await?,
                MenuItem::History => {
                    if super::history::resend_recent(ctx).await? == 0 {
                        ctx.say(ctx.t("history.empty", &[])).await?;
                    }
                }
                MenuItem::Help => ctx.say(ctx.t("help.text", &[])).await?,
            }
            Ok(true)
        }
        (Callback::CancelFlow, _) => {
            dialogue::save(&ctx.app.db, ctx.user, &Dialogue::Idle).await?;
            ctx.say(ctx.t("flow.cancelled", &[])).await?;
            Ok(true)
        }
        (Callback::Buy, _) => pay::packs(ctx).await.map(|_| true),
        (Callback::Pay(b), _) => pay::on_button(ctx, b).await,
        (Callback::Photo(PhotoAction::Animate), Dialogue::PhotoAction { photo }) => {
            ctx.save(&Dialogue::ImagePrompt { photo }).await?;
            ctx.say(ctx.t("photo.ask_prompt", &[])).await?;
            Ok(true)
        }
        (Callback::Photo(PhotoAction::ProductCard), Dialogue::PhotoAction { photo }) => {
            product_flow::ask_description(ctx, photo).await?;
            Ok(true)
        }
        (Callback::Photo(_), _) => Ok(false),
        (Callback::Video(b), state) => video_flow::on_button(ctx, state, b, message).await,
        (Callback::Product(b), state) => product_flow::on_button(ctx, state, b, message).await,
        (Callback::Ugc(b), state) => ugc::flow::on_button(ctx, state, b, message).await,
        (Callback::Language(code), _) => super::account::set_language(ctx, &code).await,
        (Callback::DeleteData(yes), _) => super::account::confirm_delete(ctx, yes).await,
        (Callback::Gallery(b), state) => super::characters::on_button(ctx, state, b).await,
        (Callback::Shop(b), _) => super::shop::on_button(ctx, b).await.map(|_| true),
        (Callback::Brand(b), _) => super::brand::on_button(ctx, b).await.map(|_| true),
    }
}

/// Buttons that act on one of the user's jobs.
async fn on_job_button(ctx: &Ctx<'_>, button: Callback) -> Result<bool, HandlerError> {
    match button {
        Callback::Again(job) => again(ctx, job).await,
        Callback::Cancel(job) => {
            let Some(row) = crate::db::jobs::job(&ctx.app.db, job)
                .await?
                .filter(|j| j.user_id == ctx.user)
            else {
                return Ok(false);
            };
            if row.state.is_terminal() {
                return Ok(false);
            }
            // A queued job ends (and is refunded) now; a running one is stopped by its
            // worker at the next check and refunded there. The progress message says which.
            let key = match crate::db::jobs::cancel(&ctx.app.db, job).await? {
                crate::db::jobs::Cancelled::TooLate => "progress.cancel_too_late",
                _ => "progress.cancel_requested",
            };
            ctx.say(ctx.t(key, &[])).await?;
            Ok(true)
        }
        Callback::Resend(job) => {
            let generation = crate::db::generations::of_job(&ctx.app.db, job)
                .await?
                .filter(|g| g.user_id == ctx.user);
            match generation {
                Some(g) => super::history::resend_generation(ctx, &g).await?,
                None => ctx.say(ctx.t("history.empty", &[])).await?,
            }
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// "Make another": the same settings again for a finished job (no re-upload).
async fn again(ctx: &Ctx<'_>, job: i64) -> Result<bool, HandlerError> {
    let row = crate::db::jobs::job(&ctx.app.db, job).await?;
    let Some(spec) = row.filter(|j| j.user_id == ctx.user).and_then(|j| j.spec) else {
        return Ok(false);
    };
    match spec {
        JobSpec::ProductVideo(p) => {
            product_flow::templates(ctx, p.image, p.description).await?;
        }
        JobSpec::TextToVideo(p) | JobSpec::ImageToVideo(p) => video_flow::reopen(ctx, p).await?,
        JobSpec::UgcVideo(p) | JobSpec::Recompose(p) => {
            let voice = ugc::flow::voice_of(&p);
            ugc::flow::ask_script(ctx, p.background, p.portrait, voice).await?;
        }
        JobSpec::CharacterEdit(_) => return Ok(false),
    }
    Ok(true)
}
