//! Promotion codes applied to a live subscription (`POST /subscription/discount`): reading a
//! Stripe promotion code, and whether a customer may use it now.
//!
//! - A code is usable when it is `active`, not past `expires_at`, not exhausted
//!   (`times_redeemed < max_redemptions`), its coupon is `valid`, it is not restricted to
//!   another customer, and not to first-time transactions (a live subscription has transacted).
//! - One discount per subscription: a subscription that carries another discount already is
//!   refused, so codes never stack and a discount sales gave is never silently replaced.
//! - The same code again is a no-op (idempotent): the subscription's
//!   `metadata.promotion_code` (written with the discount) or an expanded discount names it.

use serde::Serialize;
use serde_json::Value;

/// `USER#<sub>` / `PROMO#<promotion code id>`: a customer redeemed this code through
/// `POST /subscription/discount` (once per customer: a `once` code Stripe removed after its
/// invoice cannot be applied again next period).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Redemption {
    pub pk: String,
    pub sk: String,
    pub promotion_code: String,
    pub subscription_id: String,
    pub redeemed_at: i64,
}

impl Redemption {
    pub fn new(partition: &str, promotion_code: &str, subscription_id: &str, now: i64) -> Self {
        Self {
            pk: partition.to_owned(),
            sk: format!("{REDEMPTION_PREFIX}{promotion_code}"),
            promotion_code: promotion_code.to_owned(),
            subscription_id: subscription_id.to_owned(),
            redeemed_at: now,
        }
    }
}

/// Sort key prefix of [`Redemption`]s.
pub const REDEMPTION_PREFIX: &str = "PROMO#";

/// The metadata key naming the promotion code this service applied.
pub const PROMOTION_CODE_METADATA: &str = "promotion_code";
/// The longest code looked up (Stripe's codes are at most 500 characters).
pub const MAX_CODE_LEN: usize = 500;

/// A promotion code and its coupon, as the rules read them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromotionCode {
    pub id: String,
    pub code: String,
    #[serde(skip)]
    pub active: bool,
    #[serde(skip)]
    pub expires_at: Option<i64>,
    #[serde(skip)]
    pub max_redemptions: Option<u64>,
    #[serde(skip)]
    pub times_redeemed: u64,
    #[serde(skip)]
    pub customer: Option<String>,
    #[serde(skip)]
    pub first_time_only: bool,
    pub coupon: Coupon,
}

/// The coupon a promotion code applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coupon {
    pub id: String,
    #[serde(skip)]
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent_off: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_off: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// `once`, `repeating`, `forever`.
    pub duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_in_months: Option<i64>,
}

/// Why a code cannot be used (all answered `400 /errors/invalid-promotion-code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("no promotion code has this code")]
    Unknown,
    #[error("this promotion code is not active")]
    Inactive,
    #[error("this promotion code has expired")]
    Expired,
    #[error("this promotion code has been used up")]
    Exhausted,
    #[error("this promotion code is not for this customer")]
    OtherCustomer,
    #[error("this promotion code is for first purchases only")]
    FirstTimeOnly,
    #[error("this promotion code was redeemed by this customer before")]
    Redeemed,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Reads a `promotion_code` object (the current API's `promotion.coupon`, or an older
/// top-level `coupon`); `None` when it lacks an id or a coupon.
pub fn parse_promotion_code(v: &Value) -> Option<PromotionCode> {
    let coupon = v.get("promotion").and_then(|p| p.get("coupon")).or_else(|| v.get("coupon"))?;
    let coupon = match coupon {
        Value::String(id) => Coupon {
            id: id.clone(),
            valid: true,
            percent_off: None,
            amount_off: None,
            currency: None,
            duration: None,
            duration_in_months: None,
        },
        object => Coupon {
            id: text(object, "id")?,
            valid: object.get("valid").and_then(Value::as_bool).unwrap_or(true),
            percent_off: object.get("percent_off").filter(|p| !p.is_null()).map(|p| p.to_string()),
            amount_off: object.get("amount_off").and_then(Value::as_i64),
            currency: text(object, "currency"),
            duration: text(object, "duration"),
            duration_in_months: object.get("duration_in_months").and_then(Value::as_i64),
        },
    };
    let restrictions = v.get("restrictions");
    Some(PromotionCode {
        id: text(v, "id")?,
        code: text(v, "code").unwrap_or_default(),
        active: v.get("active").and_then(Value::as_bool).unwrap_or(false),
        expires_at: v.get("expires_at").and_then(Value::as_i64),
        max_redemptions: v.get("max_redemptions").and_then(Value::as_u64),
        times_redeemed: v.get("times_redeemed").and_then(Value::as_u64).unwrap_or(0),
        customer: v
            .get("customer")
            .and_then(|c| c.as_str().map(str::to_owned).or_else(|| text(c, "id"))),
        first_time_only: restrictions
            .and_then(|r| r.get("first_time_transaction"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        coupon,
    })
}

/// Whether `customer` may apply `code` at `now` (see the module docs).
pub fn usable(code: &PromotionCode, customer: &str, now: i64) -> Result<(), Unusable> {
    if !code.active {
        return Err(Unusable::Inactive);
    }
    if code.expires_at.is_some_and(|at| now >= at) || !code.coupon.valid {
        return Err(Unusable::Expired);
    }
    if code.max_redemptions.is_some_and(|max| code.times_redeemed >= max) {
        return Err(Unusable::Exhausted);
    }
    if code.customer.as_deref().is_some_and(|c| c != customer) {
        return Err(Unusable::OtherCustomer);
    }
    if code.first_time_only {
        return Err(Unusable::FirstTimeOnly);
    }
    Ok(())
}

/// The discounts a subscription carries: how many, and the promotion codes among them that
/// are known (expanded discount objects, or `metadata.promotion_code`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discounts {
    pub count: usize,
    pub promotion_codes: Vec<String>,
}

/// Reads a subscription's `discounts` (ids or expanded objects) and its metadata.
pub fn subscription_discounts(subscription: &Value) -> Discounts {
    let list = subscription.get("discounts").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut promotion_codes: Vec<String> = list
        .iter()
        .filter_map(|d| d.get("promotion_code"))
        .filter_map(|p| p.as_str().map(str::to_owned).or_else(|| text(p, "id")))
        .collect();
    if !list.is_empty()
        && let Some(id) = subscription
            .get("metadata")
            .and_then(|m| m.get(PROMOTION_CODE_METADATA))
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
    {
        promotion_codes.push(id.to_owned());
    }
    Discounts {
        count: list.len(),
        promotion_codes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code() -> PromotionCode {
        parse_promotion_code(&json!({
            "id": "promo_1", "object": "promotion_code", "code": "SPRING", "active": true,
            "expires_at": 2_000, "max_redemptions": 2, "times_redeemed": 1, "customer": null,
            "restrictions": {"first_time_transaction": false},
            "promotion": {"type": "coupon", "coupon": {"id": "co_1", "valid": true, "percent_off": 20, "duration": "once"}}
        }))
        .unwrap()
    }

    #[test]
    fn a_code_is_usable_only_while_active_unexpired_unexhausted_and_for_this_customer() {
        assert_eq!(usable(&code(), "cus_1", 1_000), Ok(()));
        assert_eq!(usable(&code(), "cus_1", 2_000), Err(Unusable::Expired));
        let used_up = PromotionCode {
            times_redeemed: 2,
            ..code()
        };
        assert_eq!(usable(&used_up, "cus_1", 1_000), Err(Unusable::Exhausted));
        let inactive = PromotionCode { active: false, ..code() };
        assert_eq!(usable(&inactive, "cus_1", 1_000), Err(Unusable::Inactive));
        let other = PromotionCode {
            customer: Some("cus_2".into()),
            ..code()
        };
        assert_eq!(usable(&other, "cus_1", 1_000), Err(Unusable::OtherCustomer));
        let first = PromotionCode {
            first_time_only: true,
            ..code()
        };
        assert_eq!(usable(&first, "cus_1", 1_000), Err(Unusable::FirstTimeOnly));
        let mut invalid = code();
        invalid.coupon.valid = false;
        assert_eq!(usable(&invalid, "cus_1", 1_000), Err(Unusable::Expired));
    }

    #[test]
    fn discounts_name_their_codes_from_objects_or_metadata_only_while_a_discount_exists() {
        let ids = json!({"discounts": ["di_1"], "metadata": {"promotion_code": "promo_1"}});
        assert_eq!(subscription_discounts(&ids).promotion_codes, vec!["promo_1".to_owned()]);
        let removed = json!({"discounts": [], "metadata": {"promotion_code": "promo_1"}});
        assert_eq!(subscription_discounts(&removed), Discounts::default());
        let expanded = json!({"discounts": [{"id": "di_1", "promotion_code": "promo_9"}]});
        assert_eq!(subscription_discounts(&expanded).promotion_codes, vec!["promo_9".to_owned()]);
    }
}
