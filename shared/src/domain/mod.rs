//! The domain: what the service knows about plans, stored records, ordering and access. Pure:
//! no I/O, no clients; everything above builds on it.
//!
//! - [`plans`] — the plans catalog
//! - [`records`] — key names and the typed records of the single table
//! - [`version`] — the ordering rule of stored Stripe state
//! - [`objects`] — Stripe objects as the service reads them (tolerant of API versions), the
//!   rules that read them, and the records they become
//! - [`status`] — the status of a stored subscription
//! - [`ids`] — Stripe ids, each kind with its one check
//! - `stripe_wire` — the private serde shapes through which Stripe's JSON is read
//! - [`schedules`] — Subscription Schedules and the change they will make
//! - [`invoices`] — invoices and previews as the service shows them
//! - [`event`] — the tolerant envelope of a Stripe event
//! - [`events`] — the domain events this service publishes, and which changes make them
//! - [`access`] — who may use what, decided from the records
//! - [`usage`] — usage periods and what a user may count
//! - [`routes`] — which feature a route of the team's own API needs
//! - [`custom_amount`] — amounts a client chooses within the catalog's bounds
//! - [`address`] — billing addresses and ISO 3166-1 countries
//! - [`clock`] — injectable time

pub mod access;
pub mod address;
pub mod billable;
pub mod clock;
pub mod custom_amount;
pub mod discounts;
pub mod event;
pub mod events;
pub mod grant_records;
pub mod grants;
pub mod ids;
pub mod invoices;
pub mod objects;
pub mod pause;
pub mod plans;
pub mod records;
pub mod routes;
pub mod schedules;
pub mod seat_records;
pub mod seats;
pub mod status;
pub(crate) mod stripe_wire;
pub mod usage;
pub mod version;
