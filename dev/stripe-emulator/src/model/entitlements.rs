//! Entitlement features (attached to products) and the active entitlements a customer's
//! subscriptions grant.

use serde_json::{Value, json};

/// Entitlements embedded in a summary event before `has_more`.
pub const SUMMARY_EMBED_LIMIT: usize = 10;

#[derive(Debug, Clone)]
pub struct Feature {
    pub id: String,
    pub lookup_key: String,
    pub name: String,
}

impl Feature {
    pub fn render(&self) -> Value {
        json!({"id": self.id, "object": "entitlements.feature", "active": true, "livemode": false, "lookup_key": self.lookup_key, "metadata": {}, "name": self.name})
    }
}

#[derive(Debug, Clone)]
pub struct ActiveEntitlement {
    pub id: String,
    pub feature: String,
    pub lookup_key: String,
}

impl ActiveEntitlement {
    pub fn render(&self) -> Value {
        json!({"id": self.id, "object": "entitlements.active_entitlement", "feature": self.feature, "livemode": false, "lookup_key": self.lookup_key})
    }
}
