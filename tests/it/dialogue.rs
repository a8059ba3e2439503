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

/// A draft is taken for ordering once: two presses at the same moment (the chat's button and
/// the composer's, or two processes) — one takes it, the other finds it gone; given back (the
/// order made nothing), it can be taken again; a draft changed meanwhile is not taken.
#[tokio::test]
async fn a_draft_is_taken_for_ordering_once() {
    for t in dbs::all().await {
        touch_user(&t.db, 7, None, "ru").await.unwrap();
        let s = Dialogue::UgcConfirm {
            background: None,
            character: "anna".into(),
            voice: "ru+f3".into(),
            script: "Привет".into(),
            speech: None,
            price: 180,
            layout: Default::default(),
            head_tier: None,
            versions: Vec::new(),
            draft: None,
            made_job: None,
        };
        save(&t.db, 7, &s).await.unwrap();
        let (a, b) = tokio::join!(
            reelforge::bot::dialogue::take(&t.db, 7, &s),
            reelforge::bot::dialogue::take(&t.db, 7, &s)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(
            a.is_some() != b.is_some(),
            "{}: exactly one takes it",
            t.db.kind()
        );
        assert_eq!(load(&t.db, 7).await.unwrap(), Dialogue::Idle);
        reelforge::bot::dialogue::give_back(&t.db, 7, &a.or(b).unwrap())
            .await
            .unwrap();
        assert_eq!(load(&t.db, 7).await.unwrap(), s, "given back");
        let mut changed = s.clone();
        if let Dialogue::UgcConfirm { price, .. } = &mut changed {
            *price = 999;
        }
        assert!(reelforge::bot::dialogue::take(&t.db, 7, &changed)
            .await
            .unwrap()
            .is_none());
        assert!(reelforge::bot::dialogue::take(&t.db, 7, &s)
            .await
            .unwrap()
            .is_some());
    }
}
