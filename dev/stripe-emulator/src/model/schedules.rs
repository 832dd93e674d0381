//! Subscription schedules and their phases.

use serde_json::{Value, json};

use super::{LineItem, Metadata};

/// One phase of a subscription schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulePhase {
    pub start_date: i64,
    pub end_date: i64,
    pub items: Vec<LineItem>,
    pub proration_behavior: String,
    pub metadata: Metadata,
    pub currency: String,
    /// The phase is a trial until then (`None`: no trial: entering it ends a running trial).
    pub trial_end: Option<i64>,
    /// `(coupon | discount | promotion_code, id)`, kept and rendered as given.
    pub discounts: Vec<(String, String)>,
    pub default_tax_rates: Vec<String>,
    pub default_payment_method: Option<String>,
    pub collection_method: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SubscriptionSchedule {
    pub id: String,
    pub customer: String,
    pub subscription: Option<String>,
    /// `not_started`, `active`, `completed`, `released`, `canceled`.
    pub status: String,
    pub end_behavior: String,
    pub phases: Vec<SchedulePhase>,
    /// Index of the phase in effect while active.
    pub current: usize,
    pub metadata: Metadata,
    pub created: i64,
    pub canceled_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub released_at: Option<i64>,
    pub released_subscription: Option<String>,
}

impl SubscriptionSchedule {
    pub fn render(&self) -> Value {
        let phases: Vec<Value> = self
            .phases
            .iter()
            .map(|phase| {
                let items: Vec<Value> = phase
                    .items
                    .iter()
                    .map(|item| {
                        let mut rendered = json!({
                            "billing_thresholds": null, "discounts": [], "metadata": {}, "plan": item.price, "price": item.price,
                            "quantity": item.quantity, "tax_rates": []
                        });
                        // A metered price's item has no quantity.
                        if item.quantity == 0 {
                            rendered.as_object_mut().expect("an object").remove("quantity");
                        }
                        rendered
                    })
                    .collect();
                json!({
                    "add_invoice_items": [], "application_fee_percent": null, "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null},
                    "billing_cycle_anchor": null, "billing_thresholds": null, "collection_method": phase.collection_method, "currency": phase.currency,
                    "default_payment_method": phase.default_payment_method, "default_tax_rates": phase.default_tax_rates.iter().map(|id| json!({"id": id, "object": "tax_rate"})).collect::<Vec<_>>(),
                    "description": null,
                    "discounts": phase.discounts.iter().map(|(kind, id)| {
                        let mut d = json!({"coupon": null, "discount": null, "promotion_code": null});
                        d[kind.as_str()] = id.as_str().into();
                        d
                    }).collect::<Vec<_>>(),
                    "end_date": phase.end_date, "invoice_settings": null, "items": items, "metadata": phase.metadata,
                    "on_behalf_of": null, "proration_behavior": phase.proration_behavior, "start_date": phase.start_date,
                    "transfer_data": null, "trial_end": phase.trial_end
                })
            })
            .collect();
        let current_phase = (self.status == "active")
            .then(|| self.phases.get(self.current))
            .flatten()
            .map(|p| json!({"end_date": p.end_date, "start_date": p.start_date}));
        json!({
            "id": self.id, "object": "subscription_schedule", "application": null,
            "billing_mode": {"flexible": null, "type": "classic", "updated_at": null},
            "canceled_at": self.canceled_at, "completed_at": self.completed_at, "created": self.created,
            "current_phase": current_phase, "customer": self.customer, "customer_account": null,
            "default_settings": {
                "application_fee_percent": null, "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null},
                "billing_cycle_anchor": "automatic", "billing_thresholds": null, "collection_method": "charge_automatically",
                "default_payment_method": null, "description": null,
                "invoice_settings": {"account_tax_ids": null, "custom_fields": null, "days_until_due": null, "description": null, "footer": null, "issuer": {"type": "self"}},
                "on_behalf_of": null, "transfer_data": null
            },
            "end_behavior": self.end_behavior, "livemode": false, "metadata": self.metadata, "pause_schedules": [], "phases": phases,
            "released_at": self.released_at, "released_subscription": self.released_subscription, "status": self.status,
            "subscription": self.subscription, "test_clock": null
        })
    }
}
