//! Custom amounts within the catalog's bounds, currencies, billing address and tax
//! collection, and `PUT /customer/address`, against moto and the Stripe emulator.

use billing::config::{AddressCollection, Collection};
use billing::testkit;
use serde_json::{Value, json};

use crate::checkout::{create, pay, post_checkout};
use crate::helpers::{Stack, body};
use crate::webhook::deliver;

/// Delivers every event the emulator recorded (in order) through the webhook handler.
async fn deliver_all(stack: &Stack) {
    let events: Vec<Value> = stack.emulator.shared.world.lock().await.events.iter().map(|e| e.render()).collect();
    for event in events {
        let (status, answer) = deliver(stack, &event.to_string()).await;
        assert_eq!(status, 200, "{event} → {answer}");
    }
}

#[tokio::test]
async fn a_custom_monthly_amount_in_eur_is_priced_inline_and_its_subscription_stored() {
    let stack = Stack::new("co-custom", vec![]).await;
    let (status, created) = create(&stack, testkit::event("checkout-create-custom-amount.json")).await;
    assert_eq!(status, 201, "{created}");
    let session_id = created["id"].as_str().unwrap().to_owned();
    {
        let world = stack.emulator.shared.world.lock().await;
        let session = &world.sessions[&session_id];
        assert_eq!(
            (session.mode.as_str(), session.amount_total, session.currency.as_str()),
            ("subscription", 2999, "eur")
        );
        let price = &world.prices[&session.line_items[0].price];
        assert_eq!(
            (price.unit_amount, price.currency.as_str(), price.interval, price.active),
            (2999, "eur", Some("month"), false)
        );
        let product = &world.products[&price.product];
        assert_eq!(
            (product.name.as_str(), product.metadata.get("custom_amount").map(String::as_str)),
            ("Donation", Some("donation"))
        );
        assert_eq!(session.metadata.get("amount").map(String::as_str), Some("2999"));
    }
    pay(&stack, &session_id, "4242424242424242").await;
    deliver_all(&stack).await;
    let items = stack.state.store.user_items("user_123").await.unwrap();
    assert_eq!(items.subscriptions.len(), 1, "{items:?}");
    assert_eq!(items.subscriptions[0].status, "active");
    assert_eq!(items.subscriptions[0].plan.as_deref(), Some("donation"));
    assert!(items.customer.is_some());
    // A donation pays for nothing: the donor keeps the free plan, its features and its quota.
    let access = stack.state.gate().access("user_123").await.unwrap();
    assert_eq!(access.plan.as_deref(), Some("free"), "{access:?}");
    assert!(access.features.contains("projects") && !access.features.contains("exports"));
    // And it blocks no plan, nor uses up the trial: the donor may still subscribe to one.
    let (status, created) = create(&stack, post_checkout(json!({"plan": "starter", "interval": "month"}))).await;
    assert_eq!(status, 201, "{created}");
    let world = stack.emulator.shared.world.lock().await;
    assert_eq!(
        world.sessions[created["id"].as_str().unwrap()].trial_period_days,
        Some(14),
        "starter's trial"
    );
}

#[tokio::test]
async fn a_one_time_amount_in_a_zero_decimal_currency_is_a_payment() {
    let stack = Stack::new("co-yen", vec![]).await;
    let (status, created) = create(&stack, post_checkout(json!({"plan": "donation", "amount": 500, "currency": "jpy"}))).await;
    assert_eq!(status, 201, "{created}");
    let world = stack.emulator.shared.world.lock().await;
    let session = &world.sessions[created["id"].as_str().unwrap()];
    assert_eq!(
        (session.mode.as_str(), session.amount_total, session.currency.as_str()),
        ("payment", 500, "jpy")
    );
    assert_eq!(world.prices[&session.line_items[0].price].interval, None);
}

#[tokio::test]
async fn a_plan_price_is_charged_in_a_currency_it_offers() {
    let stack = Stack::new("co-currency", vec![]).await;
    let (status, created) = create(
        &stack,
        post_checkout(json!({"plan": "pro", "interval": "month", "currency": "eur"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    {
        let world = stack.emulator.shared.world.lock().await;
        let session = &world.sessions[created["id"].as_str().unwrap()];
        assert_eq!((session.currency.as_str(), session.amount_total), ("eur", 2600));
    }
    // GET /plans lists each price's currencies and the custom amounts' bounds.
    let response = checkout::handler::handle(&stack.state, testkit::event("plans-get.json"))
        .await
        .unwrap();
    let plans = body(&response);
    let pro = plans["plans"].as_array().unwrap().iter().find(|p| p["id"] == "pro").unwrap();
    assert_eq!(pro["prices"]["month"]["currencies"], json!({"eur": 2600, "usd": 2900}), "{pro}");
    let donation = &plans["custom_amounts"][0];
    assert_eq!(donation["id"], "donation");
    assert_eq!(donation["currencies"]["eur"], json!({"min": 100, "max": 100000}));
    assert!(donation["intervals"].as_array().unwrap().contains(&json!("month")));
}

#[tokio::test]
async fn every_bad_input_is_a_400_naming_the_field_without_a_stripe_call() {
    let stack = Stack::new("co-bad", vec![]).await;
    let before = stack.stripe_requests().await;
    for (body, field, kind) in [
        (
            json!({"plan": "pro", "interval": "month", "currency": "gbp"}),
            "currency",
            "/errors/unknown-currency",
        ),
        (
            json!({"plan": "pro", "interval": "month", "currency": "xx"}),
            "currency",
            "/errors/unknown-currency",
        ),
        (
            json!({"plan": "pro", "interval": "month", "amount": 5}),
            "amount",
            "/errors/amount-not-allowed",
        ),
        (
            json!({"plan": "donation", "currency": "eur", "amount": 99}),
            "amount",
            "/errors/invalid-amount",
        ),
        (
            json!({"plan": "donation", "currency": "eur", "amount": 100_001}),
            "amount",
            "/errors/invalid-amount",
        ),
        (
            json!({"plan": "donation", "currency": "eur", "amount": 29.99}),
            "amount",
            "/errors/invalid-amount",
        ),
        (
            json!({"plan": "donation", "currency": "chf", "amount": 2999}),
            "currency",
            "/errors/unknown-currency",
        ),
        (
            json!({"plan": "donation", "currency": "eur", "amount": 2999, "interval": "day"}),
            "interval",
            "/errors/unknown-interval",
        ),
    ] {
        let (status, problem) = create(&stack, post_checkout(body.clone())).await;
        assert_eq!(
            (status, problem["field"].as_str(), problem["type"].as_str()),
            (400, Some(field), Some(kind)),
            "{body}: {problem}"
        );
    }
    assert_eq!(stack.stripe_requests().await, before, "no Stripe call for bad input");
    assert_eq!(stack.item_count().await, 0, "nothing written");
}

#[tokio::test]
async fn tax_id_collection_alone_saves_the_business_name_for_returning_customers() {
    let stack = Stack::with_config("co-taxid", vec![], |config| {
        config.checkout.collection = Collection {
            tax_id: true,
            ..Collection::default()
        };
    })
    .await;
    // Stripe refuses tax ID collection for an existing customer without customer_update[name]=auto.
    let (status, created) = create(&stack, post_checkout(json!({"plan": "pro", "interval": "month"}))).await;
    assert_eq!(status, 201, "{created}");
    let world = stack.emulator.shared.world.lock().await;
    let session = world.session(created["id"].as_str().unwrap()).unwrap();
    assert_eq!(session["tax_id_collection"]["enabled"], true);
}

#[tokio::test]
async fn address_and_tax_collection_reach_the_session() {
    let stack = Stack::with_config("co-tax", vec![], |config| {
        config.checkout.collection = Collection {
            billing_address: Some(AddressCollection::Required),
            automatic_tax: true,
            tax_id: true,
        };
    })
    .await;
    let (status, created) = create(&stack, post_checkout(json!({"plan": "pro", "interval": "month"}))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let session = {
        let world = stack.emulator.shared.world.lock().await;
        assert_eq!(
            world.sessions[id].customer_update_address.as_deref(),
            Some("auto"),
            "returning customers' addresses are saved"
        );
        world.session(id).unwrap()
    };
    assert_eq!(session["billing_address_collection"], "required");
    assert_eq!(session["automatic_tax"]["enabled"], true);
    assert_eq!(session["tax_id_collection"]["enabled"], true);
    assert_eq!(session["total_details"]["amount_tax"], 0);
    let page = reqwest::get(session["url"].as_str().unwrap()).await.unwrap().text().await.unwrap();
    assert!(page.contains("billing address (required)") && page.contains("tax ID"), "{page}");
}

fn address_request(user: &str, body: &str) -> lambda_http::Request {
    static REQUESTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    testkit::event_with("customer-address-update.json", |e| {
        e["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = user.into();
        // Every API Gateway request has its own id.
        let n = REQUESTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        e["requestContext"]["requestId"] = format!("req-address-{n}").into();
        e["body"] = body.into();
    })
}

async fn put_address(stack: &Stack, user: &str, body: &str) -> (u16, Value) {
    let response = portal::handler::handle(&stack.state, address_request(user, body)).await.unwrap();
    (response.status().as_u16(), crate::helpers::body(&response))
}

#[tokio::test]
async fn a_customer_updates_the_billing_address() {
    let stack = Stack::new("co-address", vec![]).await;
    let event: Value = serde_json::from_str(&testkit::event_text("customer-address-update.json")).unwrap();
    let sample = event["body"].as_str().unwrap().to_owned();
    let (status, problem) = put_address(&stack, "user_123", &sample).await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("/errors/no-customer")), "{problem}");

    let (status, _) = create(&stack, post_checkout(json!({"plan": "pro", "interval": "month"}))).await;
    assert_eq!(status, 201);
    let before = stack.stripe_requests().await;
    for (body, field) in [
        (json!({"city": "Berlin", "country": "DE"}), "line1"),
        (json!({"line1": "Unter den Linden 1"}), "country"),
        (json!({"line1": "Unter den Linden 1", "country": "XY"}), "country"),
        (json!({"line1": "Unter den Linden 1", "country": "Germany"}), "country"),
        (json!({"line1": "Unter den Linden 1", "country": "DE", "planet": "Earth"}), "planet"),
    ] {
        let (status, problem) = put_address(&stack, "user_123", &body.to_string()).await;
        assert_eq!((status, problem["field"].as_str()), (400, Some(field)), "{body}: {problem}");
    }
    let (status, _) = put_address(&stack, "user_123", "not json").await;
    assert_eq!(status, 400);
    assert_eq!(stack.stripe_requests().await, before, "validated before any call");

    let (status, answer) = put_address(&stack, "user_123", &sample).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["address"]["country"], "DE");
    let world = stack.emulator.shared.world.lock().await;
    let customer = world
        .customers
        .values()
        .find(|c| c.metadata.get("user_id").map(String::as_str) == Some("user_123"))
        .unwrap();
    let address = customer.address.clone().unwrap();
    assert_eq!(
        (address["line1"].as_str(), address["postal_code"].as_str(), address["line2"].clone()),
        (Some("Unter den Linden 1"), Some("10117"), Value::Null)
    );
    assert!(world.events.iter().any(|e| e.event_type == "customer.updated"));
    drop(world);

    // Back and forth within minutes: each request applies (no replay of an earlier answer).
    let other =
        json!({"line1": "1 Infinite Loop", "city": "Cupertino", "state": "CA", "postal_code": "95014", "country": "us"}).to_string();
    for (body, country) in [(&other, "US"), (&sample, "DE")] {
        let (status, answer) = put_address(&stack, "user_123", body).await;
        assert_eq!((status, answer["address"]["country"].as_str()), (200, Some(country)), "{answer}");
        let world = stack.emulator.shared.world.lock().await;
        let customer = world
            .customers
            .values()
            .find(|c| c.metadata.get("user_id").map(String::as_str) == Some("user_123"))
            .unwrap();
        assert_eq!(
            customer.address.as_ref().unwrap()["country"],
            country,
            "Stripe holds what was last set"
        );
    }
}
