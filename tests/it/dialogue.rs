//! Conversation state lives in the database: it survives a restart of the process (a new
//! connection to the same database) on SQLite and PostgreSQL.
use crate::dbs;
use reelforge::bot::dialogue::{load, save, Dialogue};
use reelforge::db::users::touch_user;
use reelforge::db::Db;

#[tokio::test]
async fn a_conversation_survives_a_restart() {
    // SQLite: a file, reopened as a restarted process would.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bot.db", dir.path().display());
    let state = Dialogue::ProductWishes {
        photo: "uploads/p.jpg".into(),
        description: "Кружка 300 мл".into(),
        template: "studio".into(),
    };
    {
        let db = Db::connect(&url).await.unwrap();
        touch_user(&db, 5, None, "ru").await.unwrap();
        assert_eq!(load(&db, 5).await.unwrap(), Dialogue::Idle);
        save(&db, 5, &state).await.unwrap();
    }
    let db = Db::connect(&url).await.unwrap();
    assert_eq!(load(&db, 5).await.unwrap(), state);
    save(&db, 5, &Dialogue::Idle).await.unwrap();
    assert_eq!(load(&db, 5).await.unwrap(), Dialogue::Idle);

    for t in dbs::all().await {
        touch_user(&t.db, 6, None, "en").await.unwrap();
        let s = Dialogue::UgcConfirm {
            background: None,
            character: "anna".into(),
            voice: "v1".into(),
            script: "Hi".into(),
            speech: Some("voices/abc.mp3".into()),
            price: 180,
            layout: Default::default(),
            head_tier: Some("economy".into()),
            versions: vec![reelforge::bot::dialogue::VersionDraft {
                language: "kk".into(),
                script: "Сәлем".into(),
                speech: None,
            }],
            draft: None,
            made_job: None,
        };
        save(&t.db, 6, &s).await.unwrap();
        assert_eq!(load(&t.db, 6).await.unwrap(), s, "{}", t.db.kind());
    }
}
