//! The worker runtime that runs the pipelines over the durable job queue (the jobs table:
//! claim, lease, fencing, retries, refunds — in `db::jobs`, the only place with its SQL).
pub mod worker;
