//! The reelforge service: configuration, the typed job contract (`jobs`), the database (`db`,
//! the only place with SQL: users, ledger, jobs, orders, …), pricing, providers, pipelines,
//! storage, the Telegram bot, payments, the HTTP side, logs and metrics. The media work lives
//! in the `media` crate; the command line in `main.rs` and `cli/`.
pub mod admin;
pub mod api;
pub mod bot;
pub mod config;
pub mod console;
pub mod dates;
pub mod db;
pub mod egress;
pub mod failure;
pub mod http;
pub mod jobs;
pub mod logging;
pub mod metrics;
pub mod miniapp;
pub mod orders;
pub mod payments;
pub mod pipelines;
pub mod pricing;
pub mod products;
pub mod providers;
pub mod queue;
pub mod storage;
