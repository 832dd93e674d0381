//! Stripe webhook primitives: signatures (`Stripe-Signature`) and tolerant event envelopes.

pub mod envelope;
pub mod local;
pub mod signature;
