//! The hosted pages a customer's browser sees: Checkout (pay with a test card, or without one
//! when nothing is due and the session allows it), the invoice page and its PDF, and the
//! Billing Portal (cancel, resume, switch price, add a card).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::error::StripeError;
use crate::params::Params;
use crate::shared::Shared;

pub(super) async fn checkout_page(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let world = shared.world.lock().await;
    match world.sessions.get(&id) {
        Some(session) => Html(crate::pages::checkout(&world, session, None)).into_response(),
        None => (StatusCode::NOT_FOUND, Html("<h1>No such checkout session</h1>")).into_response(),
    }
}

#[derive(Deserialize)]
pub(super) struct CardForm {
    #[serde(default)]
    card: String,
    #[serde(default)]
    promotion_code: Option<String>,
}

pub(super) async fn checkout_page_pay(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<CardForm>,
) -> Response {
    let mut world = shared.world.lock().await;
    let result = world.pay_session_with(&id, form.card.trim(), form.promotion_code.as_deref());
    shared.settle(&mut world, result.is_ok());
    match result {
        Ok(redirect) => Redirect::to(&redirect).into_response(),
        Err(err) => match world.sessions.get(&id) {
            Some(session) => (err.status, Html(crate::pages::checkout(&world, session, Some(&err.message)))).into_response(),
            None => err.into_response(),
        },
    }
}

pub(super) async fn invoice_page(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let world = shared.world.lock().await;
    match world.invoices.get(&id).filter(|i| i.number.is_some()) {
        Some(invoice) => Html(crate::pages::invoice(&world, invoice)).into_response(),
        None => (StatusCode::NOT_FOUND, Html("<h1>No such invoice</h1>")).into_response(),
    }
}

pub(super) async fn invoice_pdf(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let world = shared.world.lock().await;
    match world.invoices.get(&id).filter(|i| i.number.is_some()) {
        Some(invoice) => {
            let pdf = crate::pages::invoice_pdf(&world, invoice);
            let disposition = format!("inline; filename=\"Invoice-{}.pdf\"", invoice.number.as_deref().unwrap_or("draft"));
            (
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static("application/pdf")),
                    (
                        header::CONTENT_DISPOSITION,
                        HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("inline")),
                    ),
                ],
                pdf,
            )
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, Html("<h1>No such invoice</h1>")).into_response(),
    }
}

pub(super) async fn portal_page(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let world = shared.world.lock().await;
    match world.portal_sessions.get(&id) {
        Some(session) => Html(crate::pages::portal(&world, session, None)).into_response(),
        None => (StatusCode::NOT_FOUND, Html("<h1>No such portal session</h1>")).into_response(),
    }
}

#[derive(Deserialize)]
pub(super) struct PortalForm {
    #[serde(default)]
    subscription: String,
    action: String,
    #[serde(default)]
    price: Option<String>,
    /// `add_card`: the test card number.
    #[serde(default)]
    card: Option<String>,
}

pub(super) async fn portal_page_action(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<PortalForm>,
) -> Response {
    let mut world = shared.world.lock().await;
    let Some(session) = world.portal_sessions.get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, Html("<h1>No such portal session</h1>")).into_response();
    };
    // On the customer's test clock, if any, as the API would be.
    let clock = world.request_clock(&["customers", &session.customer], &Params::empty());
    world.set_scope(clock);
    let owned = world
        .subscriptions
        .get(&form.subscription)
        .is_some_and(|s| s.customer == session.customer);
    let result = if form.action == "add_card" {
        world.add_customer_card(&session.customer, form.card.as_deref().unwrap_or_default())
    } else if !owned {
        Err(StripeError::no_such("subscription", &form.subscription, "subscription"))
    } else {
        let item = world.subscriptions[&form.subscription]
            .items
            .first()
            .map(|i| i.id.clone())
            .unwrap_or_default();
        let body = match (form.action.as_str(), &form.price) {
            ("cancel", _) => "cancel_at_period_end=true".to_owned(),
            ("resume", _) => "cancel_at_period_end=false".to_owned(),
            ("switch", Some(price)) => format!("items[0][id]={item}&items[0][price]={price}&proration_behavior=create_prorations"),
            _ => String::new(),
        };
        if body.is_empty() {
            Err(StripeError::invalid("action", "Unknown portal action."))
        } else {
            Params::parse(body.as_bytes()).and_then(|p| world.update_subscription(&form.subscription, &p))
        }
    };
    world.set_scope(None);
    let notice = match &result {
        Ok(_) => "Saved.".to_owned(),
        Err(err) => err.message.clone(),
    };
    shared.settle(&mut world, result.is_ok());
    Html(crate::pages::portal(&world, &session, Some(&notice))).into_response()
}
