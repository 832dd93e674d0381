//! Billing meters and the meter events they aggregate.

use serde_json::{Value, json};

use super::Metadata;

/// A Billing Meter (`billing.meter`, `mtr_test_…`): how meter events with its `event_name` are
/// mapped to a customer and aggregated.
#[derive(Debug, Clone)]
pub struct Meter {
    pub id: String,
    pub display_name: String,
    pub event_name: String,
    /// `sum`, `count` or `last`.
    pub formula: String,
    /// The payload key naming the customer (`stripe_customer_id`), mapped `by_id`.
    pub customer_key: String,
    /// The payload key holding the value (`value`).
    pub value_key: String,
    /// Pre-aggregated events (`day`, `hour`): the last event received in each window counts.
    pub event_time_window: Option<String>,
    /// `active` or `inactive`.
    pub status: String,
    pub deactivated_at: Option<i64>,
    pub created: i64,
    pub updated: i64,
}

impl Meter {
    pub fn render(&self) -> Value {
        json!({
            "id": self.id, "object": "billing.meter", "created": self.created,
            "customer_mapping": {"event_payload_key": self.customer_key, "type": "by_id"},
            "default_aggregation": {"formula": self.formula}, "display_name": self.display_name, "event_name": self.event_name,
            "event_time_window": self.event_time_window, "livemode": false, "status": self.status,
            "status_transitions": {"deactivated_at": self.deactivated_at}, "updated": self.updated,
            "value_settings": {"event_payload_key": self.value_key}
        })
    }
}

/// A recorded meter event (`billing.meter_event`), kept with what the meter read from it.
#[derive(Debug, Clone)]
pub struct MeterEvent {
    pub identifier: String,
    pub event_name: String,
    pub payload: Metadata,
    pub timestamp: i64,
    pub created: i64,
    /// The meter that counts it, the customer it maps to and its value (a whole number, possibly
    /// negative; 0 when the meter counts events).
    pub meter: String,
    pub customer: String,
    pub value: i64,
    /// Order of arrival (the `last` formula and pre-aggregated windows keep the latest).
    pub seq: u64,
}

impl MeterEvent {
    pub fn render(&self) -> Value {
        json!({
            "object": "billing.meter_event", "created": self.created, "event_name": self.event_name,
            "identifier": self.identifier, "livemode": false, "payload": self.payload, "timestamp": self.timestamp
        })
    }
}
