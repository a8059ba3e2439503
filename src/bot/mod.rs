//! The Telegram bot: routing (`handlers`), the flows (text/image-to-video, product cards,
//! UGC), payments, admin commands, the progress message per job, delivery with `sendVideo`,
//! texts in the user's language and the conversation state kept in the database.
pub mod account;
pub mod admin_cmds;
pub mod api_keys;
pub mod app;
pub mod brand;
pub mod callback;
pub mod characters;
pub mod commands;
pub mod deliver;
pub mod dialogue;
pub mod error;
pub mod handlers;
pub mod history;
pub mod pay;
pub mod product_flow;
pub mod progress;
pub mod rate_limit;
pub mod remake;
pub mod run;
pub mod shop;
pub mod texts;
pub mod ugc;
pub mod uploads;
pub mod video_flow;
