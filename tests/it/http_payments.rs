//! `/health`, `/metrics` and Stripe: a Checkout Session created with the documented form
//! fields (KZT in tiyn, metadata), and a webhook that credits a signed, paid session exactly
//! once while forged, stale or replayed deliveries change nothing.
use crate::dbs;
use axum::routing::post;
use axum::{Form, Json, Router};
use reelforge::db::ledger;
use reelforge::db::users::touch_user;
use reelforge::http::{router, AppState};
use reelforge::payments::stripe::{sign, StripeClient, WebhookOutcome};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const SECRET: &str = "whsec_test_secret";

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn event(id: &str, session: &str, user: i64, order: i64, tokens: i64, paid: bool) -> String {
    serde_json::json!({
        "id": id, "object": "event", "type": "checkout.session.completed", "livemode": false,
        "data": {"object": {"id": session, "object": "checkout.session", "payment_status": if paid { "paid" } else { "unpaid" },
                 "client_reference_id": user.to_string(),
                 "metadata": {"user_id": user.to_string(), "order_id": order.to_string(), "tokens": tokens.to_string()}}}
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_and_webhook_credit_a_paid_session_exactly_once() {
    for t in dbs::all().await {
        let db = t.db.clone();
        touch_user(&db, 21, Some("buyer"), "ru").await.unwrap();

        // A Stripe-shaped fake for Checkout Sessions.
        let seen: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let s2 = seen.clone();
        let stripe_api = serve(Router::new().route(
            "/v1/checkout/sessions",
            post(move |headers: axum::http::HeaderMap, Form(form): Form<HashMap<String, String>>| {
                let s = s2.clone();
                async move {
                    assert_eq!(headers.get("authorization").unwrap(), "Bearer sk_test_123");
                    assert!(headers.get("idempotency-key").is_some());
                    *s.lock().unwrap() = form;
                    Json(serde_json::json!({"id": "cs_test_1", "object": "checkout.session", "url": "https://checkout.stripe.com/c/pay/cs_test_1"}))
                }
            }),
        ))
        .await;
        let stripe = StripeClient::new(reqwest::Client::new(), "sk_test_123", Some(&stripe_api));
        let checkout = stripe
            .checkout(
                &db,
                21,
                1484,
                1336,
                "https://t.me/bot?start=paid",
                "https://t.me/bot",
            )
            .await
            .unwrap();
        assert_eq!(checkout.url, "https://checkout.stripe.com/c/pay/cs_test_1");
        let form = seen.lock().unwrap().clone();
        assert_eq!(form["line_items[0][price_data][currency]"], "kzt");
        assert_eq!(
            form["line_items[0][price_data][unit_amount]"], "133600",
            "KZT in tiyn"
        );
        assert_eq!(form["metadata[user_id]"], "21");
        assert_eq!(form["mode"], "payment");
        let order = reelforge::payments::order(&db, checkout.order_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (order.status.as_str(), order.external_id.as_deref()),
            ("pending", Some("cs_test_1"))
        );

        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let state = AppState {
            db: db.clone(),
            stripe_webhook_secret: Some(SECRET.into()),
            metrics_token: Some("scrape-me".into()),
            credited: Some(tx),
            trusted_proxies: Default::default(),
            referral_percent: 10,
        };
        let base = serve(router(state)).await;
        let http = reqwest::Client::new();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let post = |body: String, sig: String| {
            let http = http.clone();
            let url = format!("{base}/webhooks/stripe");
            async move {
                http.post(url)
                    .header("stripe-signature", sig)
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };

        let unpaid = event("evt_0", "cs_test_1", 21, checkout.order_id, 1484, false);
        assert_eq!(
            post(unpaid.clone(), sign(unpaid.as_bytes(), SECRET, now)).await,
            200
        );
        assert_eq!(
            ledger::balance_of(&db, 21).await.unwrap(),
            0,
            "unpaid: nothing yet"
        );

        let paid = event("evt_1", "cs_test_1", 21, checkout.order_id, 1484, true);
        assert_eq!(
            post(paid.clone(), sign(paid.as_bytes(), "whsec_forged", now)).await,
            400,
            "forged"
        );
        assert_eq!(
            post(paid.clone(), sign(paid.as_bytes(), SECRET, now - 600)).await,
            400,
            "stale"
        );
        assert_eq!(
            post(paid.clone(), "t=1,v1=zz".into()).await,
            400,
            "malformed"
        );
        assert_eq!(ledger::balance_of(&db, 21).await.unwrap(), 0);

        assert_eq!(
            post(paid.clone(), sign(paid.as_bytes(), SECRET, now)).await,
            200
        );
        assert_eq!(
            post(paid.clone(), sign(paid.as_bytes(), SECRET, now)).await,
            200,
            "replayed event"
        );
        let again = event("evt_2", "cs_test_1", 21, checkout.order_id, 1484, true);
        assert_eq!(
            post(again.clone(), sign(again.as_bytes(), SECRET, now)).await,
            200,
            "another event, same session"
        );
        assert_eq!(
            ledger::balance_of(&db, 21).await.unwrap(),
            1484,
            "{}: credited once",
            db.kind()
        );
        assert_eq!(
            rx.recv().await.unwrap(),
            WebhookOutcome::Credited {
                user: 21,
                tokens: 1484,
                balance: 1484
            }
        );
        assert!(rx.try_recv().is_err(), "the user is told once");
        assert_eq!(
            reelforge::payments::order(&db, checkout.order_id)
                .await
                .unwrap()
                .unwrap()
                .status,
            "paid"
        );

        let health: serde_json::Value = http
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(health["status"], "ok");
        // METRICS_TOKEN set: a scrape without it (or with a wrong one) is refused.
        let scrape = |token: Option<&'static str>| {
            let mut req = http.get(format!("{base}/metrics"));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            req.send()
        };
        assert_eq!(scrape(None).await.unwrap().status().as_u16(), 401);
        assert_eq!(scrape(Some("guess")).await.unwrap().status().as_u16(), 401);
        let metrics = scrape(Some("scrape-me"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(metrics.contains("# TYPE reelforge_jobs gauge"), "{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_failure_during_a_paid_webhook_is_credited_on_stripes_retry() {
    use sqlx::Executor;
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    touch_user(&db, 31, None, "ru").await.unwrap();
    let order = reelforge::payments::create_order(&db, 31, "stripe", 1484, 133600, "kzt")
        .await
        .unwrap();
    // The database fails once the event has been seen: crediting fails, and so does any
    // attempt to forget the event (as when the database goes away mid-request).
    let raw = sqlx::SqlitePool::connect(&t.url).await.unwrap();
    raw.execute(
        "CREATE TRIGGER no_credit BEFORE INSERT ON ledger_entries BEGIN SELECT RAISE(ABORT, 'injected failure'); END;
         CREATE TRIGGER no_forget BEFORE DELETE ON webhook_events BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    )
    .await
    .unwrap();
    let state = AppState {
        db: db.clone(),
        stripe_webhook_secret: Some(SECRET.into()),
        metrics_token: None,
        credited: None,
        trusted_proxies: Default::default(),
        referral_percent: 10,
    };
    let base = serve(router(state)).await;
    let paid = event("evt_9", "cs_test_9", 31, order, 1484, true);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let deliver = || async {
        reqwest::Client::new()
            .post(format!("{base}/webhooks/stripe"))
            .header("stripe-signature", sign(paid.as_bytes(), SECRET, now))
            .body(paid.clone())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert!(deliver().await >= 500, "Stripe is asked to retry");
    assert_eq!(ledger::balance_of(&db, 31).await.unwrap(), 0);
    raw.execute("DROP TRIGGER no_credit; DROP TRIGGER no_forget;")
        .await
        .unwrap();
    // Stripe's retry is credited — once, however often it comes.
    assert_eq!(deliver().await, 200);
    assert_eq!(deliver().await, 200);
    assert_eq!(ledger::balance_of(&db, 31).await.unwrap(), 1484);
    assert_eq!(ledger::entries_sum(&db, 31).await.unwrap(), 1484);
}

/// A card payment that comes back — refunded in part in Stripe's dashboard, then disputed —
/// takes its tokens back: what is left of them (the balance never goes negative), the rest as
/// a debt that flags the account and that the next top-up settles; the referrer's share once;
/// repeated events change nothing. Events in Stripe's documented shapes (Charge, Dispute).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_and_disputes_take_the_tokens_back_and_the_rest_becomes_a_debt() {
    use reelforge::db::ledger::Reason;
    use reelforge::db::reversals::debt_of;
    use reelforge::payments::stripe::handle_event;
    use serde_json::json;
    for t in dbs::all().await {
        let db = &t.db;
        for user in [91, 92] {
            touch_user(db, user, None, "ru").await.unwrap();
        }
        dbs::exec(db, "UPDATE users SET referrer_id = 92 WHERE id = 91").await;
        let paid = |order: i64, session: &str, pi: &str| {
            json!({"id": format!("evt_{session}"), "type": "checkout.session.completed",
                   "data": {"object": {"id": session, "object": "checkout.session", "payment_status": "paid",
                                       "payment_intent": pi,
                                       "metadata": {"user_id": "91", "order_id": order.to_string(), "tokens": "742"}}}})
        };
        let order = reelforge::payments::create_order(db, 91, "stripe", 742, 74200, "kzt")
            .await
            .unwrap();
        reelforge::payments::set_external_id(db, order, "cs_r1")
            .await
            .unwrap();
        let outcome = handle_event(db, &paid(order, "cs_r1", "pi_r1"))
            .await
            .unwrap();
        assert!(
            matches!(outcome, WebhookOutcome::Credited { tokens: 742, .. }),
            "{outcome:?}"
        );
        reelforge::db::account::reward_referrer(db, 91, 742, "stripe:cs_r1", 10)
            .await
            .unwrap();
        assert_eq!(ledger::balance_of(db, 92).await.unwrap(), 74);
        ledger::debit(db, 91, 500, Reason::JobDebit, "spent:91", None)
            .await
            .unwrap();
        // Half refunded: 371 tokens back, of which only 242 are left.
        let refund = json!({"id": "evt_ch1", "type": "charge.refunded",
            "data": {"object": {"id": "ch_r1", "object": "charge", "payment_intent": "pi_r1",
                                "amount_refunded": 37100, "refunded": false, "metadata": {}}}});
        let outcome = handle_event(db, &refund).await.unwrap();
        assert_eq!(
            outcome,
            WebhookOutcome::Reversed {
                user: 91,
                taken: 242,
                debt: 129
            },
            "{}",
            db.kind()
        );
        assert_eq!(ledger::balance_of(db, 91).await.unwrap(), 0);
        let (debt, flagged) = debt_of(db, 91).await.unwrap();
        assert_eq!(debt, 129);
        assert!(flagged.is_some(), "flagged for the operator");
        assert!(matches!(
            handle_event(db, &refund).await.unwrap(),
            WebhookOutcome::Ignored(_)
        ));
        // Then the rest disputed: the other half, and the referrer's share, once.
        let dispute = json!({"id": "evt_dp1", "type": "charge.dispute.created",
            "data": {"object": {"id": "dp_r1", "object": "dispute", "charge": "ch_r1", "payment_intent": "pi_r1",
                                "amount": 37100, "reason": "fraudulent", "status": "needs_response"}}});
        let outcome = handle_event(db, &dispute).await.unwrap();
        assert_eq!(
            outcome,
            WebhookOutcome::Reversed {
                user: 91,
                taken: 0,
                debt: 371
            }
        );
        assert!(matches!(
            handle_event(db, &dispute).await.unwrap(),
            WebhookOutcome::Ignored(_)
        ));
        assert_eq!(debt_of(db, 91).await.unwrap().0, 500);
        assert_eq!(
            ledger::balance_of(db, 92).await.unwrap(),
            0,
            "the referrer's share, once"
        );
        // The next top-up settles the debt first.
        let next = reelforge::payments::create_order(db, 91, "stripe", 742, 74200, "kzt")
            .await
            .unwrap();
        let outcome = handle_event(db, &paid(next, "cs_r2", "pi_r2"))
            .await
            .unwrap();
        assert!(
            matches!(outcome, WebhookOutcome::Credited { balance: 242, .. }),
            "{outcome:?}"
        );
        assert_eq!(debt_of(db, 91).await.unwrap().0, 0);
        for user in [91, 92] {
            assert_eq!(
                ledger::balance_of(db, user).await.unwrap(),
                ledger::entries_sum(db, user).await.unwrap(),
                "{}",
                db.kind()
            );
        }
    }
}

/// A card payment that completes after `/deletedata` (the checkout page left open past a
/// day) is not lost: the webhook succeeds, the payment is recorded on the anonymous account
/// with its order marked for a refund, the console lists it, and Stripe's refund takes the
/// tokens back from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_completing_after_erasure_is_recorded_for_a_refund() {
    use reelforge::db::account::{erase_user, Erase};
    use reelforge::payments::stripe::handle_event;
    use serde_json::json;
    for t in dbs::all().await {
        let db = &t.db;
        touch_user(db, 95, None, "ru").await.unwrap();
        let order = reelforge::payments::create_order(db, 95, "stripe", 742, 74200, "kzt")
            .await
            .unwrap();
        reelforge::payments::set_external_id(db, order, "cs_late")
            .await
            .unwrap();
        // The page was left open for two days: no longer a payment under way.
        dbs::exec(
            db,
            &format!("UPDATE orders SET created_ms = created_ms - 172800000 WHERE id = {order}"),
        )
        .await;
        let Erase::Erased(erased) = erase_user(db, 95).await.unwrap() else {
            panic!("{}: not erased", db.kind())
        };
        let anon = erased.anonymous_id;
        // The same Telegram id comes back through an accomplice's link before the payment
        // completes: the new account must not earn the accomplice a share of it.
        touch_user(db, 95, None, "ru").await.unwrap();
        touch_user(db, 96, None, "ru").await.unwrap();
        dbs::exec(db, "UPDATE users SET referrer_id = 96 WHERE id = 95").await;
        let paid = json!({"id": "evt_late", "type": "checkout.session.completed",
            "data": {"object": {"id": "cs_late", "object": "checkout.session", "payment_status": "paid",
                                "payment_intent": "pi_late",
                                "metadata": {"user_id": "95", "order_id": order.to_string(), "tokens": "742"}}}});
        let outcome = handle_event(db, &paid).await;
        assert!(
            matches!(outcome, Ok(WebhookOutcome::Ignored(_))),
            "{}: {outcome:?}",
            db.kind()
        );
        assert_eq!(
            ledger::balance_of(db, 95).await.unwrap(),
            0,
            "the new account is not paid"
        );
        assert_eq!(
            reelforge::db::account::reward_referrer(db, 95, 742, "stripe:cs_late", 10)
                .await
                .unwrap(),
            None,
            "no referral share of a payment booked for a refund"
        );
        assert_eq!(ledger::balance_of(db, 96).await.unwrap(), 0);
        assert_eq!(ledger::balance_of(db, anon).await.unwrap(), 742);
        let o = reelforge::db::orders::order(db, order)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(o.status, "refund_due", "{}", db.kind());
        let due = reelforge::db::console::orders(db, 0, 50).await.unwrap();
        assert!(due
            .iter()
            .any(|r| r.id == order && r.status == "refund_due"));
        // A repeat changes nothing; the operator's refund in Stripe takes the tokens back.
        assert!(matches!(
            handle_event(db, &paid).await,
            Ok(WebhookOutcome::Ignored(_))
        ));
        assert_eq!(ledger::balance_of(db, anon).await.unwrap(), 742);
        let refund = json!({"id": "evt_late_r", "type": "charge.refunded",
            "data": {"object": {"id": "ch_late", "object": "charge", "payment_intent": "pi_late",
                                "amount_refunded": 74200, "refunded": true, "metadata": {}}}});
        let outcome = handle_event(db, &refund).await.unwrap();
        assert!(
            matches!(
                outcome,
                WebhookOutcome::Reversed {
                    taken: 742,
                    debt: 0,
                    ..
                }
            ),
            "{outcome:?}"
        );
        assert_eq!(ledger::balance_of(db, anon).await.unwrap(), 0);
        let o = reelforge::db::orders::order(db, order)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(o.status, "refunded");
    }
}
