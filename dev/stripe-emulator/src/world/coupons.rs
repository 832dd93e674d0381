//! Coupons and promotion codes: create, retrieve, list, update (with `coupon.*` and
//! `promotion_code.*` events), and the two codes seeded for the hosted Checkout page. Applying
//! them (discounts) is in `discounts`.

use super::subscriptions::{changed_fields, merge_metadata};
use super::*;
use crate::ids::code;
use crate::params::one_of;

/// The seeded promotion codes: code, percent off (duration `once`).
pub const SEEDED_CODES: [(&str, u32); 2] = [("FREE100", 100), ("HALF50", 50)];

fn already_exists(param: &str, message: impl Into<String>) -> StripeError {
    StripeError {
        code: Some("resource_already_exists"),
        ..StripeError::invalid(param, message)
    }
}

/// `restrictions[first_time_transaction|minimum_amount|minimum_amount_currency]`, each `None`
/// when not given.
struct Restrictions {
    first_time_transaction: Option<bool>,
    minimum_amount: Option<i64>,
    minimum_amount_currency: Option<String>,
}

impl Restrictions {
    fn parse(params: &Params) -> Result<Self, StripeError> {
        if let Some(Value::Object(map)) = params.value("restrictions")
            && let Some(unknown) = map.keys().find(|k| {
                !matches!(
                    k.as_str(),
                    "first_time_transaction" | "minimum_amount" | "minimum_amount_currency" | "currency_options"
                )
            })
        {
            return Err(StripeError::unknown_param(&format!("restrictions[{unknown}]")));
        }
        let minimum_amount = params.i64("restrictions.minimum_amount")?;
        if minimum_amount.is_some_and(|m| m < 0) {
            return Err(StripeError::invalid(
                "restrictions[minimum_amount]",
                "This value must be greater than or equal to 0.",
            ));
        }
        let minimum_amount_currency = params.str("restrictions.minimum_amount_currency")?.map(str::to_lowercase);
        if minimum_amount.is_some() != minimum_amount_currency.is_some() {
            return Err(StripeError::invalid(
                "restrictions[minimum_amount_currency]",
                "`restrictions[minimum_amount]` and `restrictions[minimum_amount_currency]` must be given together.",
            ));
        }
        Ok(Self {
            first_time_transaction: params.bool("restrictions.first_time_transaction")?,
            minimum_amount,
            minimum_amount_currency,
        })
    }

    fn apply(self, promo: &mut PromotionCode) {
        if let Some(first) = self.first_time_transaction {
            promo.first_time_transaction = first;
        }
        if self.minimum_amount.is_some() {
            promo.minimum_amount = self.minimum_amount;
            promo.minimum_amount_currency = self.minimum_amount_currency;
        }
    }
}

impl World {
    /// The seeded coupons and their promotion codes (no events: they exist before anyone looks).
    pub(super) fn seed_promotion_codes(&mut self, now: i64) {
        for (text, percent_off) in SEEDED_CODES {
            let coupon = Coupon {
                id: code(8),
                name: Some(format!("{percent_off}% off")),
                percent_off: Some(f64::from(percent_off)),
                amount_off: None,
                currency: None,
                duration: "once".into(),
                duration_in_months: None,
                max_redemptions: None,
                redeem_by: None,
                times_redeemed: 0,
                metadata: Metadata::new(),
                created: now,
            };
            let promo = PromotionCode {
                id: new_id("promo"),
                code: text.into(),
                coupon: coupon.id.clone(),
                active: true,
                customer: None,
                expires_at: None,
                max_redemptions: None,
                times_redeemed: 0,
                first_time_transaction: false,
                minimum_amount: None,
                minimum_amount_currency: None,
                metadata: Metadata::new(),
                created: now,
            };
            self.track(&coupon.id);
            self.coupons.insert(coupon.id.clone(), coupon);
            self.track(&promo.id);
            self.promotion_codes.insert(promo.id.clone(), promo);
        }
    }

    /// `FREE100 (100 % off) · HALF50 (50 % off)`: the first usable codes `customer` could enter
    /// (at most five, oldest first), for the hosted Checkout page.
    pub fn promotion_code_hints(&self, customer: Option<&str>) -> String {
        let now = self.now();
        let mut ids = self.newest_first(self.promotion_codes.keys());
        ids.reverse();
        ids.iter()
            .map(|id| &self.promotion_codes[id])
            .filter(|p| p.customer.is_none() || p.customer.as_deref() == customer)
            .filter_map(|p| {
                let coupon = self.coupons.get(&p.coupon).filter(|_| p.usable(self.coupons.get(&p.coupon), now))?;
                Some(format!("{} ({})", p.code, coupon.describe()))
            })
            .take(5)
            .collect::<Vec<_>>()
            .join(" · ")
    }

    /// `POST /v1/coupons`.
    pub fn create_coupon(&mut self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&[
            "id",
            "name",
            "percent_off",
            "amount_off",
            "currency",
            "duration",
            "duration_in_months",
            "max_redemptions",
            "redeem_by",
            "metadata",
        ])?;
        let now = self.now();
        let id = match params.str("id")? {
            Some(id) if self.coupons.contains_key(id) => return Err(already_exists("id", "Coupon already exists.")),
            Some(id) => id.to_owned(),
            None => code(8),
        };
        let (percent_off, amount_off) = (params.f64("percent_off")?, params.i64("amount_off")?);
        let currency = params.str("currency")?.map(str::to_lowercase);
        match (percent_off, amount_off) {
            (Some(_), Some(_)) => {
                return Err(StripeError::invalid(
                    "percent_off",
                    "You may only specify one of these parameters: amount_off, percent_off.",
                ));
            }
            (None, None) => {
                return Err(StripeError::invalid(
                    "percent_off",
                    "You must pass either `percent_off` or `amount_off` (with `currency`).",
                ));
            }
            (Some(p), None) if !(p > 0.0 && p <= 100.0) => {
                return Err(StripeError::invalid(
                    "percent_off",
                    "Invalid percent_off: must be greater than 0 and at most 100.",
                ));
            }
            (None, Some(a)) if a <= 0 => return Err(StripeError::invalid("amount_off", "Invalid amount_off: must be greater than 0.")),
            (None, Some(_)) if currency.is_none() => {
                return Err(StripeError::invalid("currency", "You must pass `currency` with `amount_off`."));
            }
            _ => {}
        }
        if let Some(c) = &currency
            && !(c.len() == 3 && c.bytes().all(|b| b.is_ascii_lowercase()))
        {
            return Err(StripeError::invalid("currency", format!("Invalid currency: {c}")));
        }
        let duration = one_of(params, "duration", COUPON_DURATIONS)?.unwrap_or("once").to_owned();
        let months = params.i64("duration_in_months")?;
        match (duration.as_str(), months) {
            ("repeating", None) => return Err(StripeError::missing_param("duration_in_months")),
            ("repeating", Some(m)) if m <= 0 => {
                return Err(StripeError::invalid(
                    "duration_in_months",
                    "duration_in_months must be a positive integer.",
                ));
            }
            (other, Some(_)) if other != "repeating" => {
                return Err(StripeError::invalid(
                    "duration_in_months",
                    "You can only pass duration_in_months when duration is `repeating`.",
                ));
            }
            _ => {}
        }
        let max_redemptions = params.i64("max_redemptions")?;
        if max_redemptions.is_some_and(|m| m <= 0) {
            return Err(StripeError::invalid(
                "max_redemptions",
                "max_redemptions must be a positive integer.",
            ));
        }
        let redeem_by = params.i64("redeem_by")?;
        if redeem_by.is_some_and(|at| at <= now) {
            return Err(StripeError::invalid("redeem_by", "redeem_by must be in the future."));
        }
        let name = params.str("name")?.map(str::to_owned);
        if name.as_ref().is_some_and(|n| n.chars().count() > 40) {
            return Err(StripeError::invalid("name", "name must be at most 40 characters."));
        }
        let coupon = Coupon {
            id: id.clone(),
            name,
            percent_off,
            amount_off,
            currency: currency.filter(|_| amount_off.is_some()),
            duration,
            duration_in_months: months,
            max_redemptions,
            redeem_by,
            times_redeemed: 0,
            metadata: params.metadata("metadata")?,
            created: now,
        };
        let rendered = coupon.render(now);
        self.track(&id);
        self.coupons.insert(id, coupon);
        self.emit("coupon.created", rendered.clone(), None);
        Ok(rendered)
    }

    pub fn coupon(&self, id: &str) -> Result<Value, StripeError> {
        self.coupons
            .get(id)
            .map(|c| c.render(self.now()))
            .ok_or_else(|| StripeError::no_such("coupon", id, "id"))
    }

    /// `GET /v1/coupons`: newest first, cursors, `created`.
    pub fn list_coupons(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["limit", "starting_after", "ending_before", "created"])?;
        let created = super::events::CreatedFilter::from_params(params)?;
        let now = self.now();
        let items = self
            .newest_first(self.coupons.keys())
            .iter()
            .map(|id| &self.coupons[id])
            .filter(|c| created.accepts(c.created))
            .map(|c| (c.id.clone(), c.render(now)))
            .collect();
        let (data, has_more) = paginate_both(items, params.str("starting_after")?, params.str("ending_before")?, params.limit()?)?;
        Ok(list("/v1/coupons", data, has_more))
    }

    /// `POST /v1/coupons/{id}`: only `name` and `metadata` change (`coupon.updated`).
    pub fn update_coupon(&mut self, id: &str, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["name", "metadata"])?;
        let now = self.now();
        let before = self.coupon(id)?;
        let name = params
            .value("name")
            .map(|_| params.str("name").map(|n| n.map(str::to_owned)))
            .transpose()?;
        if name.as_ref().and_then(Option::as_ref).is_some_and(|n| n.chars().count() > 40) {
            return Err(StripeError::invalid("name", "name must be at most 40 characters."));
        }
        let metadata = params.metadata("metadata")?;
        let coupon = self.coupons.get_mut(id).expect("checked");
        if let Some(name) = name {
            coupon.name = name;
        }
        merge_metadata(&mut coupon.metadata, metadata);
        let after = coupon.render(now);
        if let Some(previous) = changed_fields(&before, &after) {
            self.emit("coupon.updated", after.clone(), Some(previous));
        }
        Ok(after)
    }

    fn render_promotion_code(&self, promo: &PromotionCode, params: &Params) -> Value {
        let expand = params
            .strings("expand")
            .iter()
            .any(|e| e == "promotion.coupon" || e == "data.promotion.coupon");
        promo.render(self.coupons.get(&promo.coupon), self.now(), expand)
    }

    /// Another usable promotion code with the same code (any case) for the same customer.
    fn code_taken(&self, text: &str, customer: Option<&str>, except: Option<&str>) -> bool {
        let now = self.now();
        self.promotion_codes.values().any(|p| {
            Some(p.id.as_str()) != except
                && p.code.eq_ignore_ascii_case(text)
                && p.customer.as_deref() == customer
                && p.usable(self.coupons.get(&p.coupon), now)
        })
    }

    /// `POST /v1/promotion_codes`: `promotion[type]=coupon` with `promotion[coupon]`, `code`
    /// (generated when absent), `active`, `customer`, `expires_at`, `max_redemptions`,
    /// `restrictions[…]`, `metadata`.
    pub fn create_promotion_code(&mut self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&[
            "promotion",
            "code",
            "active",
            "customer",
            "expires_at",
            "max_redemptions",
            "metadata",
            "restrictions",
        ])?;
        let now = self.now();
        match params.value("promotion") {
            None => return Err(StripeError::missing_param("promotion")),
            Some(Value::Object(map)) => {
                if let Some(unknown) = map.keys().find(|k| !matches!(k.as_str(), "type" | "coupon")) {
                    return Err(StripeError::unknown_param(&format!("promotion[{unknown}]")));
                }
            }
            Some(_) => return Err(StripeError::invalid("promotion", "Invalid object: promotion")),
        }
        if params.required_str("promotion.type")? != "coupon" {
            return Err(StripeError::invalid("promotion[type]", "Invalid promotion[type]: must be coupon"));
        }
        let coupon_id = params.required_str("promotion.coupon")?;
        let coupon = self
            .coupons
            .get(coupon_id)
            .ok_or_else(|| StripeError::no_such_ref("coupon", coupon_id, "promotion[coupon]"))?;
        if !coupon.valid(now) {
            return Err(StripeError {
                code: Some("coupon_expired"),
                ..StripeError::invalid("promotion[coupon]", format!("Coupon expired: {coupon_id}"))
            });
        }
        let customer = params.str("customer")?.map(str::to_owned);
        if let Some(c) = &customer {
            self.live_customer(c, "customer")?;
        }
        let text = match params.str("code")? {
            Some(text) if text.len() > 500 || !text.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                return Err(StripeError::invalid(
                    "code",
                    "Invalid code: use at most 500 letters (a-z, A-Z) and digits (0-9).",
                ));
            }
            Some(text) => text.to_owned(),
            None => code(8),
        };
        if self.code_taken(&text, customer.as_deref(), None) {
            return Err(already_exists(
                "code",
                format!("An active promotion code with `code: {text}` already exists."),
            ));
        }
        let expires_at = params.i64("expires_at")?;
        if expires_at.is_some_and(|at| at <= now) {
            return Err(StripeError::invalid("expires_at", "expires_at must be in the future."));
        }
        if let (Some(at), Some(redeem_by)) = (expires_at, coupon.redeem_by)
            && at > redeem_by
        {
            return Err(StripeError::invalid(
                "expires_at",
                "expires_at cannot be after the coupon's redeem_by.",
            ));
        }
        let max_redemptions = params.i64("max_redemptions")?;
        if max_redemptions.is_some_and(|m| m <= 0) {
            return Err(StripeError::invalid(
                "max_redemptions",
                "max_redemptions must be a positive integer.",
            ));
        }
        let restrictions = Restrictions::parse(params)?;
        let mut promo = PromotionCode {
            id: new_id("promo"),
            code: text,
            coupon: coupon_id.to_owned(),
            active: params.bool("active")?.unwrap_or(true),
            customer,
            expires_at,
            max_redemptions,
            times_redeemed: 0,
            first_time_transaction: false,
            minimum_amount: None,
            minimum_amount_currency: None,
            metadata: params.metadata("metadata")?,
            created: now,
        };
        restrictions.apply(&mut promo);
        let rendered = self.render_promotion_code(&promo, params);
        self.track(&promo.id);
        self.promotion_codes.insert(promo.id.clone(), promo);
        self.emit("promotion_code.created", rendered.clone(), None);
        Ok(rendered)
    }

    pub fn promotion_code(&self, id: &str, params: &Params) -> Result<Value, StripeError> {
        self.promotion_codes
            .get(id)
            .map(|p| self.render_promotion_code(p, params))
            .ok_or_else(|| StripeError::no_such("promotion_code", id, "id"))
    }

    /// `GET /v1/promotion_codes`: `code` (exact, any case), `active`, `coupon`, `customer`,
    /// `created`; newest first.
    pub fn list_promotion_codes(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&[
            "code",
            "active",
            "coupon",
            "customer",
            "created",
            "limit",
            "starting_after",
            "ending_before",
        ])?;
        let (text, active) = (params.str("code")?, params.bool("active")?);
        let (coupon, customer) = (params.str("coupon")?, params.str("customer")?);
        let created = super::events::CreatedFilter::from_params(params)?;
        let now = self.now();
        let items = self
            .newest_first(self.promotion_codes.keys())
            .iter()
            .map(|id| &self.promotion_codes[id])
            .filter(|p| text.is_none_or(|t| p.code.eq_ignore_ascii_case(t)))
            .filter(|p| active.is_none_or(|a| p.usable(self.coupons.get(&p.coupon), now) == a))
            .filter(|p| coupon.is_none_or(|c| p.coupon == c) && customer.is_none_or(|c| p.customer.as_deref() == Some(c)))
            .filter(|p| created.accepts(p.created))
            .map(|p| (p.id.clone(), self.render_promotion_code(p, params)))
            .collect();
        let (data, has_more) = paginate_both(items, params.str("starting_after")?, params.str("ending_before")?, params.limit()?)?;
        Ok(list("/v1/promotion_codes", data, has_more))
    }

    /// `POST /v1/promotion_codes/{id}`: `active`, `metadata`, `restrictions[…]`
    /// (`promotion_code.updated`).
    pub fn update_promotion_code(&mut self, id: &str, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["active", "metadata", "restrictions"])?;
        let before = self.promotion_code(id, &Params::empty())?;
        let active = params.bool("active")?;
        let restrictions = Restrictions::parse(params)?;
        let metadata = params.metadata("metadata")?;
        let current = &self.promotion_codes[id];
        if active == Some(true) && !current.active && self.code_taken(&current.code, current.customer.as_deref(), Some(id)) {
            return Err(already_exists(
                "active",
                format!("An active promotion code with `code: {}` already exists.", current.code),
            ));
        }
        let promo = self.promotion_codes.get_mut(id).expect("checked");
        if let Some(active) = active {
            promo.active = active;
        }
        restrictions.apply(promo);
        merge_metadata(&mut promo.metadata, metadata);
        let after = self.promotion_code(id, &Params::empty())?;
        if let Some(previous) = changed_fields(&before, &after) {
            self.emit("promotion_code.updated", after, Some(previous));
        }
        self.promotion_code(id, params)
    }
}
