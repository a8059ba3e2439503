//! Admin commands in the chat through the fake Bot API: top-ups, users, stats, provider
//! health, refunds, feedback to the admin chat, bans, daily limits and the prompt toggle.
use crate::bot_flows::{env, jobs, stop};
use crate::common;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_bans_feedback_and_limits() {
    let e = env().await;
    let f = &e.fake;
    let mut app = e.app();
    app.settings.daily_job_limit = 1;
    let running = e.run(app);
    f.text(42, "/start");
    f.wait_text(42, "Баланс").await;
    // Not an admin: admin commands do not exist for them.
    f.text(42, "/topup 42 1000");
    f.wait_text(42, "Такой команды нет").await;
    f.text(1, "/start");
    f.wait_text(1, "Баланс").await;
    f.text(1, "/topup @user42 1000");
    f.wait_text(1, "пользователь 42: +1000, баланс 1100").await;
    f.wait_text(42, "Администратор зачислил 1000 токенов. Баланс: 1100")
        .await;
    f.text(1, "/topup @nobody 5");
    f.wait_text(1, "нет пользователя «@nobody»").await;
    // Daily limit: the second paid job today is refused with a clear message.
    f.text(42, "/generate кот");
    f.wait_text(42, &format!("Цена: {}", common::video_price("fast", 8)))
        .await;
    // "✨ improve" goes into the job.
    assert!(f
        .last_buttons(42)
        .contains(&"✨ Улучшить промпт|v:imp".to_string()));
    f.press(42, "v:imp", 3);
    common::wait_until(
        "the improve mark",
        std::time::Duration::from_secs(10),
        || async {
            f.last_buttons(42)
                .contains(&"✓ ✨ Улучшить промпт|v:imp".to_string())
        },
    )
    .await;
    f.press(42, "v:go", 3);
    f.wait_text(42, "В очереди").await;
    assert!(jobs(&e.db)
        .await
        .last()
        .unwrap()
        .2
        .contains("\"improve_prompt\":true"));
    f.text(42, "/generate собака");
    f.wait_text(42, "«собака»").await;
    f.press(42, "v:go", 4);
    f.wait_text(42, "лимит роликов исчерпан (1)").await;
    f.text(1, "/users");
    f.wait_text(1, "пользователей: 2").await;
    f.text(1, "/user 42");
    f.wait_text(1, "задачи: queued 1").await;
    f.text(1, "/stats");
    let stats = f.wait_text(1, "выручка").await;
    assert!(
        stats.last().unwrap().contains("пользователи: 2"),
        "{stats:?}"
    );
    // Provider health, before any provider was called; not an admin: no such command.
    f.text(1, "/providers");
    f.wait_text(1, "вызовов провайдеров пока не было").await;
    f.text(42, "/providers");
    common::wait_until("the refusal", Duration::from_secs(10), || async {
        f.texts_to(42)
            .iter()
            .filter(|t| t.contains("Такой команды нет"))
            .count()
            == 2
    })
    .await;
    let job = reelforge::db::jobs::all_jobs(&e.db).await.unwrap()[0].id;
    f.text(1, &format!("/refund {job}"));
    let price = common::video_price("fast", 8);
    f.wait_text(
        1,
        &format!("задача #{job}: {price} токенов возвращено пользователю 42"),
    )
    .await;
    f.wait_text(42, &format!("Возвращено {price} токенов"))
        .await;
    f.text(1, &format!("/refund {job}"));
    f.wait_text(1, "возврат уже был").await;
    // Feedback reaches the admin chat.
    f.text(42, "/feedback");
    f.wait_text(42, "одним сообщением").await;
    f.text(42, "Видео супер, но хочу 16:9");
    f.wait_text(1, "Отзыв от 42 (@user42):\nВидео супер, но хочу 16:9")
        .await;
    f.wait_text(42, "Спасибо").await;
    // Banned: one polite refusal, then silence.
    f.text(1, "/ban 42");
    f.wait_text(1, "пользователь 42: заблокирован").await;
    f.text(42, "/balance");
    f.wait_text(42, "Доступ к боту ограничен").await;
    let before = f.texts_to(42).len();
    f.text(42, "/balance");
    // Chats are served concurrently: let the banned user's message be handled before the unban.
    common::eventually(Duration::from_secs(2), || async {
        f.updates.lock().unwrap().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(f.texts_to(42).len(), before, "no second refusal");
    f.text(1, "/unban 42");
    f.wait_text(1, "пользователь 42: разблокирован").await;
    f.text(42, "/balance");
    f.wait_text(42, "Баланс: 1100").await;
    stop(running).await;
}
