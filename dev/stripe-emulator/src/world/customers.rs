//! Customers: create, retrieve, list, delete.

use super::*;

impl World {
    pub fn create_customer(&mut self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["email", "name", "metadata", "description", "phone", "test_clock"])?;
        let email = params.str("email")?.map(str::to_owned);
        if let Some(email) = &email
            && !email.contains('@')
        {
            return Err(StripeError::invalid("email", "Invalid email address."));
        }
        let clock = self.test_clock_param(params)?;
        let (name, metadata) = (params.str("name")?.map(str::to_owned), params.metadata("metadata")?);
        let customer = self.with_scope(clock, |world| world.new_customer(email, name, metadata));
        Ok(self.customers[&customer].render())
    }

    /// A new customer, on the test clock in scope (if any).
    pub(super) fn new_customer(&mut self, email: Option<String>, name: Option<String>, metadata: Metadata) -> String {
        let id = new_id("cus");
        let customer = Customer {
            id: id.clone(),
            email,
            name,
            metadata,
            created: self.now(),
            deleted: false,
            balance: 0,
            invoice_prefix: id[4..12].to_uppercase(),
            next_invoice_sequence: 1,
            address: None,
            default_payment_method: None,
            test_clock: self.scope.clone(),
        };
        self.emit("customer.created", customer.render(), None);
        self.customers.insert(id.clone(), customer);
        self.track(&id);
        id
    }

    pub fn customer(&self, id: &str) -> Result<&Customer, StripeError> {
        self.customers.get(id).ok_or_else(|| StripeError::no_such("customer", id, "id"))
    }

    pub(super) fn live_customer(&self, id: &str, param: &str) -> Result<&Customer, StripeError> {
        self.customers
            .get(id)
            .filter(|c| !c.deleted)
            .ok_or_else(|| missing("customer", id, param))
    }

    pub fn list_customers(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["email", "limit", "starting_after", "created", "test_clock"])?;
        let email = params.str("email")?;
        let clock = params.str("test_clock")?;
        let ids = self.newest_first(self.customers.keys());
        let items = ids
            .iter()
            .map(|id| &self.customers[id])
            .filter(|c| !c.deleted && (email.is_none() || c.email.as_deref() == email))
            .filter(|c| clock.is_none() || c.test_clock.as_deref() == clock)
            .map(|c| (c.id.clone(), c.render()))
            .collect();
        let (data, has_more) = paginate(items, params.str("starting_after")?, params.limit()?)?;
        Ok(list("/v1/customers", data, has_more))
    }

    /// `POST /v1/customers/{id}`: `address[…]`, `email`, `name`, `metadata`,
    /// `invoice_settings[default_payment_method]` (a payment method attached to the customer).
    pub fn update_customer(&mut self, id: &str, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["address", "email", "name", "metadata", "invoice_settings", "expand"])?;
        self.live_customer(id, "id")?;
        let default_method = match params.str("invoice_settings.default_payment_method")? {
            None => None,
            Some(method) => Some(self.attached_method(method, id, "invoice_settings[default_payment_method]")?),
        };
        let address = if params.value("address").is_some() {
            let field = |name: &str| {
                params
                    .str(&format!("address.{name}"))
                    .map(|v| v.filter(|v| !v.is_empty()).map(str::to_owned))
            };
            let country = field("country")?;
            if let Some(country) = &country
                && !(country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase()))
            {
                return Err(StripeError::invalid(
                    "address[country]",
                    format!(
                        "Country '{country}' is unknown. Try using a 2-character alphanumeric country code instead, such as 'US', 'EG', or 'GB'."
                    ),
                ));
            }
            Some(json!({
                "city": field("city")?, "country": country, "line1": field("line1")?, "line2": field("line2")?,
                "postal_code": field("postal_code")?, "state": field("state")?
            }))
        } else {
            None
        };
        let email = params.str("email")?.map(str::to_owned);
        let name = params.str("name")?.map(str::to_owned);
        let metadata = params.metadata("metadata")?;
        let customer = self.customers.get_mut(id).expect("checked above");
        let previous = customer.render();
        if let Some(address) = address {
            customer.address = Some(address);
        }
        if let Some(email) = email {
            customer.email = Some(email);
        }
        if let Some(name) = name {
            customer.name = Some(name);
        }
        customer.metadata.extend(metadata);
        if let Some(method) = default_method {
            customer.default_payment_method = Some(method);
        }
        let now = customer.render();
        let changed: serde_json::Map<String, Value> = previous
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, v)| now.get(k.as_str()) != Some(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !changed.is_empty() {
            self.emit("customer.updated", now.clone(), Some(Value::Object(changed)));
        }
        Ok(now)
    }

    pub fn delete_customer(&mut self, id: &str) -> Result<Value, StripeError> {
        self.live_customer(id, "id")?;
        let subs: Vec<String> = self
            .subscriptions
            .values()
            .filter(|s| s.customer == id && s.status != "canceled")
            .map(|s| s.id.clone())
            .collect();
        for sub in subs {
            self.end_subscription(&sub, Some("cancellation_requested"));
        }
        let customer = self.customers.get_mut(id).expect("checked above");
        let full = customer.render();
        customer.deleted = true;
        self.emit("customer.deleted", full, None);
        Ok(self.customers[id].render())
    }
}

/// A missing object: 404 when the path names it (`param` "id"), 400 when a parameter refers to it.
fn missing(kind: &str, id: &str, param: &str) -> StripeError {
    if param == "id" {
        StripeError::no_such(kind, id, param)
    } else {
        StripeError::no_such_ref(kind, id, param)
    }
}
