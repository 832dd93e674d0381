//! Stripe webhook primitives: signatures (`Stripe-Signature`) and tolerant event envelopes.

pub mod signature;
