//! The Telegram side, in parts that need no network: texts in the user's language and the
//! conversation state kept in the database.
pub mod deliver;
pub mod dialogue;
pub mod progress;
pub mod run;
pub mod texts;
