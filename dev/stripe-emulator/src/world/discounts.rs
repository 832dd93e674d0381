//! Discounts: coupons and promotion codes applied to a subscription
//! (`discounts[i][coupon|promotion_code|discount]`, checked as Stripe checks them, each new one
//! redeemed once) or on the hosted Checkout page, and what they take off the invoices that
//! follow: `once` the next invoice with something to discount, `repeating` for its months,
//! `forever` every one.

use super::*;

/// One entry of a subscription's `discounts` parameter, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DiscountSpec {
    /// A discount already on the subscription, kept as it is (no new redemption).
    Keep(String),
    Coupon(String),
    PromotionCode(String),
}

fn coupon_expired(param: &str, coupon: &str) -> StripeError {
    StripeError {
        code: Some("coupon_expired"),
        ..StripeError::invalid(param, format!("Coupon expired: {coupon}"))
    }
}

impl World {
    /// Whether the customer ever paid anything (an invoice or a charge): Stripe's "prior
    /// transactions" of `restrictions[first_time_transaction]`.
    fn has_transactions(&self, customer: &str) -> bool {
        self.invoices.values().any(|i| i.customer == customer && i.amount_paid > 0)
            || self.charges.values().any(|c| c.customer.as_deref() == Some(customer))
    }

    /// Checks that `promo` can be redeemed now by `customer` on a purchase of `amount` in
    /// `currency`; the error names `param`.
    pub(super) fn check_promotion_code(
        &self,
        promo: &PromotionCode,
        customer: Option<&str>,
        amount: i64,
        currency: &str,
        param: &str,
    ) -> Result<(), StripeError> {
        let now = self.now();
        let why = if !promo.active {
            "it is inactive"
        } else if promo.expired(now) {
            "it has expired"
        } else if promo.exhausted() {
            "it has reached its maximum number of redemptions"
        } else if promo.customer.is_some() && promo.customer.as_deref() != customer {
            "it is restricted to a different customer"
        } else if !self.coupons.get(&promo.coupon).is_some_and(|c| c.valid(now)) {
            return Err(coupon_expired(param, &promo.coupon));
        } else if promo.first_time_transaction && customer.is_some_and(|c| self.has_transactions(c)) {
            "the associated customer has prior transactions"
        } else if promo
            .minimum_amount
            .is_some_and(|min| promo.minimum_amount_currency.as_deref() != Some(currency) || amount < min)
        {
            "the associated purchase does not meet the minimum amount requirement"
        } else {
            return Ok(());
        };
        Err(StripeError::invalid(
            param,
            format!("This promotion code cannot be redeemed because {why}."),
        ))
    }

    /// Checks that `coupon` exists, is valid and (an `amount_off` one) is in `currency`.
    pub(super) fn check_coupon(&self, coupon: &str, currency: &str, param: &str) -> Result<(), StripeError> {
        let found = self
            .coupons
            .get(coupon)
            .ok_or_else(|| StripeError::no_such_ref("coupon", coupon, param))?;
        if !found.valid(self.now()) {
            return Err(coupon_expired(param, coupon));
        }
        if let Some(c) = found.currency.as_deref().filter(|c| *c != currency) {
            return Err(StripeError::invalid(
                param,
                format!("The coupon's currency ({c}) must match the currency of the purchase ({currency})."),
            ));
        }
        Ok(())
    }

    /// What the subscription bills each period before discounts (its licensed items).
    fn recurring_amount(&self, sub: &Subscription) -> i64 {
        sub.items
            .iter()
            .filter_map(|i| self.prices.get(&i.price).filter(|p| !p.metered()).map(|p| (p, i.quantity)))
            .map(|(p, q)| p.amount_in(&sub.currency).unwrap_or(p.unit_amount) * q as i64)
            .sum()
    }

    /// The `discounts` of a subscription update: `None` when not given; else the discounts the
    /// subscription has after it (`discounts=""` clears them). A promotion code or coupon the
    /// subscription already has keeps its discount (a no-op, as on Stripe).
    pub(super) fn parse_discounts(&self, sub: &Subscription, params: &Params) -> Result<Option<Vec<DiscountSpec>>, StripeError> {
        match params.value("discounts") {
            None => return Ok(None),
            Some(Value::String(s)) if s.is_empty() => return Ok(Some(Vec::new())),
            Some(Value::Array(entries)) if entries.len() > 20 => {
                return Err(StripeError::invalid("discounts", "A subscription can have at most 20 discounts."));
            }
            Some(Value::Array(_)) => {}
            Some(_) => return Err(StripeError::invalid("discounts", "Invalid array: discounts")),
        }
        let existing: Vec<&Discount> = sub.discounts.iter().filter_map(|d| self.discounts.get(d)).collect();
        let amount = self.recurring_amount(sub);
        let mut specs: Vec<DiscountSpec> = Vec::new();
        let mut coupons: Vec<String> = Vec::new();
        for i in 0..params.array_len("discounts") {
            let shown = |key: &str| format!("discounts[{i}][{key}]");
            let given: Vec<&str> = match params.value(&format!("discounts.{i}")) {
                Some(Value::Object(map)) => {
                    if let Some(unknown) = map.keys().find(|k| !matches!(k.as_str(), "coupon" | "promotion_code" | "discount")) {
                        return Err(StripeError::unknown_param(&shown(unknown)));
                    }
                    map.keys().map(String::as_str).collect()
                }
                _ => {
                    return Err(StripeError::invalid(
                        format!("discounts[{i}]"),
                        format!("Invalid object: discounts[{i}]"),
                    ));
                }
            };
            if given.len() != 1 {
                return Err(StripeError::invalid(
                    format!("discounts[{i}]"),
                    "You must specify exactly one of these parameters: coupon, discount, promotion_code.",
                ));
            }
            let (spec, coupon) = if let Some(id) = params.str(&format!("discounts.{i}.discount"))? {
                let found = existing
                    .iter()
                    .find(|d| d.id == id)
                    .ok_or_else(|| StripeError::no_such_ref("discount", id, &shown("discount")))?;
                (DiscountSpec::Keep(id.to_owned()), found.coupon.clone())
            } else if let Some(id) = params.str(&format!("discounts.{i}.promotion_code"))? {
                let promo = self
                    .promotion_codes
                    .get(id)
                    .ok_or_else(|| StripeError::no_such_ref("promotion_code", id, &shown("promotion_code")))?;
                match existing.iter().find(|d| d.promotion_code.as_deref() == Some(id)) {
                    Some(kept) => (DiscountSpec::Keep(kept.id.clone()), kept.coupon.clone()),
                    None => {
                        self.check_promotion_code(promo, Some(&sub.customer), amount, &sub.currency, &shown("promotion_code"))?;
                        self.check_coupon(&promo.coupon, &sub.currency, &shown("promotion_code"))?;
                        (DiscountSpec::PromotionCode(id.to_owned()), promo.coupon.clone())
                    }
                }
            } else {
                let id = params.required_str(&format!("discounts.{i}.coupon"))?;
                match existing.iter().find(|d| d.coupon == id && d.promotion_code.is_none()) {
                    Some(kept) => (DiscountSpec::Keep(kept.id.clone()), id.to_owned()),
                    None => {
                        self.check_coupon(id, &sub.currency, &shown("coupon"))?;
                        (DiscountSpec::Coupon(id.to_owned()), id.to_owned())
                    }
                }
            };
            if coupons.contains(&coupon) {
                return Err(StripeError::invalid(
                    "discounts",
                    format!("The coupon `{coupon}` can be applied only once to the subscription."),
                ));
            }
            coupons.push(coupon);
            specs.push(spec);
        }
        Ok(Some(specs))
    }

    /// Gives the subscription the discounts of `specs`: new ones made and redeemed
    /// (`customer.discount.created`), the ones left out deleted (`customer.discount.deleted`).
    pub(super) fn set_discounts(&mut self, sub_id: &str, specs: Vec<DiscountSpec>) {
        let customer = self.subscriptions[sub_id].customer.clone();
        let mut next = Vec::new();
        for spec in specs {
            next.push(match spec {
                DiscountSpec::Keep(id) => id,
                DiscountSpec::Coupon(coupon) => self.redeem(&coupon, None, &customer, Some(sub_id), None),
                DiscountSpec::PromotionCode(promo) => {
                    let coupon = self.promotion_codes[&promo].coupon.clone();
                    self.redeem(&coupon, Some(promo), &customer, Some(sub_id), None)
                }
            });
        }
        let dropped: Vec<String> = self.subscriptions[sub_id]
            .discounts
            .iter()
            .filter(|d| !next.contains(d))
            .cloned()
            .collect();
        self.subscriptions.get_mut(sub_id).expect("exists").discounts = next;
        for id in dropped {
            self.delete_discount(&id);
        }
    }

    /// A new discount of `coupon` (through `promotion_code`): both redeemed once more, and
    /// `customer.discount.created`. Its id.
    pub(super) fn redeem(
        &mut self,
        coupon: &str,
        promotion_code: Option<String>,
        customer: &str,
        subscription: Option<&str>,
        checkout_session: Option<&str>,
    ) -> String {
        let now = self.now();
        self.count_redemption(coupon, promotion_code.as_deref());
        let found = &self.coupons[coupon];
        let end = (found.duration == "repeating").then(|| now + found.duration_in_months.unwrap_or(1) * 30 * DAY);
        let discount = Discount {
            id: new_id("di"),
            coupon: coupon.to_owned(),
            promotion_code,
            customer: Some(customer.to_owned()),
            subscription: subscription.map(str::to_owned),
            checkout_session: checkout_session.map(str::to_owned),
            start: now,
            end,
        };
        let id = discount.id.clone();
        let rendered = discount.render();
        self.discounts.insert(id.clone(), discount);
        self.emit("customer.discount.created", rendered, None);
        id
    }

    /// One more redemption of `coupon` (and of `promotion_code`).
    pub(super) fn count_redemption(&mut self, coupon: &str, promotion_code: Option<&str>) {
        if let Some(found) = self.coupons.get_mut(coupon) {
            found.times_redeemed += 1;
        }
        if let Some(promo) = promotion_code.and_then(|p| self.promotion_codes.get_mut(p)) {
            promo.times_redeemed += 1;
        }
    }

    /// `customer.discount.deleted` for a discount taken off its subscription.
    fn delete_discount(&mut self, id: &str) {
        if let Some(discount) = self.discounts.get(id) {
            let rendered = discount.render();
            self.emit("customer.discount.deleted", rendered, None);
        }
    }

    /// Takes the subscription's live discounts off the discountable `lines` (in order, each on
    /// what the ones before left): a percentage of each line, or an amount spread over the lines
    /// pro rata. Returns the discounts applied and what each took off in all. A `once` discount
    /// that took something off, and a `repeating` one past its end, leave the subscription.
    pub(super) fn discount_lines(&mut self, sub_id: &str, lines: &mut [InvoiceLine]) -> (Vec<String>, Vec<(String, i64)>) {
        let now = self.now();
        let sub = &self.subscriptions[sub_id];
        let currency = sub.currency.clone();
        let (live, ended): (Vec<String>, Vec<String>) = sub.discounts.iter().cloned().partition(|d| {
            self.discounts
                .get(d)
                .is_some_and(|d| d.live_at(now) && self.coupons.contains_key(&d.coupon))
        });
        let mut left: Vec<i64> = lines.iter().map(|l| if l.proration { 0 } else { l.amount.max(0) }).collect();
        let mut totals = Vec::new();
        let mut used_up = ended;
        for id in &live {
            let coupon = &self.coupons[&self.discounts[id].coupon];
            let offs: Vec<i64> = if coupon.percent_off.is_some() {
                left.iter().map(|amount| coupon.discount_on(*amount, &currency)).collect()
            } else {
                let sum: i64 = left.iter().sum();
                let off = coupon.discount_on(sum, &currency);
                let last = left.iter().rposition(|a| *a > 0);
                let mut shares: Vec<i64> = left
                    .iter()
                    .map(|a| {
                        if sum > 0 {
                            (i128::from(off) * i128::from(*a) / i128::from(sum)) as i64
                        } else {
                            0
                        }
                    })
                    .collect();
                if let Some(last) = last {
                    let others: i64 = shares.iter().enumerate().filter(|(i, _)| *i != last).map(|(_, s)| s).sum();
                    shares[last] = (off - others).clamp(0, left[last]);
                }
                shares
            };
            for (i, line) in lines.iter_mut().enumerate().filter(|(_, l)| !l.proration) {
                line.discount_amounts.push((id.clone(), offs[i]));
                left[i] -= offs[i];
            }
            let total: i64 = offs.iter().sum();
            if coupon.duration == "once" && total > 0 {
                used_up.push(id.clone());
            }
            totals.push((id.clone(), total));
        }
        if !used_up.is_empty() {
            self.subscriptions
                .get_mut(sub_id)
                .expect("exists")
                .discounts
                .retain(|d| !used_up.contains(d));
            for id in &used_up {
                self.delete_discount(id);
            }
        }
        (live, totals)
    }

    /// `expand[]=discounts` on a rendered subscription: its discount ids become the objects, and
    /// with `discounts.promotion_code` / `discounts.source.coupon` theirs too.
    pub fn expand_discounts(&self, mut value: Value, params: &Params) -> Value {
        let expand = params.strings("expand");
        let wants = |path: &str| expand.iter().any(|e| e == path);
        if !wants("discounts") {
            return value;
        }
        let now = self.now();
        if let Some(ids) = value.get_mut("discounts").and_then(Value::as_array_mut) {
            for id in ids.iter_mut() {
                let Some(discount) = id.as_str().and_then(|d| self.discounts.get(d)) else {
                    continue;
                };
                let mut rendered = discount.render();
                if wants("discounts.promotion_code")
                    && let Some(promo) = discount.promotion_code.as_ref().and_then(|p| self.promotion_codes.get(p))
                {
                    rendered["promotion_code"] = promo.render(self.coupons.get(&promo.coupon), now, false);
                }
                if wants("discounts.source.coupon")
                    && let Some(coupon) = self.coupons.get(&discount.coupon)
                {
                    rendered["source"]["coupon"] = coupon.render(now);
                }
                *id = rendered;
            }
        }
        value
    }
}
