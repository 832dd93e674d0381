#![recursion_limit = "256"]
//! A stateful Stripe emulator for local runs and tests. See `docs/emulator.md`
//! for the endpoints, test cards and controls.

pub mod error;
pub mod form;
pub mod ids;
pub mod model;
pub mod pages;
pub mod params;
pub mod server;
pub mod shared;
pub mod webhooks;
pub mod world;

pub use server::{Emulator, start};
pub use world::{Settings, World};
