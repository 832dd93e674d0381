//! Events (`evt_…`), the API's record of every change, as listed and sent to webhooks.

use serde_json::{Value, json};

use super::API_VERSION;

#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub event_type: String,
    pub created: i64,
    pub object: Value,
    pub previous_attributes: Option<Value>,
}

impl Event {
    pub fn render(&self) -> Value {
        let mut data = json!({"object": self.object});
        if let Some(previous) = &self.previous_attributes {
            data["previous_attributes"] = previous.clone();
        }
        json!({
            "id": self.id, "object": "event", "api_version": API_VERSION, "context": null, "created": self.created, "data": data,
            "livemode": false, "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null}, "type": self.event_type
        })
    }
}
