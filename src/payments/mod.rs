//! Payments: Stripe Checkout (cards, KZT) credited by a verified webhook exactly once, and
//! Kaspi (the `pay.kaspi` text, then an admin top-up). Orders keep their state: pending → paid;
//! their rows live in `db::orders`.
pub mod pages;
pub mod stripe;

pub use crate::db::orders::*;
