//! The durable job queue: the jobs table (claim, lease, fencing, retries, refunds — in
//! `db::jobs`, the only place with its SQL) and the worker loop that runs the pipelines.
pub mod worker;

pub use crate::db::jobs::*;
