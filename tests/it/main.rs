//! One integration-test binary (the crate links once): end-to-end tests across real
//! components, grouped by what they exercise. Shared helpers: `common` (media fixtures and
//! the CLI), `dbs` (SQLite and PostgreSQL), `fake_tg` (a fake Bot API), `harness` (workers).
mod common;
mod dbs;
mod fake_tg;
mod harness;

mod account;
mod admin;
mod api;
mod bad_input;
mod bot;
mod bot_admin;
mod bot_flows;
mod chaos;
mod compose;
mod console;
mod deliverable;
mod delivery;
mod demo;
mod dialogue;
mod edits;
mod face_tracking;
mod faults;
mod fit_image;
mod gallery;
mod generate;
mod hostile_bot;
mod hostile_input;
mod http_payments;
mod layout_preview;
mod ledger;
mod orders;
mod phone_inputs;
mod pipelines;
mod product;
mod provider_chains;
mod providers;
mod providers_fal;
mod queue;
mod storage;
mod topology;
mod ugc_chain;
mod ugc_remote;
mod webdriver;
mod worker_cli;
