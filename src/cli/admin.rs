//! Operator commands that need no bot: profit, top-up, history, users, stats, user, ban,
//! unban, refund (the same logic as the bot's admin commands, in `reelforge::admin`).
use super::CliError;
use clap::{Args, Subcommand};
use reelforge::admin;
use reelforge::config::{Config, Layer};
use reelforge::db::ledger::{self, Reason};
use reelforge::pricing::PriceTable;
use std::path::PathBuf;

#[derive(Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Margin of every product: price in tokens (1 token = 1 ₸) against the provider cost.
    Profit {
        /// Pricing table (default: PRICING_FILE, else the bundled assets/pricing.toml).
        #[arg(long)]
        pricing: Option<PathBuf>,
        /// Exchange rate used for provider costs, overriding the table's `kzt_per_usd`.
        #[arg(long)]
        kzt_per_usd: Option<f64>,
        /// Configuration file (TOML).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Add tokens to a user's balance: a Kaspi order (`--order`, credited once and closed) or
    /// an amount (`--user`, `--amount`).
    Topup {
        /// The Kaspi order the transfer paid (its id is the top-up's key).
        #[arg(long, conflicts_with_all = ["user", "amount", "key"])]
        order: Option<i64>,
        /// Telegram user id.
        #[arg(long, required_unless_present = "order")]
        user: Option<i64>,
        /// Tokens to add.
        #[arg(long, required_unless_present = "order")]
        amount: Option<i64>,
        /// Idempotency key: the same key never credits twice (default: a new one).
        #[arg(long)]
        key: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The users last seen and how many there are.
    Users {
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Users, jobs by state, revenue, provider spend and videos per hour.
    Stats {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Provider health: calls and success rate per chain entry in the last hour, breakers.
    Providers {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// One user's card (id or @username).
    User {
        who: String,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Make (or replace) a promo code: `promo CODE TOKENS [--uses N] [--days D]`.
    Promo {
        code: String,
        tokens: i64,
        #[arg(long, default_value_t = 1)]
        uses: i64,
        #[arg(long)]
        days: Option<i64>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// One job: state, price, the provider of each step, provider cost, error, spec.
    Job {
        id: i64,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Bar a user from the bot (id or @username).
    Ban {
        who: String,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Let a banned user back in.
    Unban {
        who: String,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Give a job's tokens back (once).
    Refund {
        job: i64,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Copy the SQLite database into the object store (online; keeps the newest --keep).
    Backup {
        /// Backups to keep (older ones are deleted).
        #[arg(long, default_value_t = 14)]
        keep: usize,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Replace the SQLite database with a backup (the newest unless --from names one).
    /// Stop serve and the workers first.
    Restore {
        /// The backup's key (`backups/reelforge-….sqlite`); default: the newest.
        #[arg(long)]
        from: Option<String>,
        /// Replace an existing database file.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// A user's balance and latest ledger entries.
    History {
        #[arg(long)]
        user: i64,
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

pub fn run(a: AdminArgs) -> Result<(), CliError> {
    match a.command {
        AdminCommand::Profit {
            pricing,
            kzt_per_usd,
            config,
        } => profit(pricing, kzt_per_usd, config),
        AdminCommand::Topup {
            order: Some(order),
            config,
            ..
        } => topup_order(order, config),
        AdminCommand::Topup {
            user,
            amount,
            key,
            config,
            ..
        } => topup_user(user, amount, key, config),
        AdminCommand::Backup { keep, config } => super::data::backup(keep, config),
        AdminCommand::Restore {
            from,
            force,
            config,
        } => super::data::restore(from, force, config),
        AdminCommand::Users { limit, config } => with_db(config, async move |_cfg, db| {
            let (total, users) = admin::recent_users(&db, limit).await.map_err(internal)?;
            println!("{total} users");
            for u in users {
                println!(
                    "  {:>12} @{:<20} {:>8} tokens {}",
                    u.id,
                    u.username.as_deref().unwrap_or("-"),
                    u.balance,
                    if u.banned { "banned" } else { "" }
                );
            }
            Ok(())
        }),
        AdminCommand::Stats { config } => with_db(config, async move |cfg, db| {
            let file = cfg.pricing_file.as_deref().map(std::path::Path::new);
            let prices = PriceTable::load(file)
                .map_err(|e| CliError::BadInput(format!("PRICING_FILE {e}.")))?;
            println!(
                "{}",
                admin::stats(&db, &prices).await.map_err(internal)?.render()
            );
            Ok(())
        }),
        AdminCommand::Providers { config } => with_db(config, async move |_cfg, db| {
            let text = providers_text(&db)
                .await
                .map_err(|e| CliError::Internal(e.to_string()))?;
            println!("{text}");
            Ok(())
        }),
        AdminCommand::Promo {
            code,
            tokens,
            uses,
            days,
            config,
        } => with_db(config, async move |_cfg, db| {
            let mut words = vec![code.clone(), tokens.to_string(), uses.to_string()];
            words.extend(days.map(|d| d.to_string()));
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            match reelforge::bot::account::new_promo(&db, &words, &reelforge::admin::english)
                .await
                .map_err(|e| CliError::Internal(e.to_string()))?
            {
                Ok(done) => println!("{done}"),
                Err(usage) => return Err(CliError::BadInput(format!("{usage}."))),
            }
            Ok(())
        }),
        AdminCommand::Job { id, config } => with_db(config, async move |_cfg, db| {
            println!("{}", admin::job_card(&db, id).await.map_err(bad)?);
            Ok(())
        }),
        AdminCommand::User { who, config } => with_db(config, async move |_cfg, db| {
            println!("{}", admin::user_card(&db, &who).await.map_err(bad)?);
            Ok(())
        }),
        AdminCommand::Ban { who, config } => set_banned(who, config, true),
        AdminCommand::Unban { who, config } => set_banned(who, config, false),
        AdminCommand::Refund { job, config } => with_db(config, async move |_cfg, db| {
            match admin::refund_job(&db, job).await.map_err(bad)? {
                Some((user, amount)) => println!("job #{job}: {amount} tokens back to user {user}"),
                None => println!("job #{job} was already refunded; nothing changed"),
            }
            Ok(())
        }),
        AdminCommand::History {
            user,
            limit,
            config,
        } => ledger_history(user, limit, config),
    }
}

/// `admin topup --order N`: a Kaspi order confirmed, and the referrer's share of it.
fn topup_order(order: i64, config: Option<PathBuf>) -> Result<(), CliError> {
    with_db(config, async move |cfg, db| {
        use reelforge::db::orders::{credit_order, OrderCredit};
        match credit_order(&db, order)
            .await
            .map_err(|e| CliError::Internal(e.to_string()))?
        {
            OrderCredit::Credited {
                user,
                tokens,
                balance,
            } => println!(
                "order #{order}: user {user} +{tokens} tokens, balance {balance}; order closed"
            ),
            OrderCredit::AlreadyCredited { user } => {
                println!("order #{order} (user {user}) was already credited; nothing changed")
            }
            OrderCredit::NotPendingKaspi { user, method, status } => {
                return Err(CliError::BadInput(format!(
                    "order #{order} (user {user}) is a {method} order, {status}: only a pending Kaspi order is confirmed."
                )))
            }
            OrderCredit::NoSuchOrder => {
                return Err(CliError::BadInput(format!("there is no order #{order}.")))
            }
        }
        // The referrer's share, once per order.
        let percent = reelforge::pricing::PriceTable::load(
            cfg.pricing_file.as_deref().map(std::path::Path::new),
        )
        .map(|p| p.referral_percent)
        .unwrap_or(10);
        if let Some((referrer, tokens, _)) =
            reelforge::db::account::reward_for_order(&db, order, percent)
                .await
                .map_err(|e| CliError::Internal(e.to_string()))?
        {
            println!("referrer {referrer}: +{tokens} tokens ({percent} %)");
        }
        Ok(())
    })
}

/// `admin topup --user U --amount N [--key K]`: tokens given by the operator, once per key.
fn topup_user(
    user: Option<i64>,
    amount: Option<i64>,
    key: Option<String>,
    config: Option<PathBuf>,
) -> Result<(), CliError> {
    with_db(config, async move |_cfg, db| {
        let (Some(user), Some(amount)) = (user, amount) else {
            return Err(CliError::BadInput(
                "admin topup needs --order, or --user and --amount.".into(),
            ));
        };
        let key = key.unwrap_or_else(|| format!("admin:topup:{user}:{}", reelforge::db::now_ms()));
        match ledger::credit(&db, user, amount, Reason::AdminTopup, &key, None).await {
            Ok(ledger::Outcome::Applied { balance }) => {
                println!("user {user}: +{amount} tokens, balance {balance}");
                Ok(())
            }
            Ok(ledger::Outcome::AlreadyApplied) => {
                println!("user {user}: top-up '{key}' was already applied; nothing changed");
                Ok(())
            }
            Err(
                e @ (ledger::LedgerError::UnknownUser(_) | ledger::LedgerError::NonPositiveAmount),
            ) => Err(CliError::BadInput(format!("{e}."))),
            Err(e) => Err(CliError::Internal(e.to_string())),
        }
    })
}

/// `admin history --user U`: the balance and the ledger entries, newest first.
fn ledger_history(user: i64, limit: i64, config: Option<PathBuf>) -> Result<(), CliError> {
    with_db(config, async move |_cfg, db| {
        let balance = ledger::balance_of(&db, user)
            .await
            .map_err(|e| CliError::BadInput(format!("{e}.")))?;
        println!("user {user}: balance {balance}");
        for e in ledger::history(&db, user, limit)
            .await
            .map_err(|e| CliError::Internal(e.to_string()))?
        {
            println!(
                "  {:>8} {:>+8} → {:>8}  {:<14} {}",
                e.id, e.delta, e.balance_after, e.reason, e.idempotency_key
            );
        }
        Ok(())
    })
}

fn internal(e: admin::AdminError) -> CliError {
    CliError::Internal(e.to_string())
}

fn bad(e: admin::AdminError) -> CliError {
    match e {
        admin::AdminError::Db(_) | admin::AdminError::Queue(_) => CliError::Internal(e.to_string()),
        other => CliError::BadInput(format!("{other}.")),
    }
}

fn set_banned(who: String, config: Option<PathBuf>, banned: bool) -> Result<(), CliError> {
    with_db(config, async move |_cfg, db| {
        let u = admin::find_user(&db, &who).await.map_err(bad)?;
        admin::set_banned(&db, u.id, banned).await.map_err(bad)?;
        println!(
            "user {}: {}",
            u.id,
            if banned { "banned" } else { "unbanned" }
        );
        Ok(())
    })
}

/// Loads the configuration, connects to the database and runs `f` on a runtime.
fn with_db(
    config: Option<PathBuf>,
    f: impl AsyncFnOnce(Config, reelforge::db::Db) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let _ = dotenvy::dotenv();
    let cfg = Config::load(
        config.as_deref(),
        |k| std::env::var(k).ok(),
        Layer::default(),
    )
    .map_err(|e| CliError::BadInput(format!("{e}.")))?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| CliError::Internal(e.to_string()))?;
    rt.block_on(async move {
        let db = reelforge::db::Db::connect(&cfg.database_url)
            .await
            .map_err(|e| CliError::BadInput(format!("{e}.")))?;
        f(cfg, db).await
    })
}

fn profit(
    pricing: Option<PathBuf>,
    kzt_per_usd: Option<f64>,
    config: Option<PathBuf>,
) -> Result<(), CliError> {
    let _ = dotenvy::dotenv();
    let cfg = Config::load(
        config.as_deref(),
        |k| std::env::var(k).ok(),
        Layer::default(),
    )
    .map_err(|e| CliError::BadInput(format!("{e}.")))?;
    let path = pricing.or(cfg.pricing_file.map(PathBuf::from));
    let mut table =
        PriceTable::load(path.as_deref()).map_err(|e| CliError::BadInput(format!("{e}.")))?;
    if let Some(rate) = kzt_per_usd {
        if rate.is_nan() || rate <= 0.0 {
            return Err(CliError::BadInput("--kzt-per-usd must be positive.".into()));
        }
        table.kzt_per_usd = rate;
    }
    println!("provider costs at {:.1} ₸ per USD", table.kzt_per_usd);
    println!(
        "{:<28} {:>10} {:>10} {:>8}",
        "product", "price ₸", "cost ₸", "margin"
    );
    for r in table.profit_rows() {
        println!(
            "{:<28} {:>10} {:>10.0} {:>7.1}%",
            r.product, r.price_tokens, r.cost_kzt, r.margin_percent
        );
    }
    // Each fallback-chain entry (the other steps by their chain's first entry).
    let chains = reelforge::pricing::EntryChains::from_config(&cfg.chains);
    println!("by chain entry (TTS_CHAIN, TALKING_HEAD_CHAIN, IMAGE_EDIT_CHAIN):");
    for r in table.entry_rows(&chains) {
        println!(
            "  {:<58} {:>8} {:>8.0} {:>7.1}%",
            r.product, r.price_tokens, r.cost_kzt, r.margin_percent
        );
    }
    let unpriced: Vec<&String> = chains
        .tts
        .iter()
        .chain(&chains.talking_head)
        .chain(&chains.image_edit)
        .filter(|e| e.as_str() != "local" && !table.providers.iter().any(|c| &c.entry == *e))
        .collect();
    if !unpriced.is_empty() {
        println!(
            "no cost in the pricing table (counted as free; ALLOW_LOSS_FALLBACK cannot judge them): {}",
            unpriced.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    println!("packs:");
    for p in &table.packs {
        println!(
            "  {:>6} tokens for {:>6} ₸  (−{} %)",
            p.tokens,
            p.price_kzt,
            p.discount_percent()
        );
    }
    Ok(())
}

/// The provider health report, or a line saying no provider was called yet.
async fn providers_text(db: &reelforge::db::Db) -> Result<String, reelforge::db::DbError> {
    let lines = reelforge::admin::provider_report(db).await?;
    Ok(if lines.is_empty() {
        "no provider calls recorded yet".to_string()
    } else {
        lines.join("\n")
    })
}
