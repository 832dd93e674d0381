//! All integration tests compile into one binary; `helpers` starts what they need.

mod authorizer;
mod checkout;
mod checkout_options;
mod emulator;
mod emulator_billing;
mod emulator_meters;
mod emulator_retention;
mod entitlements;
mod events;
mod events_input;
mod hardening;
mod helpers;
mod openapi;
mod organizations;
mod reconcile;
mod reporter_queue;
mod retention;
mod revenue;
mod store;
mod subscription;
mod support;
mod sync;
mod template;
mod usage;
mod webhook;
