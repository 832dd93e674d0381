//! Request bodies and query strings as types, and their validation. No I/O: every 400 about
//! the request itself is decided here, before any Stripe call or write.

use billing::Problem;
use billing::adapters::stripe::Proration;
use billing::domain::plans::{Catalog, Interval, PlanMode};
use billing::edge::http;
use billing::services::subscriptions::Refusal;
pub use billing::services::subscriptions::{ChangeRequest, When};
use lambda_http::{Request, RequestExt};
use serde::Deserialize;

/// Stripe's cancellation feedback values.
pub const FEEDBACK: &[&str] = &[
    "customer_service",
    "low_quality",
    "missing_features",
    "other",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
];

/// `POST /subscription/cancel`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    pub subscription: Option<String>,
    pub at_period_end: Option<bool>,
    pub feedback: Option<String>,
}

/// `POST /subscription/resume`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeBody {
    pub subscription: Option<String>,
}

/// `POST /subscription/pause`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PauseBody {
    pub subscription: Option<String>,
    /// Unix seconds; absent or `null`: paused until resumed.
    pub resumes_at: Option<i64>,
}

/// `POST /subscription/discount`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscountBody {
    pub subscription: Option<String>,
    pub promotion_code: Option<String>,
}

/// `POST /subscription/change`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeBody {
    pub subscription: Option<String>,
    pub plan: Option<String>,
    pub interval: Option<String>,
    pub quantity: Option<u64>,
    pub proration: Option<String>,
    pub when: Option<String>,
    pub preview: Option<bool>,
}

/// A body as `T`; a field of the wrong type is named like any other invalid field.
pub fn body<T: serde::de::DeserializeOwned + Default>(req: &Request) -> Result<T, Problem> {
    // An empty body is an empty object: every field of these bodies is optional.
    let empty = match req.body() {
        lambda_http::Body::Empty => true,
        lambda_http::Body::Text(text) => text.trim().is_empty(),
        lambda_http::Body::Binary(bytes) => bytes.iter().all(u8::is_ascii_whitespace),
        _ => false,
    };
    if empty {
        return Ok(T::default());
    }
    http::json_body(req, http::MAX_JSON_BODY)
}

fn invalid(kind: &'static str, field: &str, detail: impl Into<String>) -> Problem {
    Problem::bad_request(kind, detail).with_field(field)
}

/// A subscription id as a client may send it.
pub fn subscription_id(value: Option<&str>) -> Result<Option<&str>, Problem> {
    match value {
        None => Ok(None),
        Some(id) if billing::domain::ids::SubscriptionId::parse(id).is_some() => Ok(Some(id)),
        Some(_) => Err(invalid(
            "/errors/invalid-field",
            "subscription",
            "`subscription` must be a subscription id (sub_…)",
        )),
    }
}

/// `feedback`, one of Stripe's values.
pub fn feedback(value: Option<&str>) -> Result<Option<&str>, Problem> {
    match value {
        None => Ok(None),
        Some(f) if FEEDBACK.contains(&f) => Ok(Some(f)),
        Some(_) => Err(invalid(
            "/errors/invalid-field",
            "feedback",
            format!("`feedback` must be one of {}", FEEDBACK.join(", ")),
        )),
    }
}

/// Validates a change body against the catalog.
pub fn change<'a>(catalog: &'a Catalog, body: &ChangeBody) -> Result<ChangeRequest<'a>, Problem> {
    let subscription = subscription_id(body.subscription.as_deref())?.map(str::to_owned);
    let plan = match body.plan.as_deref() {
        None => None,
        Some(id) => {
            let plan = catalog.get(id).ok_or_else(|| {
                invalid(
                    "/errors/unknown-plan",
                    "plan",
                    "`plan` names no plan in the catalog (see GET /plans)",
                )
            })?;
            if plan.free {
                return Err(invalid(
                    "/errors/unknown-plan",
                    "plan",
                    "the free plan is no subscription: cancel instead (POST /subscription/cancel)",
                ));
            }
            if plan.mode != PlanMode::Subscription {
                return Err(invalid(
                    "/errors/one-time-plan",
                    "plan",
                    "a one-time plan is bought through POST /checkout, not changed to",
                ));
            }
            Some(plan)
        }
    };
    let interval = match body.interval.as_deref() {
        None => None,
        Some("month") => Some(Interval::Month),
        Some("year") => Some(Interval::Year),
        Some(_) => {
            return Err(invalid(
                "/errors/unknown-interval",
                "interval",
                "`interval` must be `month` or `year`",
            ));
        }
    };
    if let (Some(plan), Some(interval)) = (plan, interval)
        && plan.price(interval).is_none()
    {
        return Err(invalid(
            "/errors/unknown-interval",
            "interval",
            format!("plan `{}` has no `{}` price", plan.id, interval.as_str()),
        ));
    }
    if body.quantity == Some(0) {
        return Err(invalid_quantity(None));
    }
    if plan.is_none() && interval.is_none() && body.quantity.is_none() {
        return Err(invalid(
            "/errors/missing-field",
            "plan",
            "say what to change: `plan`, `interval` or `quantity`",
        ));
    }
    let proration = match body.proration.as_deref() {
        None => None,
        Some(value) => Some(Proration::parse(value).ok_or_else(|| {
            invalid(
                "/errors/invalid-field",
                "proration",
                "`proration` must be `create_prorations`, `always_invoice` or `none`",
            )
        })?),
    };
    let when = match body.when.as_deref() {
        None | Some("now") => When::Now,
        Some("period_end") => When::PeriodEnd,
        Some(_) => return Err(invalid("/errors/invalid-field", "when", "`when` must be `now` or `period_end`")),
    };
    if when == When::PeriodEnd && proration.is_some_and(|p| p != Proration::None) {
        return Err(invalid(
            "/errors/invalid-field",
            "proration",
            "a change at period end is not prorated; leave `proration` out",
        ));
    }
    Ok(ChangeRequest {
        subscription,
        plan,
        interval,
        quantity: body.quantity,
        proration,
        when,
        preview: body.preview.unwrap_or(false),
    })
}

/// `quantity` outside 1..=`max`.
pub fn invalid_quantity(max: Option<u32>) -> Problem {
    crate::error::refusal(Refusal::quantity(max))
}

/// `GET /invoices` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceQuery {
    pub limit: u8,
    pub starting_after: Option<String>,
}

/// Parses `limit` (1–100, default 10) and `starting_after` (an invoice id); other parameters
/// are refused.
pub fn invoice_query(req: &Request) -> Result<InvoiceQuery, Problem> {
    let params = req.query_string_parameters();
    for (name, _) in params.iter() {
        if name != "limit" && name != "starting_after" {
            return Err(invalid("/errors/unknown-field", name, format!("unknown query parameter `{name}`")));
        }
    }
    let limit = match params.first("limit") {
        None => 10,
        Some(v) => match v.parse::<u8>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(invalid(
                    "/errors/invalid-field",
                    "limit",
                    "`limit` must be a whole number from 1 to 100",
                ));
            }
        },
    };
    let starting_after = match params.first("starting_after") {
        None => None,
        Some(id) if billing::domain::ids::InvoiceId::parse(id).is_some() => Some(id.to_owned()),
        Some(_) => {
            return Err(invalid(
                "/errors/invalid-field",
                "starting_after",
                "`starting_after` must be an invoice id (in_…)",
            ));
        }
    };
    Ok(InvoiceQuery { limit, starting_after })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::embedded().unwrap()
    }

    fn field(result: Result<ChangeRequest<'_>, Problem>) -> Option<String> {
        result.unwrap_err().field
    }

    #[test]
    fn a_change_is_validated_against_the_catalog() {
        let catalog = catalog();
        let ok = change(
            &catalog,
            &ChangeBody {
                plan: Some("pro".into()),
                interval: Some("year".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            (ok.plan.map(|p| p.id.as_str()), ok.interval, ok.when),
            (Some("pro"), Some(Interval::Year), When::Now)
        );
        for (body, expected) in [
            (
                ChangeBody {
                    plan: Some("gold".into()),
                    ..Default::default()
                },
                "plan",
            ),
            (
                ChangeBody {
                    plan: Some("free".into()),
                    ..Default::default()
                },
                "plan",
            ),
            (
                ChangeBody {
                    plan: Some("lifetime".into()),
                    ..Default::default()
                },
                "plan",
            ),
            (
                ChangeBody {
                    plan: Some("pro".into()),
                    interval: Some("week".into()),
                    ..Default::default()
                },
                "interval",
            ),
            (
                ChangeBody {
                    quantity: Some(0),
                    ..Default::default()
                },
                "quantity",
            ),
            (ChangeBody::default(), "plan"),
            (
                ChangeBody {
                    plan: Some("pro".into()),
                    proration: Some("sometimes".into()),
                    ..Default::default()
                },
                "proration",
            ),
            (
                ChangeBody {
                    plan: Some("pro".into()),
                    when: Some("later".into()),
                    ..Default::default()
                },
                "when",
            ),
            (
                ChangeBody {
                    plan: Some("starter".into()),
                    when: Some("period_end".into()),
                    proration: Some("always_invoice".into()),
                    ..Default::default()
                },
                "proration",
            ),
        ] {
            assert_eq!(field(change(&catalog, &body)).as_deref(), Some(expected), "{body:?}");
        }
    }

    #[test]
    fn ids_and_feedback_are_checked() {
        assert_eq!(subscription_id(Some("sub_123")).unwrap(), Some("sub_123"));
        assert!(subscription_id(Some("cus_123")).is_err());
        assert!(subscription_id(Some("sub_1/../x")).is_err());
        assert_eq!(feedback(Some("too_expensive")).unwrap(), Some("too_expensive"));
        assert_eq!(feedback(Some("meh")).unwrap_err().field.as_deref(), Some("feedback"));
    }
}
