//! The billing audit (`./dev/audit.sh`): random customer histories against the real functions
//! (through `cargo lambda watch`) and the Stripe emulator, checked against the money invariants
//! after every simulated day.
//!
//! - [`driver`] — the days: chaos, operations, the clock, the scheduled functions, the checks
//! - [`actions`] — what a customer does (checkout, changes, cancels, usage, refunds, disputes)
//! - [`observe`] — one look at a customer: Stripe, the table, the API's access answer
//! - [`invariants`] — the invariants I1–I4, pure
//! - [`events`] — I5: the domain events read back from the bus, judged against the table
//! - [`retention`] — pause, promotion codes, support grants (through the admin function)
//! - [`seats`] — organizations: seat operations, and I6 (members' access follows paid seats)
//! - [`model`] — what the audit knows of a customer
//! - [`client`] — the ways into the stack
//! - [`rng`] — the seeded generator

pub mod actions;
pub mod client;
pub mod driver;
pub mod events;
pub mod invariants;
pub mod model;
pub mod observe;
pub mod retention;
pub mod rng;
pub mod seats;
