//! Coupons, the promotion codes customers enter for them, and the discounts (`di_…`) a coupon
//! or a promotion code makes once applied (to a subscription, or to a Checkout Session paid in
//! payment mode). A promotion code names its coupon under `promotion` (`{"type": "coupon",
//! "coupon": "<id>"}`), a discount under `source`, as the pinned API version renders them.

use serde_json::{Value, json};

use super::Metadata;

/// `duration` values of a coupon.
pub const COUPON_DURATIONS: &[&str] = &["once", "repeating", "forever"];

#[derive(Debug, Clone)]
pub struct Coupon {
    pub id: String,
    pub name: Option<String>,
    /// Exactly one of `percent_off` and `amount_off` (with its `currency`).
    pub percent_off: Option<f64>,
    pub amount_off: Option<i64>,
    pub currency: Option<String>,
    /// `once` (the next invoice with something to discount), `repeating` (for
    /// `duration_in_months`), `forever`.
    pub duration: String,
    pub duration_in_months: Option<i64>,
    pub max_redemptions: Option<i64>,
    pub redeem_by: Option<i64>,
    pub times_redeemed: i64,
    pub metadata: Metadata,
    pub created: i64,
}

impl Coupon {
    /// Whether it can still be redeemed: before `redeem_by`, under `max_redemptions`.
    pub fn valid(&self, now: i64) -> bool {
        self.redeem_by.is_none_or(|at| now < at) && self.max_redemptions.is_none_or(|max| self.times_redeemed < max)
    }

    /// What it takes off `amount` in `currency` (an `amount_off` coupon of another currency takes
    /// nothing); never more than `amount`, nothing off a credit.
    pub fn discount_on(&self, amount: i64, currency: &str) -> i64 {
        if amount <= 0 {
            return 0;
        }
        let off = match (self.percent_off, self.amount_off) {
            (Some(percent), _) => (amount as f64 * percent / 100.0).round() as i64,
            (None, Some(off)) if self.currency.as_deref() == Some(currency) => off,
            _ => 0,
        };
        off.clamp(0, amount)
    }

    /// `50 % off`, `$5.00 off`.
    pub fn describe(&self) -> String {
        match (self.percent_off, self.amount_off, self.currency.as_deref()) {
            (Some(percent), _, _) => format!("{percent} % off"),
            (None, Some(off), Some(currency)) => format!("{} off", crate::world::invoices::money_text(off, currency)),
            _ => "a discount".into(),
        }
    }

    pub fn render(&self, now: i64) -> Value {
        json!({
            "id": self.id, "object": "coupon", "amount_off": self.amount_off, "created": self.created, "currency": self.currency,
            "duration": self.duration, "duration_in_months": self.duration_in_months, "livemode": false,
            "max_redemptions": self.max_redemptions, "metadata": self.metadata, "name": self.name, "percent_off": self.percent_off,
            "redeem_by": self.redeem_by, "times_redeemed": self.times_redeemed, "valid": self.valid(now)
        })
    }
}

/// A customer-facing code for a coupon (seeded: `FREE100`, `HALF50`).
#[derive(Debug, Clone)]
pub struct PromotionCode {
    pub id: String,
    pub code: String,
    pub coupon: String,
    /// As set; [`PromotionCode::usable`] also needs it unexpired, unexhausted, its coupon valid.
    pub active: bool,
    /// The one customer who may redeem it.
    pub customer: Option<String>,
    pub expires_at: Option<i64>,
    pub max_redemptions: Option<i64>,
    pub times_redeemed: i64,
    pub first_time_transaction: bool,
    pub minimum_amount: Option<i64>,
    pub minimum_amount_currency: Option<String>,
    pub metadata: Metadata,
    pub created: i64,
}

impl PromotionCode {
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    pub fn exhausted(&self) -> bool {
        self.max_redemptions.is_some_and(|max| self.times_redeemed >= max)
    }

    /// `active` as Stripe reports it: only while unexpired, unexhausted and its coupon valid.
    pub fn usable(&self, coupon: Option<&Coupon>, now: i64) -> bool {
        self.active && !self.expired(now) && !self.exhausted() && coupon.is_some_and(|c| c.valid(now))
    }

    /// With `coupon`, the coupon object in `promotion.coupon` (`expand[]=promotion.coupon`).
    pub fn render(&self, coupon: Option<&Coupon>, now: i64, expand_coupon: bool) -> Value {
        let coupon_value = match coupon {
            Some(c) if expand_coupon => c.render(now),
            _ => json!(self.coupon),
        };
        json!({
            "id": self.id, "object": "promotion_code", "active": self.usable(coupon, now), "code": self.code, "created": self.created,
            "customer": self.customer, "customer_account": null, "expires_at": self.expires_at, "livemode": false,
            "max_redemptions": self.max_redemptions, "metadata": self.metadata,
            "promotion": {"coupon": coupon_value, "type": "coupon"},
            "restrictions": {
                "first_time_transaction": self.first_time_transaction, "minimum_amount": self.minimum_amount,
                "minimum_amount_currency": self.minimum_amount_currency
            },
            "times_redeemed": self.times_redeemed
        })
    }
}

/// A coupon or promotion code applied (`di_…`).
#[derive(Debug, Clone)]
pub struct Discount {
    pub id: String,
    pub coupon: String,
    pub promotion_code: Option<String>,
    pub customer: Option<String>,
    pub subscription: Option<String>,
    pub checkout_session: Option<String>,
    pub start: i64,
    /// The end of a `repeating` coupon's months; `None` for `once` and `forever`.
    pub end: Option<i64>,
}

impl Discount {
    pub fn render(&self) -> Value {
        json!({
            "id": self.id, "object": "discount", "checkout_session": self.checkout_session, "customer": self.customer,
            "customer_account": null, "end": self.end, "invoice": null, "invoice_item": null, "promotion_code": self.promotion_code,
            "source": {"coupon": self.coupon, "type": "coupon"}, "start": self.start, "subscription": self.subscription,
            "subscription_item": null
        })
    }

    /// Whether it still discounts invoices made at `at`.
    pub fn live_at(&self, at: i64) -> bool {
        self.end.is_none_or(|end| at < end)
    }
}
