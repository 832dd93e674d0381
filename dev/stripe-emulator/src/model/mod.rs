//! The emulator's objects and their Stripe JSON shapes (API version
//! [`API_VERSION`], the one async-stripe pins). Every shape is checked by tests that
//! deserialize it with async-stripe's own types.
//!
//! One file per object family, all re-exported here: `crate::model::Invoice` and the like.

mod catalog;
mod checkout;
mod customers;
mod discounts;
mod entitlements;
mod events;
mod invoices;
mod meters;
mod payments;
mod portal;
mod schedules;
mod subscriptions;
mod test_clocks;

use std::collections::BTreeMap;

use serde_json::{Value, json};

pub use catalog::{Price, Product};
pub use checkout::{CheckoutSession, LineItem};
pub use customers::Customer;
pub use discounts::{COUPON_DURATIONS, Coupon, Discount, PromotionCode};
pub use entitlements::{ActiveEntitlement, Feature, SUMMARY_EMBED_LIMIT};
pub use events::Event;
pub use invoices::{Invoice, InvoiceItem, InvoiceLine};
pub use meters::{Meter, MeterEvent};
pub use payments::{Card, CardOutcome, Charge, Dispute, PaymentMethod, Refund, classify_card};
pub use portal::PortalSession;
pub use schedules::{SchedulePhase, SubscriptionSchedule};
pub use subscriptions::{CANCELLATION_FEEDBACK, PAUSE_BEHAVIORS, PauseCollection, Subscription, SubscriptionItem};
pub use test_clocks::{TEST_CLOCK_LIFETIME, TestClock};

/// The API version async-stripe 1.0.0-rc.10 pins and sends.
pub const API_VERSION: &str = "2026-09-30.endive";

pub type Metadata = BTreeMap<String, String>;

pub const DAY: i64 = 86_400;

/// A list envelope as Stripe renders it.
pub fn list(url: &str, data: Vec<Value>, has_more: bool) -> Value {
    json!({"object": "list", "data": data, "has_more": has_more, "url": url})
}
