//! Billing Portal sessions.

use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct PortalSession {
    pub id: String,
    pub customer: String,
    pub return_url: Option<String>,
    pub flow: Option<String>,
    pub url: String,
    pub created: i64,
}

impl PortalSession {
    pub fn render(&self) -> Value {
        json!({
            "id": self.id, "object": "billing_portal.session", "configuration": "bpc_emulator_default", "created": self.created,
            "customer": self.customer, "flow": self.flow.as_ref().map(|f| json!({"type": f, "after_completion": {"type": "portal_homepage", "hosted_confirmation": null, "redirect": null}})),
            "livemode": false, "locale": null, "on_behalf_of": null, "return_url": self.return_url, "url": self.url
        })
    }
}
