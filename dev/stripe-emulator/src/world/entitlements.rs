//! Active entitlements and their summary events.

use super::*;

impl World {
    /// Recomputes a customer's active entitlements from their subscriptions and emits
    /// `entitlements.active_entitlement_summary.updated` when the set changed.
    pub(super) fn refresh_entitlements(&mut self, customer: &str) {
        let wanted: BTreeSet<String> = self
            .subscriptions
            .values()
            .filter(|s| s.customer == customer && s.provisions_entitlements())
            .flat_map(|s| s.items.iter())
            .filter_map(|item| self.prices.get(&item.price))
            .filter_map(|price| self.products.get(&price.product))
            .flat_map(|product| product.feature_ids.iter().cloned())
            .collect();
        let current = self.entitlements.get(customer).cloned().unwrap_or_default();
        let have: BTreeSet<String> = current.iter().map(|e| e.feature.clone()).collect();
        if have == wanted {
            return;
        }
        let mut next: Vec<ActiveEntitlement> = current.into_iter().filter(|e| wanted.contains(&e.feature)).collect();
        for feature in wanted.iter().filter(|f| !have.contains(*f)) {
            let lookup_key = self.features.get(feature).map(|f| f.lookup_key.clone()).unwrap_or_default();
            next.push(ActiveEntitlement {
                id: new_id("ent"),
                feature: feature.clone(),
                lookup_key,
            });
        }
        next.sort_by(|a, b| a.lookup_key.cmp(&b.lookup_key));
        let embedded: Vec<Value> = next.iter().take(SUMMARY_EMBED_LIMIT).map(ActiveEntitlement::render).collect();
        let summary = json!({
            "object": "entitlements.active_entitlement_summary",
            "customer": customer,
            "entitlements": list(&format!("/v1/customer/{customer}/entitlements"), embedded, next.len() > SUMMARY_EMBED_LIMIT),
            "livemode": false
        });
        self.entitlements.insert(customer.to_owned(), next);
        self.emit("entitlements.active_entitlement_summary.updated", summary, None);
    }

    pub fn list_active_entitlements(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["customer", "limit", "starting_after"])?;
        let customer = params.required_str("customer")?;
        self.customer(customer)
            .map_err(|_| StripeError::no_such_ref("customer", customer, "customer"))?;
        let items = self
            .entitlements
            .get(customer)
            .map(|list| list.iter().map(|e| (e.id.clone(), e.render())).collect())
            .unwrap_or_default();
        let (data, has_more) = paginate(items, params.str("starting_after")?, params.limit()?)?;
        Ok(list("/v1/entitlements/active_entitlements", data, has_more))
    }

    /// Test helper: attach `feature_keys` (new features if needed) to the product of `price`
    /// and recompute every customer's entitlements.
    pub fn attach_features(&mut self, product: &str, feature_keys: &[String]) -> Result<(), StripeError> {
        if !self.products.contains_key(product) {
            return Err(StripeError::no_such_ref("product", product, "product"));
        }
        for key in feature_keys {
            if !billing::domain::plans::is_valid_key(key) {
                return Err(StripeError::invalid("features", format!("`{key}` is not a valid lookup key")));
            }
        }
        for key in feature_keys {
            let id = match self.features.values().find(|f| &f.lookup_key == key) {
                Some(f) => f.id.clone(),
                None => {
                    let id = new_id("feat");
                    self.features.insert(
                        id.clone(),
                        Feature {
                            id: id.clone(),
                            lookup_key: key.clone(),
                            name: key.clone(),
                        },
                    );
                    id
                }
            };
            let product = self.products.get_mut(product).expect("checked");
            if !product.feature_ids.contains(&id) {
                product.feature_ids.push(id);
            }
        }
        let customers: Vec<String> = self.customers.keys().cloned().collect();
        for customer in customers {
            self.refresh_entitlements(&customer);
        }
        Ok(())
    }
}
