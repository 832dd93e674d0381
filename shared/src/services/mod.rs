//! Services: what the functions do with the adapters, written once.
//!
//! - [`sync`] — the sync engine, the one path by which Stripe state reaches the table
//! - [`gate`] — "may this user use this feature?" for any Rust Lambda

pub mod gate;
pub mod sync;
