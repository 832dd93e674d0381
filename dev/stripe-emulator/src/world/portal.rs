//! Billing Portal sessions.

use super::*;

impl World {
    pub fn create_portal_session(&mut self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["customer", "return_url", "flow_data", "configuration", "locale"])?;
        let customer = params.required_str("customer")?.to_owned();
        self.live_customer(&customer, "customer")?;
        let flow = params.str("flow_data.type")?.map(str::to_owned);
        if let Some(flow) = &flow
            && !matches!(
                flow.as_str(),
                "payment_method_update" | "subscription_cancel" | "subscription_update" | "subscription_update_confirm"
            )
        {
            return Err(StripeError::invalid("flow_data[type]", format!("Invalid flow type `{flow}`.")));
        }
        if flow.as_deref() == Some("subscription_cancel") {
            let sub = params.required_str("flow_data.subscription_cancel.subscription")?;
            self.subscription_of(sub, "flow_data[subscription_cancel][subscription]")?;
        }
        let return_url = params.str("return_url")?.map(str::to_owned);
        let id = new_id("bps");
        let session = PortalSession {
            url: format!("{}/portal/{id}", self.settings.public_url),
            id: id.clone(),
            customer,
            return_url,
            flow,
            created: self.now(),
        };
        let rendered = session.render();
        self.portal_sessions.insert(id.clone(), session);
        self.track(&id);
        Ok(rendered)
    }
}
