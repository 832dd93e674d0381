//! The catalog: products, prices and entitlement features, seeded from the plans catalog.

use super::*;

impl World {
    pub fn list_prices(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["lookup_keys", "active", "product", "limit", "starting_after", "type"])?;
        let keys = params.strings("lookup_keys");
        let product = params.str("product")?;
        let ids = self.newest_first(self.prices.keys());
        let items = ids
            .iter()
            .map(|id| &self.prices[id])
            .filter(|p| keys.is_empty() || p.lookup_key.as_ref().is_some_and(|k| keys.contains(k)))
            .filter(|p| product.is_none_or(|prod| p.product == prod))
            .map(|p| (p.id.clone(), p.render()))
            .collect();
        let (data, has_more) = paginate(items, params.str("starting_after")?, params.limit()?)?;
        Ok(list("/v1/prices", data, has_more))
    }

    pub fn price(&self, id: &str) -> Result<Value, StripeError> {
        self.prices
            .get(id)
            .map(Price::render)
            .ok_or_else(|| StripeError::no_such("price", id, "id"))
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
            .ok_or_else(|| StripeError::no_such("product", product, "product"))?;
        let data = product
            .feature_ids
            .iter()
            .filter_map(|f| self.features.get(f))
            .map(|f| json!({"id": format!("prodft_{}", &f.id[5..]), "object": "product_feature", "entitlement_feature": f.render(), "livemode": false}))
            .collect();
        Ok(list(&format!("/v1/products/{}/features", product.id), data, false))
    }
}
