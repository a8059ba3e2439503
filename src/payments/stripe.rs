//! Stripe Checkout Sessions (form-encoded, KZT in minor units — KZT is two-decimal in Stripe)
//! and the webhook: `Stripe-Signature: t=…,v1=…[,v1=…]`, HMAC-SHA256 of `"{t}.{raw body}"` with
//! the endpoint secret, any `v1` may match, 300 s tolerance. A paid session credits its order's
//! tokens exactly once (ledger key `stripe:<session id>`).
use super::{create_order, mark_paid, set_external_id};
use crate::db::ledger::{self, Reason};
use crate::db::Db;
use crate::providers::{class_of_status, ProviderError};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

pub const TOLERANCE_S: i64 = 300;

#[derive(Debug, Clone, PartialEq)]
pub struct Checkout {
    pub order_id: i64,
    pub session_id: String,
    pub url: String,
}

pub struct StripeClient {
    http: reqwest::Client,
    secret_key: String,
    base: String,
}

impl StripeClient {
    pub fn new(http: reqwest::Client, secret_key: &str, base: Option<&str>) -> Self {
        Self {
            http,
            secret_key: secret_key.to_string(),
            base: base
                .unwrap_or("https://api.stripe.com")
                .trim_end_matches('/')
                .to_string(),
        }
    }

    /// Creates the order and its Checkout Session for a pack of `tokens` costing `price_kzt`.
    pub async fn checkout(
        &self,
        db: &Db,
        user: i64,
        tokens: i64,
        price_kzt: i64,
        success_url: &str,
        cancel_url: &str,
    ) -> Result<Checkout, ProviderError> {
        let amount_minor = price_kzt * 100;
        let order_id = create_order(db, user, "stripe", tokens, amount_minor, "kzt")
            .await
            .map_err(|e| {
                ProviderError::new(
                    "stripe",
                    crate::failure::ErrorClass::Transient,
                    e.to_string(),
                )
            })?;
        let form = [
            ("mode", "payment".to_string()),
            ("success_url", success_url.to_string()),
            ("cancel_url", cancel_url.to_string()),
            ("client_reference_id", user.to_string()),
            ("line_items[0][quantity]", "1".into()),
            ("line_items[0][price_data][currency]", "kzt".into()),
            (
                "line_items[0][price_data][unit_amount]",
                amount_minor.to_string(),
            ),
            (
                "line_items[0][price_data][product_data][name]",
                format!("{tokens} tokens"),
            ),
            ("metadata[user_id]", user.to_string()),
            ("metadata[order_id]", order_id.to_string()),
            ("metadata[tokens]", tokens.to_string()),
        ];
        let resp = self
            .http
            .post(format!("{}/v1/checkout/sessions", self.base))
            .bearer_auth(&self.secret_key)
            .header("Idempotency-Key", format!("reelforge-order-{order_id}"))
            .form(&form)
            .send()
            .await
            .map_err(|e| ProviderError::from_reqwest("stripe", &e))?;
        let status = resp.status().as_u16();
        let v: Value = resp
            .json()
            .await
            .map_err(|e| ProviderError::malformed("stripe", e))?;
        if status != 200 {
            let msg = v["error"]["message"]
                .as_str()
                .unwrap_or("error")
                .to_string();
            return Err(ProviderError::new(
                "stripe",
                class_of_status(status, None),
                msg,
            ));
        }
        let session_id = v["id"]
            .as_str()
            .ok_or_else(|| ProviderError::malformed("stripe", "no id"))?
            .to_string();
        let url = v["url"]
            .as_str()
            .ok_or_else(|| ProviderError::malformed("stripe", "no url"))?
            .to_string();
        set_external_id(db, order_id, &session_id)
            .await
            .map_err(|e| {
                ProviderError::new(
                    "stripe",
                    crate::failure::ErrorClass::Transient,
                    e.to_string(),
                )
            })?;
        Ok(Checkout {
            order_id,
            session_id,
            url,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing or malformed Stripe-Signature header")]
    Malformed,
    #[error("timestamp outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

/// Checks `Stripe-Signature` against the raw body.
pub fn verify_signature(
    header: &str,
    body: &[u8],
    secret: &str,
    now_s: i64,
) -> Result<(), SignatureError> {
    let mut t: Option<i64> = None;
    let mut sigs: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse().ok(),
            Some(("v1", v)) => {
                if let Some(bytes) = hex_decode(v) {
                    sigs.push(bytes);
                }
            }
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if sigs.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now_s - t).abs() > TOLERANCE_S {
        return Err(SignatureError::Stale);
    }
    for sig in &sigs {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .map_err(|_| SignatureError::Malformed)?;
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        // Constant-time comparison.
        if mac.verify_slice(sig).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// The header Stripe would send for `body` at `t` (for tests and local tools).
pub fn sign(body: &[u8], secret: &str, t: i64) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Tokens credited to the user (the bot notifies them).
    Credited {
        user: i64,
        tokens: i64,
        balance: i64,
    },
    /// The referrer of the paying user got their share (the bot tells them).
    ReferralReward {
        referrer: i64,
        tokens: i64,
        balance: i64,
    },
    /// A refund or dispute took the payment's tokens back: `taken` now, `debt` owed.
    Reversed { user: i64, taken: i64, debt: i64 },
    /// Seen before, unpaid, or not an event we act on.
    Ignored(&'static str),
}

/// A paid checkout session's (user, tokens, session id), or `None` for any other event.
pub fn paid_session(event: &Value) -> Option<(i64, i64, String)> {
    let kind = event["type"].as_str().unwrap_or("");
    if kind != "checkout.session.completed" && kind != "checkout.session.async_payment_succeeded" {
        return None;
    }
    let session = &event["data"]["object"];
    if session["payment_status"].as_str() != Some("paid") {
        return None;
    }
    let meta = &session["metadata"];
    let num = |k: &str| meta[k].as_str().and_then(|v| v.parse::<i64>().ok());
    Some((
        num("user_id")?,
        num("tokens")?,
        session["id"].as_str()?.to_string(),
    ))
}

/// Acts on a verified event: a paid `checkout.session.completed` (or
/// `…async_payment_succeeded`) credits the order once.
pub async fn handle_event(db: &Db, event: &Value) -> Result<WebhookOutcome, ledger::LedgerError> {
    let kind = event["type"].as_str().unwrap_or("");
    let object = &event["data"]["object"];
    // A refund (whole or part: `amount_refunded` is the running total) or a dispute takes the
    // tokens of that payment back.
    let reversed = match kind {
        "charge.refunded" => object["amount_refunded"].as_i64().map(|a| (a, None)),
        "charge.dispute.created" => object["amount"]
            .as_i64()
            .map(|a| (a, Some(object["id"].as_str().unwrap_or("dispute")))),
        _ => None,
    };
    if let Some((amount, dispute)) = reversed {
        let Some(pi) = object["payment_intent"].as_str() else {
            return Ok(WebhookOutcome::Ignored("no payment intent"));
        };
        return Ok(
            match crate::db::reversals::reverse_payment(db, pi, amount, dispute).await? {
                crate::db::reversals::Reversal::Reversed { user, taken, debt } => {
                    tracing::warn!(
                        user_id = user,
                        taken,
                        debt,
                        kind,
                        "a card payment came back: its tokens were taken back"
                    );
                    WebhookOutcome::Reversed { user, taken, debt }
                }
                crate::db::reversals::Reversal::Nothing => {
                    WebhookOutcome::Ignored("already reversed")
                }
                crate::db::reversals::Reversal::UnknownPayment => {
                    WebhookOutcome::Ignored("unknown payment")
                }
            },
        );
    }
    if kind != "checkout.session.completed" && kind != "checkout.session.async_payment_succeeded" {
        return Ok(WebhookOutcome::Ignored("event type"));
    }
    let session = &event["data"]["object"];
    if session["payment_status"].as_str() != Some("paid") {
        return Ok(WebhookOutcome::Ignored("not paid yet"));
    }
    let meta = &session["metadata"];
    let num = |k: &str| meta[k].as_str().and_then(|v| v.parse::<i64>().ok());
    let (Some(user), Some(order), Some(tokens), Some(session_id)) = (
        num("user_id"),
        num("order_id"),
        num("tokens"),
        session["id"].as_str(),
    ) else {
        return Ok(WebhookOutcome::Ignored("metadata"));
    };
    // The order row says whose payment it is: after /deletedata it belongs to the anonymous
    // account the ledger moved to (the Telegram id in the metadata is gone). The payment is
    // recorded there, its order marked for the operator to refund.
    let owner = crate::db::orders::order(db, order)
        .await?
        .map(|o| o.user_id);
    if let Some(anon) = owner.filter(|o| *o < 0) {
        ledger::credit(
            db,
            anon,
            tokens,
            Reason::Payment,
            &format!("stripe:{session_id}"),
            None,
        )
        .await?;
        crate::db::orders::mark_refund_due(db, order).await?;
        after_credit(db, session, order, anon, session_id).await?;
        tracing::warn!(
            order_id = order,
            tokens,
            "a card payment completed after its account was erased: recorded for a refund"
        );
        return Ok(WebhookOutcome::Ignored(
            "paid after the account was erased: recorded for a refund",
        ));
    }
    match ledger::credit(
        db,
        user,
        tokens,
        Reason::Payment,
        &format!("stripe:{session_id}"),
        None,
    )
    .await?
    {
        ledger::Outcome::Applied { balance } => {
            mark_paid(db, order).await?;
            let settled = after_credit(db, session, order, user, session_id).await?;
            let balance = balance - settled;
            Ok(WebhookOutcome::Credited {
                user,
                tokens,
                balance,
            })
        }
        // A retried event finishes what a crash after the credit may have left undone (both
        // steps are idempotent).
        ledger::Outcome::AlreadyApplied => {
            after_credit(db, session, order, user, session_id).await?;
            Ok(WebhookOutcome::Ignored("already credited"))
        }
    }
}

/// After a card payment is credited: its PaymentIntent is remembered (a refund or dispute names
/// only that) and what a reversed payment left owed is settled from it. Returns the tokens
/// settled.
async fn after_credit(
    db: &Db,
    session: &Value,
    order: i64,
    user: i64,
    session_id: &str,
) -> Result<i64, ledger::LedgerError> {
    if let Some(pi) = session["payment_intent"].as_str() {
        crate::db::reversals::record_payment_intent(db, order, pi).await?;
    }
    Ok(crate::db::reversals::settle_debt(db, user, &format!("stripe:{session_id}")).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_with_any_v1_and_within_tolerance() {
        let body = br#"{"id":"evt_1"}"#;
        let good = sign(body, "whsec_test", 1_700_000_000);
        assert_eq!(
            verify_signature(&good, body, "whsec_test", 1_700_000_100),
            Ok(())
        );
        let rotated = format!(
            "t=1700000000,v1={},{}",
            "00".repeat(32),
            good.split(',').nth(1).unwrap()
        );
        assert_eq!(
            verify_signature(&rotated, body, "whsec_test", 1_700_000_000),
            Ok(())
        );
        assert_eq!(
            verify_signature(&good, body, "whsec_other", 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&good, b"{\"id\":\"evt_2\"}", "whsec_test", 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&good, body, "whsec_test", 1_700_000_301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature("v1=abc", body, "whsec_test", 0),
            Err(SignatureError::Malformed)
        );
    }
}
