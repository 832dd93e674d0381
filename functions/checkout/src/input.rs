//! `POST /checkout` input: the body as a type, its validation against the catalog, and the
//! redirect URL rules. No I/O: every 4xx is decided here, before any Stripe call or write.

use billing::AppState;
use billing::Problem;
use billing::domain::plans::{Interval, Plan, PlanMode};
use billing::edge::http;
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
}

/// A validated `POST /checkout` body.
#[derive(Debug)]
pub struct CheckoutInput<'a> {
    pub plan: &'a Plan,
    pub interval: Interval,
    pub quantity: u64,
    pub success_url: String,
    pub cancel_url: String,
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
pub fn validate<'a>(state: &'a AppState, body: &CheckoutBody) -> Result<CheckoutInput<'a>, Problem> {
    let plan_id = body
        .plan
        .as_deref()
        .ok_or_else(|| Problem::bad_request("/errors/missing-field", "`plan` is required").with_field("plan"))?;
    let plan = state.catalog.get(plan_id).ok_or_else(|| {
        Problem::bad_request("/errors/unknown-plan", "`plan` names no plan in the catalog (see GET /plans)").with_field("plan")
    })?;
    if plan.free {
        return Err(Problem::bad_request("/errors/unknown-plan", "the free plan needs no checkout").with_field("plan"));
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
    Ok(CheckoutInput {
        plan,
        interval,
        quantity,
        success_url,
        cancel_url,
    })
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
        validate(&state, &body).map(|i| (i.plan.id.clone(), i.interval.to_string(), i.quantity, i.success_url, i.cancel_url))
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
        ];
        for (json, field) in cases {
            let problem = input(json.clone()).unwrap_err();
            assert_eq!(problem.status, 400, "{json}");
            assert_eq!(problem.field.as_deref(), Some(field), "{json}: {problem:?}");
            if field == "quantity" {
                assert_eq!(problem.kind, "/errors/invalid-quantity", "{json}");
            }
            assert!(!problem.detail.contains("evil") && !problem.detail.contains("alert"), "{problem:?}");
        }
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
