//! The items of a subscription change (`items[i][id|price|quantity|deleted]`), validated as
//! Stripe validates them.

use super::*;

impl World {
    /// The items a request's `items[i][id|price|quantity|deleted]` leave on `current`:
    /// existing items updated or deleted by id, new ones added. Validated as Stripe does: at
    /// least one item, recurring prices of one currency and one interval, no price twice.
    pub(super) fn next_items(&self, current: &Subscription, params: &Params) -> Result<Vec<SubscriptionItem>, StripeError> {
        let mut next = current.items.clone();
        let now = self.now();
        for i in 0..params.array_len("items") {
            let at = |key: &str| format!("items.{i}.{key}");
            let shown = |key: &str| format!("items[{i}][{key}]");
            if let Some(Value::Object(map)) = params.value(&format!("items.{i}"))
                && let Some(unknown) = map.keys().find(|k| {
                    !matches!(
                        k.as_str(),
                        "id" | "price" | "plan" | "quantity" | "deleted" | "metadata" | "clear_usage" | "tax_rates" | "discounts"
                    )
                })
            {
                return Err(StripeError::unknown_param(&shown(unknown)));
            }
            let price = params.str(&at("price"))?.or(params.str(&at("plan"))?);
            if let Some(price_id) = price {
                let found = self
                    .prices
                    .get(price_id)
                    .ok_or_else(|| StripeError::no_such_ref("price", price_id, &shown("price")))?;
                if found.interval.is_none() {
                    return Err(StripeError::invalid(shown("price"), "The price specified is not recurring."));
                }
                if !found.active {
                    return Err(StripeError::invalid(
                        shown("price"),
                        format!("The price specified is inactive. This field only accepts active prices: {price_id}"),
                    ));
                }
            }
            let quantity = params.u64(&at("quantity"))?;
            let deleted = params.bool(&at("deleted"))?.unwrap_or(false);
            let index = match params.str(&at("id"))? {
                Some(item_id) => {
                    let index = next
                        .iter()
                        .position(|it| it.id == item_id)
                        .ok_or_else(|| StripeError::no_such_ref("subscription_item", item_id, &shown("id")))?;
                    if deleted {
                        next.remove(index);
                        continue;
                    }
                    if let Some(price) = price
                        && next[index].price != price
                    {
                        // With billing_mode=classic, usage before a price change is not billed.
                        next[index].price = price.to_owned();
                        next[index].usage_from = now;
                    }
                    index
                }
                None if deleted => return Err(StripeError::missing_param(&shown("id"))),
                None => {
                    let price = price.ok_or_else(|| StripeError::missing_param(&shown("price")))?;
                    next.push(SubscriptionItem {
                        id: new_id("si"),
                        price: price.to_owned(),
                        quantity: 1,
                        created: now,
                        usage_from: now,
                    });
                    next.len() - 1
                }
            };
            // A metered price has no quantity; a licensed one at least 1 (1 when it was metered).
            if self.prices.get(&next[index].price).is_some_and(Price::metered) {
                if quantity.is_some() {
                    return Err(StripeError::invalid(
                        shown("quantity"),
                        "You cannot set the quantity for metered plans.",
                    ));
                }
                next[index].quantity = 0;
            } else {
                if quantity == Some(0) {
                    return Err(StripeError::invalid(shown("quantity"), "Quantity must be at least 1."));
                }
                match quantity {
                    Some(q) => next[index].quantity = q,
                    None if next[index].quantity == 0 => next[index].quantity = 1,
                    None => {}
                }
            }
        }
        self.check_items(&next, &current.currency, "items")?;
        Ok(next)
    }

    /// At least one item, one currency, one interval, no price twice.
    pub(super) fn check_items(&self, items: &[SubscriptionItem], currency: &str, param: &str) -> Result<(), StripeError> {
        if items.is_empty() {
            return Err(StripeError::invalid(param, "A subscription must have at least one active item."));
        }
        let first = &self.prices[&items[0].price];
        for item in items {
            let price = &self.prices[&item.price];
            if price.amount_in(currency).is_none() {
                return Err(StripeError::invalid(
                    param,
                    format!(
                        "The price `{}` is not available in {currency}, the subscription's currency: add it to the price's `currency_options`.",
                        price.id
                    ),
                ));
            }
            if price.interval != first.interval {
                return Err(StripeError::invalid(
                    param,
                    "All prices on a subscription must have the same `recurring.interval` and `recurring.interval_count`.",
                ));
            }
        }
        for (i, item) in items.iter().enumerate() {
            if items[..i].iter().any(|other| other.price == item.price) {
                return Err(StripeError::invalid(
                    param,
                    format!("Cannot add multiple subscription items with the same price: {}", item.price),
                ));
            }
        }
        Ok(())
    }
}
