//! The shapes: only the fields the service reads, named as Stripe names them.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{AnyId, Expandable, HasId, List, each, elements, loose, object, object_map, present, present_object, strings};

/// `subscription`. Older API versions keep the period on the subscription; newer ones on each
/// item.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Subscription {
    #[serde(deserialize_with = "loose")]
    pub(crate) object: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) id: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) customer: Option<AnyId>,
    #[serde(deserialize_with = "loose")]
    pub(crate) status: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) currency: Option<String>,
    #[serde(deserialize_with = "object")]
    pub(crate) items: List<SubscriptionItem>,
    #[serde(deserialize_with = "loose")]
    pub(crate) current_period_start: Option<i64>,
    #[serde(deserialize_with = "loose")]
    pub(crate) current_period_end: Option<i64>,
    #[serde(deserialize_with = "loose")]
    pub(crate) cancel_at_period_end: Option<bool>,
    #[serde(deserialize_with = "loose")]
    pub(crate) cancel_at: Option<i64>,
    #[serde(deserialize_with = "loose")]
    pub(crate) trial_end: Option<i64>,
    #[serde(deserialize_with = "strings")]
    pub(crate) metadata: BTreeMap<String, String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) schedule: Option<AnyId>,
    #[serde(deserialize_with = "loose")]
    pub(crate) default_payment_method: Option<AnyId>,
    #[serde(deserialize_with = "loose")]
    pub(crate) pause_collection: Option<PauseCollection>,
    #[serde(deserialize_with = "loose")]
    pub(crate) billing_cycle_anchor: Option<i64>,
    #[serde(deserialize_with = "loose")]
    pub(crate) trial_settings: Option<TrialSettings>,
}

/// A subscription's `pause_collection`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PauseCollection {
    #[serde(deserialize_with = "loose")]
    pub(crate) behavior: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) resumes_at: Option<i64>,
}

/// A subscription's `trial_settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TrialSettings {
    #[serde(deserialize_with = "loose")]
    pub(crate) end_behavior: Option<TrialEndBehavior>,
}

/// `trial_settings.end_behavior`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TrialEndBehavior {
    #[serde(deserialize_with = "loose")]
    pub(crate) missing_payment_method: Option<String>,
}

/// `subscription_item`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SubscriptionItem {
    #[serde(deserialize_with = "loose")]
    pub(crate) id: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) price: Option<Expandable<Price>>,
    #[serde(deserialize_with = "loose")]
    pub(crate) quantity: Option<u64>,
    #[serde(deserialize_with = "loose")]
    pub(crate) current_period_start: Option<i64>,
    #[serde(deserialize_with = "loose")]
    pub(crate) current_period_end: Option<i64>,
}

/// `price`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Price {
    #[serde(deserialize_with = "loose")]
    pub(crate) id: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) lookup_key: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) unit_amount: Option<i64>,
    #[serde(deserialize_with = "loose")]
    pub(crate) currency: Option<String>,
    #[serde(deserialize_with = "object")]
    pub(crate) recurring: Recurring,
    /// Expanded only on request (`currency_options`).
    #[serde(deserialize_with = "object_map")]
    pub(crate) currency_options: BTreeMap<String, CurrencyOption>,
}

impl HasId for Price {
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

/// `price.recurring`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Recurring {
    #[serde(deserialize_with = "loose")]
    pub(crate) interval: Option<String>,
    /// `licensed` or `metered`.
    #[serde(deserialize_with = "loose")]
    pub(crate) usage_type: Option<String>,
}

/// `price.currency_options.<currency>`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CurrencyOption {
    #[serde(deserialize_with = "loose")]
    pub(crate) unit_amount: Option<i64>,
}

/// `checkout.session`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CheckoutSession {
    #[serde(deserialize_with = "loose")]
    pub(crate) object: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) id: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) status: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) payment_status: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) mode: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) customer: Option<AnyId>,
    #[serde(deserialize_with = "object")]
    pub(crate) customer_details: CustomerDetails,
    /// The email given when the session was created (older sessions keep the buyer's here).
    #[serde(deserialize_with = "loose")]
    pub(crate) customer_email: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) subscription: Option<AnyId>,
    #[serde(deserialize_with = "strings")]
    pub(crate) metadata: BTreeMap<String, String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) url: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) created: Option<i64>,
}

/// `checkout.session.customer_details`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CustomerDetails {
    #[serde(deserialize_with = "loose")]
    pub(crate) email: Option<String>,
}

/// `customer`, or a deleted customer's stub (`deleted: true`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Customer {
    #[serde(deserialize_with = "loose")]
    pub(crate) object: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) id: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) email: Option<String>,
    #[serde(deserialize_with = "strings")]
    pub(crate) metadata: BTreeMap<String, String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) deleted: Option<bool>,
    #[serde(deserialize_with = "loose")]
    pub(crate) invoice_settings: Option<InvoiceSettings>,
}

/// A customer's `invoice_settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct InvoiceSettings {
    #[serde(deserialize_with = "loose")]
    pub(crate) default_payment_method: Option<AnyId>,
}

/// `charge`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Charge {
    #[serde(deserialize_with = "loose")]
    pub(crate) object: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) id: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) payment_intent: Option<AnyId>,
    #[serde(deserialize_with = "loose")]
    pub(crate) amount: Option<i64>,
    #[serde(deserialize_with = "loose")]
    pub(crate) amount_refunded: Option<i64>,
    #[serde(deserialize_with = "loose")]
    pub(crate) refunded: Option<bool>,
    #[serde(deserialize_with = "loose")]
    pub(crate) disputed: Option<bool>,
}

/// `dispute`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Dispute {
    #[serde(deserialize_with = "loose")]
    pub(crate) object: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) id: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) charge: Option<AnyId>,
    #[serde(deserialize_with = "loose")]
    pub(crate) payment_intent: Option<AnyId>,
    #[serde(deserialize_with = "loose")]
    pub(crate) status: Option<String>,
}

/// `entitlements.active_entitlement_summary`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct EntitlementSummary {
    #[serde(deserialize_with = "loose")]
    pub(crate) customer: Option<AnyId>,
    #[serde(deserialize_with = "object")]
    pub(crate) entitlements: List<Entitlement>,
}

/// `entitlements.active_entitlement` (also the elements of the active entitlements list).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Entitlement {
    #[serde(deserialize_with = "loose")]
    pub(crate) id: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) lookup_key: Option<String>,
}

/// `invoice`: as listed, as previewed, and as an event names its subscription.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Invoice {
    #[serde(deserialize_with = "loose")]
    pub(crate) id: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) number: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) status: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) currency: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) amount_due: Option<i64>,
    #[serde(deserialize_with = "loose")]
    pub(crate) amount_paid: Option<i64>,
    #[serde(deserialize_with = "loose")]
    pub(crate) created: Option<i64>,
    #[serde(deserialize_with = "loose")]
    pub(crate) period_start: Option<i64>,
    #[serde(deserialize_with = "loose")]
    pub(crate) period_end: Option<i64>,
    #[serde(deserialize_with = "loose")]
    pub(crate) next_payment_attempt: Option<i64>,
    #[serde(deserialize_with = "loose")]
    pub(crate) attempt_count: Option<u64>,
    #[serde(deserialize_with = "loose")]
    pub(crate) hosted_invoice_url: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) invoice_pdf: Option<String>,
    #[serde(deserialize_with = "object")]
    pub(crate) lines: List<InvoiceLine>,
    #[serde(deserialize_with = "loose")]
    pub(crate) customer: Option<AnyId>,
    /// Older API versions.
    #[serde(deserialize_with = "loose")]
    pub(crate) subscription: Option<AnyId>,
    /// Older API versions; newer ones under `parent`.
    #[serde(default, deserialize_with = "present_object")]
    pub(crate) subscription_details: Option<SubscriptionDetails>,
    #[serde(deserialize_with = "object")]
    pub(crate) parent: InvoiceParent,
}

/// `invoice.parent` (API versions since 2025).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct InvoiceParent {
    #[serde(default, deserialize_with = "present_object")]
    pub(crate) subscription_details: Option<SubscriptionDetails>,
}

/// `invoice.parent.subscription_details` (formerly `invoice.subscription_details`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SubscriptionDetails {
    #[serde(deserialize_with = "loose")]
    pub(crate) subscription: Option<AnyId>,
    /// The subscription's metadata when the invoice was made.
    #[serde(deserialize_with = "strings")]
    pub(crate) metadata: BTreeMap<String, String>,
}

/// `line_item` of an invoice.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct InvoiceLine {
    #[serde(deserialize_with = "loose")]
    pub(crate) description: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) amount: Option<i64>,
    #[serde(deserialize_with = "loose")]
    pub(crate) quantity: Option<u64>,
    #[serde(deserialize_with = "object")]
    pub(crate) period: LinePeriod,
    /// Older API versions; newer ones under `parent`.
    #[serde(deserialize_with = "loose")]
    pub(crate) proration: Option<bool>,
    #[serde(deserialize_with = "object")]
    pub(crate) parent: LineParent,
    /// Older API versions; newer ones under `pricing.price_details`.
    #[serde(deserialize_with = "loose")]
    pub(crate) price: Option<AnyId>,
    #[serde(deserialize_with = "object")]
    pub(crate) pricing: LinePricing,
}

/// `line_item.period`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LinePeriod {
    #[serde(deserialize_with = "loose")]
    pub(crate) start: Option<i64>,
    #[serde(deserialize_with = "loose")]
    pub(crate) end: Option<i64>,
}

/// `line_item.parent`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LineParent {
    #[serde(deserialize_with = "object")]
    pub(crate) subscription_item_details: LineDetails,
    #[serde(deserialize_with = "object")]
    pub(crate) invoice_item_details: LineDetails,
}

/// `line_item.parent.{subscription_item,invoice_item}_details`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LineDetails {
    #[serde(deserialize_with = "loose")]
    pub(crate) proration: Option<bool>,
}

/// `line_item.pricing`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LinePricing {
    #[serde(deserialize_with = "object")]
    pub(crate) price_details: PriceDetails,
}

/// `line_item.pricing.price_details`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PriceDetails {
    /// `Some` whenever the field is there, even `null`.
    #[serde(default, deserialize_with = "present")]
    pub(crate) price: Option<Option<AnyId>>,
}

/// `subscription_schedule`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Schedule {
    #[serde(deserialize_with = "loose")]
    pub(crate) object: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) id: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) customer: Option<AnyId>,
    #[serde(deserialize_with = "loose")]
    pub(crate) subscription: Option<AnyId>,
    #[serde(deserialize_with = "loose")]
    pub(crate) status: Option<String>,
    #[serde(deserialize_with = "object")]
    pub(crate) current_phase: CurrentPhase,
    #[serde(deserialize_with = "elements")]
    pub(crate) phases: Option<Vec<Phase>>,
    #[serde(deserialize_with = "strings")]
    pub(crate) metadata: BTreeMap<String, String>,
}

/// `subscription_schedule.current_phase`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CurrentPhase {
    #[serde(deserialize_with = "loose")]
    pub(crate) start_date: Option<i64>,
    #[serde(deserialize_with = "loose")]
    pub(crate) end_date: Option<i64>,
}

/// `subscription_schedule.phases[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Phase {
    #[serde(deserialize_with = "loose")]
    pub(crate) start_date: Option<i64>,
    #[serde(deserialize_with = "loose")]
    pub(crate) end_date: Option<i64>,
    #[serde(deserialize_with = "elements")]
    pub(crate) items: Option<Vec<PhaseItem>>,
    #[serde(deserialize_with = "loose")]
    pub(crate) trial_end: Option<i64>,
    #[serde(deserialize_with = "elements")]
    pub(crate) discounts: Option<Vec<PhaseDiscount>>,
    #[serde(deserialize_with = "each")]
    pub(crate) default_tax_rates: Option<Vec<Option<AnyId>>>,
    #[serde(deserialize_with = "loose")]
    pub(crate) default_payment_method: Option<AnyId>,
    #[serde(deserialize_with = "loose")]
    pub(crate) collection_method: Option<String>,
    #[serde(deserialize_with = "strings")]
    pub(crate) metadata: BTreeMap<String, String>,
}

/// `subscription_schedule.phases[].items[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PhaseItem {
    #[serde(deserialize_with = "loose")]
    pub(crate) price: Option<AnyId>,
    #[serde(deserialize_with = "loose")]
    pub(crate) quantity: Option<u64>,
}

/// `subscription_schedule.phases[].discounts[]`: one of the three.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PhaseDiscount {
    #[serde(deserialize_with = "loose")]
    pub(crate) coupon: Option<AnyId>,
    #[serde(deserialize_with = "loose")]
    pub(crate) discount: Option<AnyId>,
    #[serde(deserialize_with = "loose")]
    pub(crate) promotion_code: Option<AnyId>,
}

/// `billing.meter`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Meter {
    #[serde(deserialize_with = "loose")]
    pub(crate) id: Option<String>,
    #[serde(deserialize_with = "loose")]
    pub(crate) event_name: Option<String>,
}

/// `billing.meter_event_summary`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MeterEventSummary {
    /// A whole number, or a decimal one.
    #[serde(deserialize_with = "loose")]
    pub(crate) aggregated_value: Option<serde_json::Number>,
}

/// `billing_portal.session`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PortalSession {
    #[serde(deserialize_with = "loose")]
    pub(crate) url: Option<String>,
}
