//! Retention calls of the Stripe port: pausing and resuming collection, and promotion codes on
//! live subscriptions.

use serde_json::{Map, Value, json};
use stripe_client_core::{RequestBuilder, StripeMethod};

use super::billing::form;
use super::{GatewayError, Stripe};
use crate::domain::discounts::{Discounts, PROMOTION_CODE_METADATA, PromotionCode, parse_promotion_code, subscription_discounts};
use crate::domain::objects::{SubscriptionSnapshot, parse_subscription};

fn unreadable(operation: &'static str, what: &'static str) -> GatewayError {
    GatewayError::Unreadable { operation, what }
}

impl Stripe {
    /// `POST /v1/subscriptions/{id}` with `pause_collection[behavior|resumes_at]`.
    pub async fn pause_collection(
        &self,
        id: &str,
        behavior: &str,
        resumes_at: Option<i64>,
        key: &str,
    ) -> Result<SubscriptionSnapshot, GatewayError> {
        let mut pause = Map::new();
        pause.insert("behavior".into(), behavior.into());
        if let Some(at) = resumes_at {
            pause.insert("resumes_at".into(), at.into());
        }
        let request = form(
            StripeMethod::Post,
            format!("/subscriptions/{id}"),
            &json!({"pause_collection": pause}),
        );
        let value = self.json("pause_collection", "subscription", request, Some(key)).await?;
        parse_subscription(&value).ok_or_else(|| unreadable("pause_collection", "subscription"))
    }

    /// `POST /v1/subscriptions/{id}` with `pause_collection=` (lifted). With `new_period`, the
    /// period restarts now and its full price is charged at once
    /// (`billing_cycle_anchor=now`, `proration_behavior=none`): when that payment fails Stripe
    /// refuses the whole update (`payment_behavior=error_if_incomplete`, a 402) and collection
    /// stays paused.
    pub async fn resume_collection(&self, id: &str, new_period: bool, key: &str) -> Result<SubscriptionSnapshot, GatewayError> {
        let mut params = json!({"pause_collection": ""});
        if new_period {
            params["billing_cycle_anchor"] = "now".into();
            params["proration_behavior"] = "none".into();
            params["payment_behavior"] = "error_if_incomplete".into();
        }
        let request = form(StripeMethod::Post, format!("/subscriptions/{id}"), &params);
        let value = self.json("resume_collection", "subscription", request, Some(key)).await?;
        parse_subscription(&value).ok_or_else(|| unreadable("resume_collection", "subscription"))
    }

    /// The promotion code whose code is `code` (Stripe matches codes case-insensitively), with
    /// its coupon: an active one when there is one. `None` when no code matches.
    pub async fn find_promotion_code(&self, code: &str) -> Result<Option<PromotionCode>, GatewayError> {
        let params = json!({"code": code, "limit": 10, "expand": ["data.promotion.coupon"]});
        let request = RequestBuilder::new(StripeMethod::Get, "/promotion_codes").query(&params);
        let page = self.json("list_promotion_codes", "promotion code", request, None).await?;
        let data = page
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| unreadable("list_promotion_codes", "promotion code list"))?;
        let mut codes: Vec<PromotionCode> = data
            .iter()
            .filter_map(parse_promotion_code)
            .filter(|p| p.code.eq_ignore_ascii_case(code))
            .collect();
        codes.sort_by_key(|p| !p.active);
        Ok(codes.into_iter().next())
    }

    /// The discounts of subscription `id` (expanded, so their promotion codes are known).
    pub async fn subscription_discounts(&self, id: &str) -> Result<Option<Discounts>, GatewayError> {
        let request = RequestBuilder::new(StripeMethod::Get, format!("/subscriptions/{id}")).query(&json!({"expand": ["discounts"]}));
        match self.json("retrieve_subscription", "subscription", request, None).await {
            Ok(value) => Ok(Some(subscription_discounts(&value))),
            Err(GatewayError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `POST /v1/subscriptions/{id}` with `discounts[0][promotion_code]` (and the code's id in
    /// `metadata.promotion_code`, so a repeat is known as one).
    pub async fn apply_promotion_code(&self, id: &str, promotion_code: &str, key: &str) -> Result<SubscriptionSnapshot, GatewayError> {
        let params = json!({
            "discounts": [{"promotion_code": promotion_code}],
            "metadata": {PROMOTION_CODE_METADATA: promotion_code},
        });
        let request = form(StripeMethod::Post, format!("/subscriptions/{id}"), &params);
        let value = self.json("apply_promotion_code", "subscription", request, Some(key)).await?;
        parse_subscription(&value).ok_or_else(|| unreadable("apply_promotion_code", "subscription"))
    }
}
