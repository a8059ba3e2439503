//! `/api`: a user's keys for the HTTP API. `/api` lists them with how to start, `/api new`
//! makes one and shows it once (only its hash is kept), `/api revoke <prefix>` ends one.
use super::app::{Ctx, HandlerResult};
use crate::db::api_keys as keys;

pub async fn command(ctx: &Ctx<'_>, args: &str) -> HandlerResult {
    let db = &ctx.app.db;
    let mut words = args.split_whitespace();
    match (words.next(), words.next()) {
        (Some("new"), None) => match keys::create(db, ctx.user).await? {
            Some((key, _)) => ctx.say(ctx.t("api.created", &[("key", &key)])).await,
            None => {
                let limit = crate::db::api::MAX_LIVE_KEYS;
                ctx.say(ctx.t("api.too_many", &[("limit", &limit)])).await
            }
        },
        (Some("revoke"), Some(prefix)) => {
            let prefix = prefix
                .trim_start_matches("rf_")
                .split('_')
                .next()
                .unwrap_or("");
            let key = if crate::db::api::revoke_key(db, ctx.user, prefix).await? {
                "api.revoked"
            } else {
                "api.no_such_key"
            };
            ctx.say(ctx.t(key, &[("prefix", &prefix)])).await
        }
        (None, _) => {
            let list = keys::describe(db, ctx.user).await?;
            let list = if list.is_empty() {
                ctx.t("api.none", &[])
            } else {
                list.join("\n")
            };
            ctx.say(ctx.t("api.list", &[("keys", &list)])).await
        }
        _ => ctx.say(ctx.t("api.usage", &[])).await,
    }
}
