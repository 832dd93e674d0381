//! `POST /checkout` input: the body as a type, its validation against the catalog, and the
//! redirect URL rules. No I/O: every 4xx is decided here, before any Stripe call or write.

use billing::AppState;
use billing::Problem;
use billing::domain::custom_amount::{AmountInterval, CustomAmount, is_currency_code};
use billing::domain::plans::{Interval, PlanMode};
use billing::edge::http;
pub use billing::services::checkout::{CheckoutInput, CustomInput, Validated};
use lambda_http::Request;
use serde::Deserialize;

/// The `POST /checkout` body as sent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    pub plan: Option<String>,
    pub interval: Option<String>,
    pub quantity: Option<u64>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    /// For custom-amount entries only: the amount in the currency's minor unit.
    pub amount: Option<serde_json::Number>,
    /// The currency to pay in (a custom amount's, or one the plan's price offers).
    pub currency: Option<String>,
}

/// The body as a [`CheckoutBody`]; a `quantity` of the wrong type is an invalid quantity, as
/// one out of range is.
pub fn body(req: &Request) -> Result<CheckoutBody, Problem> {
    http::json_body(req, http::MAX_JSON_BODY).map_err(|problem| match problem.field.as_deref() {
        Some("quantity") => invalid_quantity(None),
        _ => problem,
    })
}

fn invalid_quantity(max: Option<u32>) -> Problem {
    let detail = match max {
        Some(max) => format!("`quantity` must be a whole number from 1 to {max}"),
        None => "`quantity` must be a whole number from 1 to the plan's maximum".to_owned(),
    };
    Problem::bad_request("/errors/invalid-quantity", detail).with_field("quantity")
}

/// Validates the body against the catalog and the redirect rules.
pub fn validate<'a>(state: &'a AppState, body: &CheckoutBody) -> Result<Validated<'a>, Problem> {
    let plan_id = body
        .plan
        .as_deref()
        .ok_or_else(|| Problem::bad_request("/errors/missing-field", "`plan` is required").with_field("plan"))?;
    if let Some(entry) = state.catalog.custom_amount(plan_id) {
        return validate_custom(state, body, entry).map(Validated::Custom);
    }
    validate_plan(state, body, plan_id).map(Validated::Plan)
}

fn unknown_currency(detail: impl Into<String>) -> Problem {
    Problem::bad_request("/errors/unknown-currency", detail).with_field("currency")
}

/// The `currency` field: three lower-case letters (upper case is accepted and lowered).
fn currency(body: &CheckoutBody) -> Result<Option<String>, Problem> {
    match body.currency.as_deref() {
        None => Ok(None),
        Some(value) => {
            let lowered = value.to_ascii_lowercase();
            if is_currency_code(&lowered) {
                Ok(Some(lowered))
            } else {
                Err(unknown_currency("`currency` must be a three-letter ISO 4217 code, e.g. eur"))
            }
        }
    }
}

fn validate_custom<'a>(state: &'a AppState, body: &CheckoutBody, entry: &'a CustomAmount) -> Result<CustomInput<'a>, Problem> {
    if body.quantity.is_some() {
        return Err(Problem::bad_request("/errors/invalid-quantity", "a custom amount takes no `quantity`").with_field("quantity"));
    }
    let interval = match body.interval.as_deref() {
        None => AmountInterval::OneTime,
        Some(value) => AmountInterval::parse(value).ok_or_else(|| {
            Problem::bad_request("/errors/unknown-interval", "`interval` must be one_time, day, week, month or year").with_field("interval")
        })?,
    };
    let currency = match currency(body)? {
        Some(currency) => currency,
        // One currency: it need not be named.
        None if entry.currencies.len() == 1 => entry.currencies.keys().next().cloned().unwrap_or_default(),
        None => {
            return Err(unknown_currency(format!(
                "`currency` is required: one of {}",
                entry.currencies.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
    };
    let amount = body.amount.as_ref().ok_or_else(|| {
        Problem::bad_request("/errors/missing-field", "`amount` is required (in the currency's minor unit)").with_field("amount")
    })?;
    // Minor units only: 2999 is 29.99 EUR; 29.99 or 2999.0 is refused, never rounded.
    let amount = amount.as_i64().filter(|_| !amount.is_f64()).ok_or_else(|| {
        Problem::bad_request(
            "/errors/invalid-amount",
            "`amount` must be a whole number in the currency's minor unit (2999 for 29.99)",
        )
        .with_field("amount")
    })?;
    entry.check(amount, &currency, interval).map_err(|err| {
        let kind = match err.field {
            "amount" => "/errors/invalid-amount",
            "currency" => "/errors/unknown-currency",
            _ => "/errors/unknown-interval",
        };
        Problem::bad_request(kind, err.detail).with_field(err.field)
    })?;
    let (success_url, cancel_url) = redirect_urls(state, body)?;
    Ok(CustomInput {
        entry,
        amount,
        currency,
        interval,
        success_url,
        cancel_url,
    })
}

fn validate_plan<'a>(state: &'a AppState, body: &CheckoutBody, plan_id: &str) -> Result<CheckoutInput<'a>, Problem> {
    let plan = state.catalog.get(plan_id).ok_or_else(|| {
        Problem::bad_request("/errors/unknown-plan", "`plan` names no plan in the catalog (see GET /plans)").with_field("plan")
    })?;
    if plan.free {
        return Err(Problem::bad_request("/errors/unknown-plan", "the free plan needs no checkout").with_field("plan"));
    }
    if body.amount.is_some() {
        return Err(Problem::bad_request(
            "/errors/amount-not-allowed",
            format!(
                "plan `{}` has its price in the catalog; `amount` is for custom-amount entries only",
                plan.id
            ),
        )
        .with_field("amount"));
    }
    let interval = match (body.interval.as_deref(), plan.mode) {
        (None, PlanMode::OneTime) => Interval::OneTime,
        (None, PlanMode::Subscription) => {
            return Err(Problem::bad_request("/errors/missing-field", "`interval` is required: month or year").with_field("interval"));
        }
        (Some(value), _) => Interval::parse(value).filter(|i| plan.price(*i).is_some()).ok_or_else(|| {
            Problem::bad_request(
                "/errors/unknown-interval",
                format!(
                    "plan `{}` is not sold per `{}`",
                    plan.id,
                    value.chars().take(16).collect::<String>()
                ),
            )
            .with_field("interval")
        })?,
    };
    let quantity = match body.quantity {
        None => 1,
        Some(q) if (1..=u64::from(plan.max_quantity)).contains(&q) => q,
        Some(_) => return Err(invalid_quantity(Some(plan.max_quantity))),
    };
    let currency = match (currency(body)?, plan.price(interval)) {
        (None, _) => None,
        (Some(currency), Some(price)) if price.offers(&currency) => Some(currency),
        (Some(currency), price) => {
            let offered = price
                .map(|p| p.currencies().into_keys().collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            return Err(unknown_currency(format!(
                "plan `{}` is not sold in `{currency}` (only {offered})",
                plan.id
            )));
        }
    };
    let (success_url, cancel_url) = redirect_urls(state, body)?;
    Ok(CheckoutInput {
        plan,
        interval,
        quantity,
        success_url,
        cancel_url,
        currency,
    })
}

/// The success and cancel URLs: the client's, when the redirect rules allow them, else the
/// defaults; the success URL carries the session id placeholder.
fn redirect_urls(state: &AppState, body: &CheckoutBody) -> Result<(String, String), Problem> {
    let redirects = &state.config.redirects;
    let success = http::redirect_url(redirects, "success_url", body.success_url.as_deref())?;
    let cancel = http::redirect_url(redirects, "cancel_url", body.cancel_url.as_deref())?;
    let defaulted = |url: url::Url, given: bool, param: &str| if given { url.to_string() } else { with_query(url.as_str(), param) };
    let mut success_url = defaulted(success, body.success_url.is_some(), "checkout=success");
    if !success_url.contains("{CHECKOUT_SESSION_ID}") {
        // Added verbatim: Stripe substitutes the literal placeholder (a URL library would
        // percent-encode the braces).
        success_url = with_query(&success_url, "session_id={CHECKOUT_SESSION_ID}");
    }
    let cancel_url = defaulted(cancel, body.cancel_url.is_some(), "checkout=canceled");
    Ok((success_url, cancel_url))
}

/// `url` with `pair` appended to its query, before any fragment.
fn with_query(url: &str, pair: &str) -> String {
    let (base, fragment) = url.split_once('#').map_or((url, None), |(b, f)| (b, Some(f)));
    let sep = if base.contains('?') { '&' } else { '?' };
    match fragment {
        Some(fragment) => format!("{base}{sep}{pair}#{fragment}"),
        None => format!("{base}{sep}{pair}"),
    }
}

#[cfg(test)]
mod tests {
    use billing::testkit;

    use super::*;

    fn state() -> AppState {
        testkit::state(testkit::config("billing-test", "http://127.0.0.1:9", None), crate::NEEDS).unwrap()
    }

    /// The body as the handler reads it (through the typed parser), then validated.
    fn input(json: serde_json::Value) -> Result<(String, String, u64, String, String), Problem> {
        let state = state();
        let req = testkit::event_with("checkout-create.json", |e| e["body"] = json.to_string().into());
        let body = super::body(&req)?;
        match validate(&state, &body)? {
            Validated::Plan(i) => Ok((i.plan.id.clone(), i.interval.to_string(), i.quantity, i.success_url, i.cancel_url)),
            Validated::Custom(c) => Ok((c.entry.id.clone(), c.interval.as_str().to_owned(), 0, c.success_url, c.cancel_url)),
        }
    }

    #[test]
    fn input_defaults_and_placeholders() {
        let (plan, interval, quantity, success, cancel) = input(serde_json::json!({"plan": "pro", "interval": "year"})).unwrap();
        assert_eq!((plan.as_str(), interval.as_str(), quantity), ("pro", "year", 1));
        assert_eq!(
            success,
            "http://localhost:3000/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}"
        );
        assert_eq!(cancel, "http://localhost:3000/billing?checkout=canceled");
        let (_, _, _, success, _) =
            input(serde_json::json!({"plan": "pro", "interval": "month", "success_url": "http://localhost:3000/ok?x=1#top"})).unwrap();
        assert_eq!(success, "http://localhost:3000/ok?x=1&session_id={CHECKOUT_SESSION_ID}#top");
        let (_, interval, _, _, _) = input(serde_json::json!({"plan": "lifetime"})).unwrap();
        assert_eq!(interval, "one_time");
        let (_, _, _, _, _) = input(serde_json::json!({"plan": "pro", "interval": "month", "quantity": null})).unwrap();
    }

    #[test]
    fn each_bad_input_names_its_field() {
        let cases = [
            (serde_json::json!({}), "plan"),
            (serde_json::json!({"plan": "gold", "interval": "month"}), "plan"),
            (serde_json::json!({"plan": "free", "interval": "month"}), "plan"),
            (serde_json::json!({"plan": 7, "interval": "month"}), "plan"),
            (serde_json::json!({"plan": "pro"}), "interval"),
            (serde_json::json!({"plan": "pro", "interval": "week"}), "interval"),
            (serde_json::json!({"plan": "pro", "interval": ["month"]}), "interval"),
            (serde_json::json!({"plan": "lifetime", "interval": "month"}), "interval"),
            (serde_json::json!({"plan": "pro", "interval": "month", "quantity": 0}), "quantity"),
            (
                serde_json::json!({"plan": "starter", "interval": "month", "quantity": 6}),
                "quantity",
            ),
            (serde_json::json!({"plan": "pro", "interval": "month", "quantity": 1.5}), "quantity"),
            (serde_json::json!({"plan": "pro", "interval": "month", "quantity": -1}), "quantity"),
            (serde_json::json!({"plan": "pro", "interval": "month", "quantity": "2"}), "quantity"),
            (
                serde_json::json!({"plan": "pro", "interval": "month", "success_url": "https://evil.example.com/"}),
                "success_url",
            ),
            (
                serde_json::json!({"plan": "pro", "interval": "month", "cancel_url": "javascript:alert(1)"}),
                "cancel_url",
            ),
            (
                serde_json::json!({"plan": "pro", "interval": "month", "success_url": "http://user:pw@localhost:3000/"}),
                "success_url",
            ),
            (serde_json::json!({"plan": "pro", "interval": "month", "extra": true}), "extra"),
            // Currencies and amounts.
            (
                serde_json::json!({"plan": "pro", "interval": "month", "currency": "gbp"}),
                "currency",
            ),
            (
                serde_json::json!({"plan": "pro", "interval": "month", "currency": "euro"}),
                "currency",
            ),
            (
                serde_json::json!({"plan": "starter", "interval": "month", "currency": "eur"}),
                "currency",
            ),
            (serde_json::json!({"plan": "pro", "interval": "month", "amount": 100}), "amount"),
            (serde_json::json!({"plan": "donation", "amount": 2999}), "currency"),
            (serde_json::json!({"plan": "donation", "currency": "eur"}), "amount"),
            (
                serde_json::json!({"plan": "donation", "currency": "eur", "amount": 29.99}),
                "amount",
            ),
            (
                serde_json::json!({"plan": "donation", "currency": "eur", "amount": 2999.0}),
                "amount",
            ),
            (
                serde_json::json!({"plan": "donation", "currency": "eur", "amount": "2999"}),
                "amount",
            ),
            (serde_json::json!({"plan": "donation", "currency": "eur", "amount": 99}), "amount"),
            (
                serde_json::json!({"plan": "donation", "currency": "eur", "amount": 100_001}),
                "amount",
            ),
            (serde_json::json!({"plan": "donation", "currency": "eur", "amount": -5}), "amount"),
            (
                serde_json::json!({"plan": "donation", "currency": "gbp", "amount": 2999}),
                "currency",
            ),
            (
                serde_json::json!({"plan": "donation", "currency": "eur", "amount": 2999, "interval": "day"}),
                "interval",
            ),
            (
                serde_json::json!({"plan": "donation", "currency": "eur", "amount": 2999, "interval": "fortnight"}),
                "interval",
            ),
            (
                serde_json::json!({"plan": "donation", "currency": "eur", "amount": 2999, "quantity": 2}),
                "quantity",
            ),
        ];
        for (json, field) in cases {
            let problem = input(json.clone()).unwrap_err();
            assert_eq!(problem.status, 400, "{json}");
            assert_eq!(problem.field.as_deref(), Some(field), "{json}: {problem:?}");
            if field == "quantity" {
                assert_eq!(problem.kind, "/errors/invalid-quantity", "{json}");
            }
            if field == "currency" {
                assert_eq!(problem.kind, "/errors/unknown-currency", "{json}");
            }
            assert!(!problem.detail.contains("evil") && !problem.detail.contains("alert"), "{problem:?}");
        }
    }

    #[test]
    fn custom_amounts_and_currencies() {
        let state = state();
        let req = testkit::event_with("checkout-create.json", |e| {
            e["body"] = serde_json::json!({"plan": "donation", "amount": 2999, "currency": "EUR", "interval": "month"})
                .to_string()
                .into()
        });
        let Validated::Custom(custom) = validate(&state, &super::body(&req).unwrap()).unwrap() else {
            panic!("a custom amount")
        };
        assert_eq!(
            (custom.amount, custom.currency.as_str(), custom.interval),
            (2999, "eur", AmountInterval::Month)
        );
        let req = testkit::event_with("checkout-create.json", |e| {
            e["body"] = serde_json::json!({"plan": "donation", "amount": 500, "currency": "jpy"})
                .to_string()
                .into()
        });
        let Validated::Custom(yen) = validate(&state, &super::body(&req).unwrap()).unwrap() else {
            panic!("a custom amount")
        };
        assert_eq!(
            (yen.amount, yen.interval),
            (500, AmountInterval::OneTime),
            "yen in whole units, once by default"
        );
        let req = testkit::event_with("checkout-create.json", |e| {
            e["body"] = serde_json::json!({"plan": "pro", "interval": "year", "currency": "eur"})
                .to_string()
                .into()
        });
        let Validated::Plan(plan) = validate(&state, &super::body(&req).unwrap()).unwrap() else {
            panic!("a plan")
        };
        assert_eq!(plan.currency.as_deref(), Some("eur"));
    }

    #[test]
    fn bodies_that_are_not_objects_are_malformed() {
        for body in ["[1]", "\"plan\"", "{", "null"] {
            let req = testkit::event_with("checkout-create.json", |e| e["body"] = body.into());
            let problem = http::json_body::<CheckoutBody>(&req, http::MAX_JSON_BODY).unwrap_err();
            assert_eq!((problem.status, problem.kind), (400, "/errors/malformed-body"), "{body}");
            assert_eq!(problem.field, None, "{body}");
        }
    }
}
