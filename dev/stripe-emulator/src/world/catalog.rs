//! The catalog: products, prices and entitlement features, seeded from the plans catalog.

use super::*;

impl World {
    pub fn list_prices(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["lookup_keys", "active", "product", "limit", "starting_after", "type"])?;
        let keys = params.strings("lookup_keys");
        let options = params.strings("expand").iter().any(|e| e == "data.currency_options");
        let product = params.str("product")?;
        let active = params.bool("active")?;
        let ids = self.newest_first(self.prices.keys());
        let items = ids
            .iter()
            .map(|id| &self.prices[id])
            .filter(|p| keys.is_empty() || p.lookup_key.as_ref().is_some_and(|k| keys.contains(k)))
            .filter(|p| product.is_none_or(|prod| p.product == prod))
            .filter(|p| active.is_none_or(|a| p.active == a))
            .map(|p| (p.id.clone(), if options { p.render_with_currency_options() } else { p.render() }))
            .collect();
        let (data, has_more) = paginate(items, params.str("starting_after")?, params.limit()?)?;
        Ok(list("/v1/prices", data, has_more))
    }

    /// `POST /v1/prices`: `product`, `unit_amount`, `currency`, `recurring[interval]`,
    /// `lookup_key` (with `transfer_lookup_key` to take it from the price that has it).
    pub fn create_price(&mut self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&[
            "product",
            "unit_amount",
            "currency",
            "recurring",
            "lookup_key",
            "transfer_lookup_key",
            "active",
            "metadata",
            "nickname",
        ])?;
        let product = params.required_str("product")?.to_owned();
        if !self.products.contains_key(&product) {
            return Err(StripeError::no_such_ref("product", &product, "product"));
        }
        let unit_amount = params
            .i64("unit_amount")?
            .ok_or_else(|| StripeError::missing_param("unit_amount"))?;
        if unit_amount < 0 {
            return Err(StripeError::invalid(
                "unit_amount",
                "This value must be greater than or equal to 0.",
            ));
        }
        let currency = params.required_str("currency")?.to_ascii_lowercase();
        let interval = match params.str("recurring.interval")? {
            None => None,
            Some("month") => Some("month"),
            Some("year") => Some("year"),
            Some(other) => return Err(StripeError::invalid("recurring[interval]", format!("Invalid interval: `{other}`."))),
        };
        let meter = match (params.str("recurring.usage_type")?, params.str("recurring.meter")?) {
            (None | Some("licensed"), None) => None,
            (None | Some("licensed"), Some(_)) => {
                return Err(StripeError::invalid(
                    "recurring[meter]",
                    "A meter can only be set on a price with `recurring[usage_type]=metered`.",
                ));
            }
            (Some("metered"), None) => return Err(StripeError::missing_param("recurring[meter]")),
            (Some("metered"), Some(meter)) => {
                if !self.meters.contains_key(meter) {
                    return Err(StripeError::no_such_ref("meter", meter, "recurring[meter]"));
                }
                Some(meter.to_owned())
            }
            (Some(other), _) => {
                return Err(StripeError::invalid(
                    "recurring[usage_type]",
                    format!("Invalid recurring[usage_type]: must be one of licensed or metered; got `{other}`."),
                ));
            }
        };
        if meter.is_some() && interval.is_none() {
            return Err(StripeError::missing_param("recurring[interval]"));
        }
        let lookup_key = params.str("lookup_key")?.map(str::to_owned);
        self.claim_lookup_key(lookup_key.as_deref(), None, params.bool("transfer_lookup_key")?.unwrap_or(false))?;
        let id = new_id("price");
        let price = Price {
            id: id.clone(),
            product,
            lookup_key,
            unit_amount,
            currency,
            interval,
            metadata: params.metadata("metadata")?,
            created: self.now(),
            active: params.bool("active")?.unwrap_or(true),
            meter,
            currency_options: Default::default(),
        };
        self.prices.insert(id.clone(), price);
        self.track(&id);
        self.price(&id, params)
    }

    /// `POST /v1/prices/{id}`: `lookup_key` (with `transfer_lookup_key`), `active`, `metadata`.
    pub fn update_price(&mut self, id: &str, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["lookup_key", "transfer_lookup_key", "active", "metadata", "nickname"])?;
        if !self.prices.contains_key(id) {
            return Err(StripeError::no_such("price", id, "id"));
        }
        if let Some(key) = params.str("lookup_key")? {
            self.claim_lookup_key(Some(key), Some(id), params.bool("transfer_lookup_key")?.unwrap_or(false))?;
            self.prices.get_mut(id).expect("checked").lookup_key = Some(key.to_owned());
        }
        if let Some(active) = params.bool("active")? {
            self.prices.get_mut(id).expect("checked").active = active;
        }
        if params.value("metadata").is_some() {
            let metadata = params.metadata("metadata")?;
            self.prices.get_mut(id).expect("checked").metadata.extend(metadata);
        }
        self.price(id, params)
    }

    /// Makes `key` free for `owner`: an error when another price has it, unless `transfer`.
    fn claim_lookup_key(&mut self, key: Option<&str>, owner: Option<&str>, transfer: bool) -> Result<(), StripeError> {
        let Some(key) = key else {
            return Ok(());
        };
        let holder = self
            .prices
            .values()
            .find(|p| p.lookup_key.as_deref() == Some(key) && Some(p.id.as_str()) != owner)
            .map(|p| p.id.clone());
        match holder {
            None => Ok(()),
            Some(holder) if transfer => {
                self.prices.get_mut(&holder).expect("found").lookup_key = None;
                Ok(())
            }
            Some(holder) => Err(StripeError::invalid(
                "lookup_key",
                format!("A price (`{holder}`) already uses that lookup key. Pass `transfer_lookup_key` to move it."),
            )),
        }
    }

    /// `GET /v1/prices/{id}`, with `currency_options` when `expand[]=currency_options`.
    pub fn price(&self, id: &str, params: &Params) -> Result<Value, StripeError> {
        let price = self.prices.get(id).ok_or_else(|| StripeError::no_such("price", id, "id"))?;
        Ok(if params.strings("expand").iter().any(|e| e == "currency_options") {
            price.render_with_currency_options()
        } else {
            price.render()
        })
    }

    pub fn list_products(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["active", "limit", "starting_after"])?;
        let ids = self.newest_first(self.products.keys());
        let items = ids.iter().map(|id| (id.clone(), self.products[id].render())).collect();
        let (data, has_more) = paginate(items, params.str("starting_after")?, params.limit()?)?;
        Ok(list("/v1/products", data, has_more))
    }

    pub fn product(&self, id: &str) -> Result<Value, StripeError> {
        self.products
            .get(id)
            .map(Product::render)
            .ok_or_else(|| StripeError::no_such("product", id, "id"))
    }

    pub fn list_product_features(&self, product: &str) -> Result<Value, StripeError> {
        let product = self
            .products
            .get(product)
            .ok_or_else(|| StripeError::no_such_ref("product", product, "product"))?;
        let data = product
            .feature_ids
            .iter()
            .filter_map(|f| self.features.get(f))
            .map(|f| json!({"id": format!("prodft_{}", &f.id[5..]), "object": "product_feature", "entitlement_feature": f.render(), "livemode": false}))
            .collect();
        Ok(list(&format!("/v1/products/{}/features", product.id), data, false))
    }
}
