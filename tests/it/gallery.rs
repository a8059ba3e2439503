//! The character gallery managed from Telegram: an admin adds portraits with `/addcharacter`
//! (a photo with no face or too small is refused), lists and removes them with
//! `/characters`; users see them three per page as albums with numbered buttons, in the
//! order added, and pick one by number. Not open to other users.
use crate::bot_flows::{env, stop};
use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_fill_the_gallery_and_users_page_through_albums_of_three() {
    let e = env().await;
    let f = &e.fake;
    let running = e.run(e.app());
    e.member(1, 1).await;
    e.member(42, 1000).await;
    // Not for users.
    f.text(42, "/addcharacter");
    f.wait_text(42, "Такой команды нет").await;
    f.text(1, "/addcharacter");
    f.wait_text(1, "Пришлите портрет").await;
    // No face, then too small: refused with the reason.
    let dir = e.dir.path();
    let blank = dir.join("blank.jpg");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=blue:s=640x640",
        "-frames:v",
        "1",
        common::s(&blank),
    ]);
    f.photo(1, "blank", std::fs::read(&blank).unwrap(), None);
    f.wait_text(1, "лиц найдено: 0").await;
    let tiny = dir.join("tiny.jpg");
    common::ffmpeg(&[
        "-i",
        common::ASTRONAUT,
        "-vf",
        "scale=120:-2",
        common::s(&tiny),
    ]);
    f.photo(1, "tiny", std::fs::read(&tiny).unwrap(), None);
    f.wait_text(1, "не меньше 256 px").await;
    // Ten portraits, in order.
    let portrait = std::fs::read(common::ASTRONAUT).unwrap();
    for n in 1..=10 {
        if n > 1 {
            f.text(1, "/addcharacter");
        }
        f.photo(1, &format!("p{n}"), portrait.clone(), None);
        f.wait_text(1, "женский или мужской").await;
        f.press(1, "chr:g:female", 10 + n);
        f.wait_text(1, "Как зовут").await;
        f.text(1, &format!("Anna {n}"));
        f.wait_text(1, &format!("«Anna {n}»")).await;
    }
    f.text(1, "/characters");
    let list = f.wait_text(1, "#10 Anna 10").await;
    assert!(list.last().unwrap().starts_with("#1 Anna 1"), "{list:?}");
    f.press(1, "chr:rm:10", 40);
    f.wait_text(1, "#10 убран").await;

    // A user pages through nine characters: three albums of three.
    f.text(42, "/create");
    f.wait_text(42, "Какой ролик").await;
    f.press(42, "u:f:head", 3);
    f.wait_text(42, "Выберите персонажа").await;
    let albums = || f.calls_of("sendmediagroup");
    f.press(42, "u:g:female", 4);
    f.wait_text(42, "страница 1/3").await;
    assert_eq!(albums().len(), 1);
    let media = crate::fake_tg::media_of;
    let first = media(&albums()[0]);
    assert_eq!(first.len(), 3);
    assert_eq!(first[0]["caption"], "1 · Anna 1");
    assert_eq!(
        f.last_buttons(42),
        vec!["1|u:pick:0", "2|u:pick:1", "3|u:pick:2", "▶|u:c:1"]
    );
    f.press(42, "u:c:1", 5);
    f.wait_text(42, "страница 2/3").await;
    assert_eq!(
        f.last_buttons(42),
        vec![
            "4|u:pick:3",
            "5|u:pick:4",
            "6|u:pick:5",
            "◀|u:c:0",
            "▶|u:c:2"
        ]
    );
    f.press(42, "u:c:2", 6);
    f.wait_text(42, "страница 3/3").await;
    let last = media(albums().last().unwrap());
    assert_eq!(
        last[2]["caption"], "9 · Anna 9",
        "the removed tenth is gone"
    );
    assert!(!f.last_buttons(42).iter().any(|b| b.contains("▶")));
    f.press(42, "u:pick:7", 7);
    f.wait_text(42, "Изменить персонажа").await;
    stop(running).await;
}
