//! Checkout Sessions: create (line items, inline prices, the options Stripe checks),
//! retrieve, list, expire. Paying one on the hosted page is in `checkout_payment`.

use super::*;
use crate::params::one_of;

impl World {
    pub fn create_checkout_session(&mut self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&[
            "mode",
            "line_items",
            "customer",
            "customer_email",
            "customer_creation",
            "client_reference_id",
            "metadata",
            "subscription_data",
            "allow_promotion_codes",
            "success_url",
            "cancel_url",
            "payment_method_types",
            "billing_address_collection",
            "locale",
            "currency",
            "automatic_tax",
            "tax_id_collection",
            "customer_update",
            "payment_method_collection",
        ])?;
        let mode = params.required_str("mode")?;
        if !matches!(mode, "subscription" | "payment") {
            return Err(StripeError::invalid(
                "mode",
                format!(
                    "Invalid mode: must be one of payment, setup or subscription (the emulator serves payment and subscription); got `{mode}`."
                ),
            ));
        }
        let success_url = params.required_str("success_url")?;
        for (param, url) in [("success_url", Some(success_url)), ("cancel_url", params.str("cancel_url")?)] {
            if let Some(url) = url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(StripeError::invalid(param, "Not a valid URL"));
            }
        }
        let count = params.array_len("line_items");
        if count == 0 {
            return Err(StripeError::missing_param("line_items"));
        }
        let mut line_items = Vec::new();
        let mut amount_total = 0;
        let mut currency = None;
        let session_currency = params.str("currency")?.map(str::to_owned);
        for i in 0..count {
            let price_id = match (
                params.str(&format!("line_items.{i}.price"))?,
                params.value(&format!("line_items.{i}.price_data")),
            ) {
                (Some(_), Some(_)) => {
                    return Err(StripeError::invalid(
                        format!("line_items[{i}]"),
                        "You may only specify one of these parameters: price, price_data.",
                    ));
                }
                (Some(id), None) => id.to_owned(),
                (None, Some(_)) => self.inline_price(params, i)?,
                (None, None) => return Err(StripeError::missing_param(&format!("line_items[{i}][price]"))),
            };
            let price_id = price_id.as_str();
            let price = self
                .prices
                .get(price_id)
                .ok_or_else(|| StripeError::no_such_ref("price", price_id, &format!("line_items[{i}][price]")))?;
            // `currency`: the session charges each price in it (the price's own, or one of its
            // `currency_options`).
            let unit_amount = match &session_currency {
                Some(c) if *c == price.currency => price.unit_amount,
                Some(c) => *price.currency_options.get(c).ok_or_else(|| {
                    StripeError::invalid(
                        "currency",
                        format!("The price `{price_id}` is not available in `{c}`: add it to the price's `currency_options` or choose another currency."),
                    )
                })?,
                None => price.unit_amount,
            };
            let given = params.u64(&format!("line_items.{i}.quantity"))?;
            // A metered price is billed from its meter's usage: it takes no quantity (and adds
            // nothing to the amount paid now).
            let quantity = if price.metered() {
                if given.is_some() {
                    return Err(StripeError::invalid(
                        format!("line_items[{i}][quantity]"),
                        format!("Quantity should not be specified where usage_type is `metered`. Remove quantity from `line_items[{i}]`"),
                    ));
                }
                0
            } else {
                let quantity = given.unwrap_or(1);
                if quantity == 0 || quantity > 10_000 {
                    return Err(StripeError::invalid(
                        format!("line_items[{i}][quantity]"),
                        "Quantity must be between 1 and 10000.",
                    ));
                }
                quantity
            };
            match (mode, price.interval) {
                ("subscription", None) => {
                    return Err(StripeError::invalid(
                        format!("line_items[{i}][price]"),
                        "You must provide at least one recurring price in `subscription` mode when using prices.",
                    ));
                }
                ("payment", Some(_)) => {
                    return Err(StripeError::invalid(
                        format!("line_items[{i}][price]"),
                        "You specified `payment` mode but passed a recurring price.",
                    ));
                }
                _ => {}
            }
            amount_total += unit_amount * quantity as i64;
            currency.get_or_insert_with(|| session_currency.clone().unwrap_or_else(|| price.currency.clone()));
            line_items.push(LineItem {
                price: price_id.to_owned(),
                quantity,
            });
        }
        let customer = params.str("customer")?.map(str::to_owned);
        let customer_email = params.str("customer_email")?.map(str::to_owned);
        if customer.is_some() && customer_email.is_some() {
            return Err(StripeError::invalid(
                "customer_email",
                "You may only specify one of these parameters: customer, customer_email.",
            ));
        }
        if let Some(id) = &customer {
            self.live_customer(id, "customer")?;
        }
        let customer_creation = params.str("customer_creation")?.map(str::to_owned);
        if let Some(value) = &customer_creation {
            if !matches!(value.as_str(), "always" | "if_required") {
                return Err(StripeError::invalid("customer_creation", "Invalid customer_creation."));
            }
            if mode == "subscription" {
                return Err(StripeError::invalid(
                    "customer_creation",
                    "`customer_creation` can only be used in `payment` mode.",
                ));
            }
        }
        let trial_period_days = params.u64("subscription_data.trial_period_days")?;
        let payment_method_collection = one_of(params, "payment_method_collection", &["always", "if_required"])?
            .unwrap_or("always")
            .to_owned();
        let missing_payment_method = one_of(
            params,
            "subscription_data.trial_settings.end_behavior.missing_payment_method",
            &["cancel", "create_invoice", "pause"],
        )?
        .map(str::to_owned);
        if params.value("subscription_data").is_some() && mode != "subscription" {
            return Err(StripeError::invalid(
                "subscription_data",
                "`subscription_data` can only be used in `subscription` mode.",
            ));
        }
        if let Some(days) = trial_period_days {
            if mode != "subscription" {
                return Err(StripeError::invalid(
                    "subscription_data",
                    "`subscription_data` can only be used in `subscription` mode.",
                ));
            }
            if !(1..=730).contains(&days) {
                return Err(StripeError::invalid(
                    "subscription_data[trial_period_days]",
                    "Trial period days must be between 1 and 730.",
                ));
            }
        }
        let client_reference_id = params.str("client_reference_id")?.map(str::to_owned);
        if client_reference_id.as_ref().is_some_and(|c| c.len() > 200) {
            return Err(StripeError::invalid(
                "client_reference_id",
                "client_reference_id must be at most 200 characters.",
            ));
        }
        let billing_address_collection = params.str("billing_address_collection")?.map(str::to_owned);
        if billing_address_collection
            .as_deref()
            .is_some_and(|v| !matches!(v, "auto" | "required"))
        {
            return Err(StripeError::invalid(
                "billing_address_collection",
                "Invalid billing_address_collection: must be one of auto or required",
            ));
        }
        let automatic_tax = params.bool("automatic_tax.enabled")?.unwrap_or(false);
        let tax_id_collection = params.bool("tax_id_collection.enabled")?.unwrap_or(false);
        let customer_update_address = params.str("customer_update.address")?.map(str::to_owned);
        let customer_update_name = params.str("customer_update.name")?.map(str::to_owned);
        if params.value("customer_update").is_some() && customer.is_none() {
            return Err(StripeError::invalid(
                "customer_update",
                "`customer_update` can only be used with `customer`.",
            ));
        }
        if customer_update_name.as_deref().is_some_and(|v| !matches!(v, "auto" | "never")) {
            return Err(StripeError::invalid(
                "customer_update[name]",
                "Invalid customer_update[name]: must be one of auto or never",
            ));
        }
        if tax_id_collection && customer.is_some() && customer_update_name.as_deref() != Some("auto") {
            return Err(StripeError::invalid(
                "tax_id_collection[enabled]",
                "Tax ID collection requires updating business name on the customer. To enable tax ID collection for an existing customer, please set `customer_update[name]` to `auto`.",
            ));
        }
        if customer_update_address.as_deref().is_some_and(|v| !matches!(v, "auto" | "never")) {
            return Err(StripeError::invalid(
                "customer_update[address]",
                "Invalid customer_update[address]: must be one of auto or never",
            ));
        }
        let id = new_id("cs_test");
        let now = self.now();
        let session = CheckoutSession {
            url: format!("{}/checkout/{id}", self.settings.public_url),
            id: id.clone(),
            mode: mode.to_owned(),
            status: "open".into(),
            payment_status: "unpaid".into(),
            customer,
            customer_email,
            customer_creation,
            client_reference_id,
            metadata: params.metadata("metadata")?,
            line_items,
            trial_period_days: trial_period_days.map(|d| d as u32),
            subscription_metadata: params.metadata("subscription_data.metadata")?,
            allow_promotion_codes: params.bool("allow_promotion_codes")?.unwrap_or(false),
            promotion_code: None,
            coupon: None,
            amount_discount: 0,
            success_url: success_url.to_owned(),
            cancel_url: params.str("cancel_url")?.map(str::to_owned),
            subscription: None,
            invoice: None,
            payment_intent: None,
            amount_total,
            currency: currency.unwrap_or_else(|| "usd".into()),
            created: now,
            expires_at: now + DAY,
            billing_address_collection,
            automatic_tax,
            tax_id_collection,
            customer_update_address,
            payment_method_collection,
            missing_payment_method,
        };
        self.sessions.insert(id.clone(), session);
        self.track(&id);
        self.session(&id)
    }

    /// `line_items[i][price_data]`: an inline price (inactive, as Stripe makes them) on
    /// `price_data[product]` or a product made from `price_data[product_data]`.
    fn inline_price(&mut self, params: &Params, i: usize) -> Result<String, StripeError> {
        let at = |name: &str| format!("line_items.{i}.price_data.{name}");
        let shown = |name: &str| format!("line_items[{i}][price_data][{name}]");
        let currency = params.required_str(&at("currency"))?.to_owned();
        if !(currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_lowercase())) {
            return Err(StripeError::invalid(shown("currency"), format!("Invalid currency: {currency}")));
        }
        let unit_amount = params
            .i64(&at("unit_amount"))
            .map_err(|_| StripeError::invalid(shown("unit_amount"), "Invalid integer"))?
            .ok_or_else(|| StripeError::missing_param(&shown("unit_amount")))?;
        if !(0..=99_999_999).contains(&unit_amount) {
            return Err(StripeError::invalid(
                shown("unit_amount"),
                "This value must be greater than or equal to 0 and at most 99999999.",
            ));
        }
        let interval = match params.str(&at("recurring.interval"))? {
            None => None,
            Some("day") => Some("day"),
            Some("week") => Some("week"),
            Some("month") => Some("month"),
            Some("year") => Some("year"),
            Some(other) => {
                return Err(StripeError::invalid(
                    format!("line_items[{i}][price_data][recurring][interval]"),
                    format!("Invalid recurring[interval]: must be one of day, week, month, or year (got {other})"),
                ));
            }
        };
        let product = match (params.str(&at("product"))?, params.str(&at("product_data.name"))?) {
            (Some(product), _) => {
                if !self.products.contains_key(product) {
                    return Err(StripeError::no_such_ref("product", product, &shown("product")));
                }
                product.to_owned()
            }
            (None, Some(name)) => {
                let id = new_id("prod");
                let now = self.now();
                self.products.insert(
                    id.clone(),
                    Product {
                        id: id.clone(),
                        name: name.to_owned(),
                        description: params.str(&at("product_data.description"))?.map(str::to_owned),
                        feature_ids: Vec::new(),
                        metadata: params.metadata(&at("product_data.metadata"))?,
                        created: now,
                    },
                );
                self.track(&id);
                id
            }
            (None, None) => return Err(StripeError::missing_param(&shown("product"))),
        };
        let id = new_id("price");
        let now = self.now();
        self.prices.insert(
            id.clone(),
            Price {
                id: id.clone(),
                product,
                lookup_key: None,
                unit_amount,
                currency,
                interval,
                metadata: Metadata::new(),
                created: now,
                active: false,
                meter: None,
                currency_options: Default::default(),
            },
        );
        self.track(&id);
        Ok(id)
    }

    /// `GET /v1/checkout/sessions`: filters `payment_intent`, `customer`, `subscription`.
    pub fn list_sessions(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["payment_intent", "customer", "subscription", "limit", "starting_after"])?;
        let (intent, customer, subscription) = (params.str("payment_intent")?, params.str("customer")?, params.str("subscription")?);
        let ids = self.newest_first(self.sessions.keys());
        let mut items = Vec::new();
        for id in ids {
            let session = &self.sessions[&id];
            if intent.is_some_and(|i| session.payment_intent.as_deref() != Some(i))
                || customer.is_some_and(|c| session.customer.as_deref() != Some(c))
                || subscription.is_some_and(|s| session.subscription.as_deref() != Some(s))
            {
                continue;
            }
            items.push((id.clone(), self.session(&id)?));
        }
        let (data, has_more) = paginate(items, params.str("starting_after")?, params.limit()?)?;
        Ok(list("/v1/checkout/sessions", data, has_more))
    }

    pub fn session(&self, id: &str) -> Result<Value, StripeError> {
        let session = self
            .sessions
            .get(id)
            .ok_or_else(|| StripeError::no_such("checkout.session", id, "session"))?;
        let email = session
            .customer
            .as_ref()
            .and_then(|c| self.customers.get(c))
            .and_then(|c| c.email.as_deref())
            .or(session.customer_email.as_deref());
        Ok(session.render(email))
    }

    pub fn expire_session(&mut self, id: &str) -> Result<Value, StripeError> {
        let session = self
            .sessions
            .get_mut(id)
            .ok_or_else(|| StripeError::no_such("checkout.session", id, "session"))?;
        if session.status != "open" {
            return Err(StripeError::state(format!(
                "Only Checkout Sessions with a status of `open` can be expired; this one is `{}`.",
                session.status
            )));
        }
        session.status = "expired".into();
        let rendered = self.session(id)?;
        self.emit("checkout.session.expired", rendered.clone(), None);
        Ok(rendered)
    }
}
