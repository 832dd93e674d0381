//! The catalog: products and their prices (licensed, metered or one-time, in several
//! currencies), with the legacy `plan` shape Stripe still embeds.

use serde_json::{Value, json};

use super::{DAY, Metadata};

#[derive(Debug, Clone)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub feature_ids: Vec<String>,
    pub metadata: Metadata,
    pub created: i64,
}

impl Product {
    pub fn render(&self) -> Value {
        json!({
            "id": self.id, "object": "product", "active": true, "created": self.created, "default_price": null,
            "description": self.description, "images": [], "livemode": false, "marketing_features": [], "metadata": self.metadata,
            "name": self.name, "package_dimensions": null, "shippable": null, "statement_descriptor": null, "tax_code": null,
            "type": "service", "unit_label": null, "updated": self.created, "url": null
        })
    }
}

#[derive(Debug, Clone)]
pub struct Price {
    pub id: String,
    pub product: String,
    pub lookup_key: Option<String>,
    pub unit_amount: i64,
    pub currency: String,
    /// `month` / `year`; `None` for one-time prices.
    pub interval: Option<&'static str>,
    pub metadata: Metadata,
    pub created: i64,
    pub active: bool,
    /// The billing meter (`mtr_…`) of a metered price (`recurring.usage_type = metered`): billed
    /// in arrears from the meter's aggregated events; `None` for licensed and one-time prices.
    pub meter: Option<String>,
    /// The same price in other currencies (`currency_options`): currency → unit amount.
    pub currency_options: std::collections::BTreeMap<String, i64>,
}

impl Price {
    /// Billed from a meter's usage rather than by quantity.
    pub fn metered(&self) -> bool {
        self.meter.is_some()
    }

    fn usage_type(&self) -> &'static str {
        if self.metered() { "metered" } else { "licensed" }
    }

    pub fn render(&self) -> Value {
        json!({
            "id": self.id, "object": "price", "active": self.active, "billing_scheme": "per_unit", "created": self.created,
            "currency": self.currency, "custom_unit_amount": null, "livemode": false, "lookup_key": self.lookup_key,
            "metadata": self.metadata, "nickname": null, "product": self.product,
            "recurring": self.interval.map(|i| json!({"interval": i, "interval_count": 1, "meter": self.meter, "trial_period_days": null, "usage_type": self.usage_type()})),
            "tax_behavior": "unspecified", "tiers_mode": null, "transform_quantity": null,
            "type": if self.interval.is_some() { "recurring" } else { "one_time" },
            "unit_amount": self.unit_amount, "unit_amount_decimal": self.unit_amount.to_string()
        })
    }

    /// [`Price::render`] with `currency_options` (every currency the price is sold in, its own
    /// included), which Stripe sends only when asked (`expand[]=currency_options`).
    pub fn render_with_currency_options(&self) -> Value {
        let mut rendered = self.render();
        let option = |amount: i64| json!({"custom_unit_amount": null, "tax_behavior": "unspecified", "unit_amount": amount, "unit_amount_decimal": amount.to_string()});
        let mut options = serde_json::Map::new();
        options.insert(self.currency.clone(), option(self.unit_amount));
        for (currency, amount) in &self.currency_options {
            options.insert(currency.clone(), option(*amount));
        }
        rendered["currency_options"] = Value::Object(options);
        rendered
    }

    /// The unit amount in `currency`: the price's own, or one of its `currency_options`.
    pub fn amount_in(&self, currency: &str) -> Option<i64> {
        if currency == self.currency {
            Some(self.unit_amount)
        } else {
            self.currency_options.get(currency).copied()
        }
    }

    /// The legacy `plan` object Stripe still embeds in subscription items.
    pub fn render_plan(&self) -> Value {
        json!({
            "id": self.id, "object": "plan", "active": true, "amount": self.unit_amount, "amount_decimal": self.unit_amount.to_string(),
            "billing_scheme": "per_unit", "created": self.created, "currency": self.currency, "interval": self.interval.unwrap_or("month"),
            "interval_count": 1, "livemode": false, "metadata": {}, "meter": self.meter, "nickname": null, "product": self.product,
            "tiers_mode": null, "transform_usage": null, "trial_period_days": null, "usage_type": self.usage_type()
        })
    }

    /// Seconds in one billing period.
    pub fn period_seconds(&self) -> i64 {
        match self.interval {
            Some("year") => 365 * DAY,
            Some("week") => 7 * DAY,
            Some("day") => DAY,
            _ => 30 * DAY,
        }
    }
}
