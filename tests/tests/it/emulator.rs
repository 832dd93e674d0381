//! The Stripe emulator over HTTP, called through the project's Stripe client: every response
//! must deserialize with async-stripe's own types at its pinned API version.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use billing::testkit;
use serde_json::{Value, json};
use stripe::StripeError;
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::subscription::{
    CancelSubscription, ListSubscription, RetrieveSubscription, UpdateSubscription, UpdateSubscriptionItems,
};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData, ExpireCheckoutSession,
    RetrieveCheckoutSession,
};
use stripe_core::customer::{CreateCustomer, ListCustomer, RetrieveCustomer};
use stripe_core::event::{ListEvent, RetrieveEvent};
use stripe_emulator::{Emulator, Settings, World};
use stripe_misc::entitlements_active_entitlement::ListEntitlementsActiveEntitlement;
use stripe_product::price::{ListPrice, RetrievePrice};
use stripe_shared::{CheckoutSessionMode, SubscriptionStatus};

pub async fn start_emulator(webhook_urls: Vec<String>) -> Emulator {
    let catalog = billing::domain::plans::Catalog::embedded().unwrap();
    let settings = Settings {
        public_url: String::new(),
        webhook_urls,
        webhook_secrets: vec![testkit::LOCAL_WEBHOOK_SECRET.to_owned()],
        delivery_backoff_ms: 50,
        ..Settings::default()
    };
    stripe_emulator::start(World::new(settings, &catalog), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

pub fn client(emulator: &Emulator) -> stripe::Client {
    // async-stripe's own client: a client nobody here wrote reads every shape.
    stripe::ClientBuilder::new(testkit::LOCAL_STRIPE_KEY)
        .url(emulator.base_url())
        .build()
        .unwrap()
}

pub async fn control(emulator: &Emulator, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("http://{}{path}", emulator.addr))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub fn api_error(err: StripeError) -> (u16, stripe_shared::ApiErrors) {
    match err {
        StripeError::Stripe(errors, status) => (status, *errors),
        other => panic!("expected a Stripe API error, got {other}"),
    }
}

pub async fn price_id(client: &stripe::Client, lookup_key: &str) -> String {
    let prices = ListPrice::new()
        .lookup_keys(vec![lookup_key.to_owned()])
        .send(client)
        .await
        .unwrap();
    assert_eq!(prices.data.len(), 1, "{lookup_key}");
    prices.data[0].id.to_string()
}

pub async fn subscription_session(client: &stripe::Client, price: &str, trial_days: Option<u32>) -> stripe_shared::CheckoutSession {
    let mut item = CreateCheckoutSessionLineItems::new();
    item.price = Some(price.to_owned());
    item.quantity = Some(2);
    let mut sub_data = CreateCheckoutSessionSubscriptionData::new();
    sub_data.trial_period_days = trial_days;
    sub_data.metadata = Some([("user_id".to_owned(), "user_1".to_owned())].into());
    CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .line_items(vec![item])
        .customer_email("ada@example.com")
        .client_reference_id("user_1")
        .metadata([("plan".to_owned(), "pro".to_owned())])
        .subscription_data(sub_data)
        .allow_promotion_codes(true)
        .success_url("http://localhost:3000/done?session_id={CHECKOUT_SESSION_ID}")
        .cancel_url("http://localhost:3000/pricing")
        .send(client)
        .await
        .unwrap()
}

#[tokio::test]
async fn customers_create_retrieve_and_list_by_email() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let created = CreateCustomer::new()
        .email("grace@example.com")
        .metadata([("user_id".to_owned(), "u9".to_owned())])
        .send(&client)
        .await
        .unwrap();
    assert!(created.id.as_str().starts_with("cus_"));
    let fetched = RetrieveCustomer::new(created.id.clone()).send(&client).await.unwrap();
    let stripe_core::customer::RetrieveCustomerReturned::Customer(fetched) = fetched else {
        panic!("not deleted")
    };
    assert_eq!(fetched.email.as_deref(), Some("grace@example.com"));
    assert_eq!(fetched.metadata.unwrap()["user_id"], "u9");
    CreateCustomer::new().email("other@example.com").send(&client).await.unwrap();
    let listed = ListCustomer::new().email("grace@example.com").send(&client).await.unwrap();
    assert_eq!(listed.data.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), vec![created.id]);
}

#[tokio::test]
async fn prices_are_seeded_from_the_catalog_with_lookup_keys() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let id = price_id(&client, "pro_year").await;
    let price = RetrievePrice::new(id.as_str()).send(&client).await.unwrap();
    assert_eq!(price.unit_amount, Some(29000));
    assert_eq!(price.recurring.unwrap().interval, stripe_shared::RecurringInterval::Year);
    let once = RetrievePrice::new(price_id(&client, "lifetime_once").await.as_str())
        .send(&client)
        .await
        .unwrap();
    assert!(once.recurring.is_none());
}

#[tokio::test]
async fn checkout_pay_creates_subscription_invoice_and_entitlements() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let price = price_id(&client, "starter_month").await;
    let session = subscription_session(&client, &price, Some(14)).await;
    assert_eq!(session.status, Some(stripe_shared::CheckoutSessionStatus::Open));
    assert_eq!(session.client_reference_id.as_deref(), Some("user_1"));
    let url = session.url.clone().unwrap();
    assert!(url.starts_with(&format!("http://{}/checkout/cs_test_", emulator.addr)), "{url}");

    let (status, paid) = control(
        &emulator,
        &format!("/_emulator/checkout/sessions/{}/pay", session.id),
        json!({"card": "4242 4242 4242 4242"}),
    )
    .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(
        paid["redirect_url"],
        format!("http://localhost:3000/done?session_id={}", session.id)
    );

    let done = RetrieveCheckoutSession::new(session.id.clone()).send(&client).await.unwrap();
    assert_eq!(done.status, Some(stripe_shared::CheckoutSessionStatus::Complete));
    assert_eq!(done.payment_status, stripe_shared::CheckoutSessionPaymentStatus::NoPaymentRequired);
    let customer = done.customer.unwrap().id().to_string();
    let sub_id = done.subscription.unwrap().id().clone();

    let sub = RetrieveSubscription::new(sub_id.clone()).send(&client).await.unwrap();
    assert_eq!(sub.status, SubscriptionStatus::Trialing);
    assert_eq!(sub.metadata["user_id"], "user_1");
    assert_eq!(sub.items.data[0].quantity, Some(2));
    assert_eq!(sub.items.data[0].price.id.as_str(), price);
    assert!(sub.trial_end.unwrap() - sub.trial_start.unwrap() == 14 * 86_400);

    let listed = ListSubscription::new().customer(customer.clone()).send(&client).await.unwrap();
    assert_eq!(listed.data.len(), 1);

    let entitlements = ListEntitlementsActiveEntitlement::new(customer.clone())
        .send(&client)
        .await
        .unwrap();
    let keys: Vec<&str> = entitlements.data.iter().map(|e| e.lookup_key.as_str()).collect();
    assert_eq!(keys, vec!["exports", "projects"]);
    let first = ListEntitlementsActiveEntitlement::new(customer.clone())
        .limit(1)
        .send(&client)
        .await
        .unwrap();
    assert!(first.has_more);
    let rest = ListEntitlementsActiveEntitlement::new(customer.clone())
        .limit(1)
        .starting_after(first.data[0].id.as_str())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(rest.data[0].lookup_key, "projects");
    assert!(!rest.has_more);

    let types: Vec<String> = ListEvent::new()
        .limit(100)
        .send(&client)
        .await
        .unwrap()
        .data
        .iter()
        .map(|e| e.type_.to_string())
        .collect();
    for expected in [
        "customer.created",
        "customer.subscription.created",
        "invoice.paid",
        "checkout.session.completed",
        "entitlements.active_entitlement_summary.updated",
    ] {
        assert!(types.iter().any(|t| t == expected), "{expected} in {types:?}");
    }
}

#[tokio::test]
async fn subscription_updates_swap_quantity_and_cancel() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let starter = price_id(&client, "starter_month").await;
    let pro = price_id(&client, "pro_month").await;
    let session = subscription_session(&client, &starter, None).await;
    control(
        &emulator,
        &format!("/_emulator/checkout/sessions/{}/pay", session.id),
        json!({"card": "4242424242424242"}),
    )
    .await;
    let done = RetrieveCheckoutSession::new(session.id.clone()).send(&client).await.unwrap();
    let sub_id = done.subscription.unwrap().id().clone();
    let sub = RetrieveSubscription::new(sub_id.clone()).send(&client).await.unwrap();
    assert_eq!(sub.status, SubscriptionStatus::Active);

    let updated = UpdateSubscription::new(sub_id.clone())
        .cancel_at_period_end(true)
        .send(&client)
        .await
        .unwrap();
    assert!(updated.cancel_at_period_end);

    let mut item = UpdateSubscriptionItems::new();
    item.id = Some(sub.items.data[0].id.to_string());
    item.price = Some(pro.clone());
    item.quantity = Some(5);
    let swapped = UpdateSubscription::new(sub_id.clone())
        .items(vec![item])
        .proration_behavior(stripe_billing::subscription::UpdateSubscriptionProrationBehavior::AlwaysInvoice)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(swapped.items.data[0].price.id.as_str(), pro);
    assert_eq!(swapped.items.data[0].quantity, Some(5));

    let canceled = CancelSubscription::new(sub_id.clone()).send(&client).await.unwrap();
    assert_eq!(canceled.status, SubscriptionStatus::Canceled);
    let customer = done.customer.unwrap().id().to_string();
    assert!(
        ListEntitlementsActiveEntitlement::new(customer.clone())
            .send(&client)
            .await
            .unwrap()
            .data
            .is_empty()
    );
    assert!(
        ListSubscription::new()
            .customer(customer.clone())
            .send(&client)
            .await
            .unwrap()
            .data
            .is_empty(),
        "canceled ones are hidden by default"
    );

    let updated_events = ListEvent::new().type_("customer.subscription.updated").send(&client).await.unwrap();
    assert_eq!(updated_events.data.len(), 2);
    let newest = &updated_events.data[0];
    let again = RetrieveEvent::new(newest.id.clone()).send(&client).await.unwrap();
    assert_eq!(again.id, newest.id);
    let older = ListEvent::new()
        .starting_after(newest.id.as_str())
        .limit(100)
        .send(&client)
        .await
        .unwrap();
    assert!(older.data.iter().all(|e| e.created <= newest.created && e.id != newest.id));
    let none_later = ListEvent::new()
        .created(stripe_types::RangeQueryTs::gt(newest.created + 10))
        .send(&client)
        .await
        .unwrap();
    assert!(none_later.data.is_empty());
}

#[tokio::test]
async fn payment_mode_portal_and_expire() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let lifetime = price_id(&client, "lifetime_once").await;
    let mut item = CreateCheckoutSessionLineItems::new();
    item.price = Some(lifetime);
    item.quantity = Some(1);
    let session = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Payment)
        .line_items(vec![item])
        .customer_email("pay@example.com")
        .customer_creation(stripe_checkout::checkout_session::CreateCheckoutSessionCustomerCreation::Always)
        .success_url("http://localhost:3000/ok")
        .send(&client)
        .await
        .unwrap();
    control(
        &emulator,
        &format!("/_emulator/checkout/sessions/{}/pay", session.id),
        json!({"card": "4242424242424242"}),
    )
    .await;
    let done = RetrieveCheckoutSession::new(session.id.clone()).send(&client).await.unwrap();
    assert_eq!(done.payment_status, stripe_shared::CheckoutSessionPaymentStatus::Paid);
    let customer = done.customer.unwrap().id().to_string();

    let portal = CreateBillingPortalSession::new()
        .customer(customer)
        .return_url("http://localhost:3000/billing")
        .send(&client)
        .await
        .unwrap();
    assert!(portal.url.contains("/portal/bps_"));
    assert_eq!(portal.return_url.as_deref(), Some("http://localhost:3000/billing"));

    let open = subscription_session(&client, &price_id(&client, "pro_month").await, None).await;
    let expired = ExpireCheckoutSession::new(open.id.clone()).send(&client).await.unwrap();
    assert_eq!(expired.status, Some(stripe_shared::CheckoutSessionStatus::Expired));
    let (status, body) = control(
        &emulator,
        &format!("/_emulator/checkout/sessions/{}/pay", open.id),
        json!({"card": "4242424242424242"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn charges_refunds_disputes_and_promotion_codes_read_with_async_stripe_types() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let lifetime = price_id(&client, "lifetime_once").await;
    let mut item = CreateCheckoutSessionLineItems::new();
    item.price = Some(lifetime);
    item.quantity = Some(1);
    let session = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Payment)
        .line_items(vec![item.clone()])
        .customer_email("pay@example.com")
        .allow_promotion_codes(true)
        .success_url("http://localhost:3000/ok")
        .send(&client)
        .await
        .unwrap();
    let (status, body) = control(
        &emulator,
        &format!("/_emulator/checkout/sessions/{}/pay", session.id),
        json!({"card": "4242424242424242", "promotion_code": "HALF50"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let paid = RetrieveCheckoutSession::new(session.id.clone()).send(&client).await.unwrap();
    assert_eq!(paid.amount_total, Some(9950));
    assert_eq!(paid.total_details.as_ref().map(|t| t.amount_discount), Some(9950));
    let intent = paid.payment_intent.unwrap().id().to_string();
    let listed = stripe_checkout::checkout_session::ListCheckoutSession::new()
        .payment_intent(intent.clone())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(listed.data.len(), 1);

    let charge_id = emulator.shared.world.lock().await.charges.values().next().unwrap().id.clone();
    let charge = stripe_core::charge::RetrieveCharge::new(charge_id.clone())
        .send(&client)
        .await
        .unwrap();
    assert_eq!((charge.amount, charge.refunded, charge.disputed), (9950, false, false));
    let refund = reqwest::Client::new()
        .post(format!("{}v1/refunds", emulator.base_url()))
        .bearer_auth(testkit::LOCAL_STRIPE_KEY)
        .form(&[("payment_intent", intent.as_str()), ("amount", "950")])
        .send()
        .await
        .unwrap();
    assert_eq!(refund.status(), 200);
    let charge = stripe_core::charge::RetrieveCharge::new(charge_id.clone())
        .send(&client)
        .await
        .unwrap();
    assert_eq!((charge.amount_refunded, charge.refunded), (950, false));

    emulator.shared.world.lock().await.open_dispute(&charge_id).unwrap();
    let disputes = stripe_core::dispute::ListDispute::new()
        .charge(charge_id.clone())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(disputes.data.len(), 1);
    assert_eq!(disputes.data[0].status, stripe_shared::DisputeStatus::NeedsResponse);
    assert!(
        stripe_core::charge::RetrieveCharge::new(charge_id)
            .send(&client)
            .await
            .unwrap()
            .disputed
    );

    // A code on a session that does not take codes is refused, and changes nothing.
    let strict = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Payment)
        .line_items(vec![item])
        .customer_email("pay@example.com")
        .success_url("http://localhost:3000/ok")
        .send(&client)
        .await
        .unwrap();
    let (status, body) = control(
        &emulator,
        &format!("/_emulator/checkout/sessions/{}/pay", strict.id),
        json!({"card": "4242424242424242", "promotion_code": "FREE100"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "promotion_code");
}

#[tokio::test]
async fn errors_use_stripe_shapes_and_leave_state_unchanged() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let http = reqwest::Client::new();
    let base = format!("http://{}", emulator.addr);

    let (status, err) = api_error(RetrieveCustomer::new("cus_missing").send(&client).await.unwrap_err());
    assert_eq!(status, 404);
    assert_eq!(err.type_, stripe_shared::ApiErrorsType::InvalidRequestError);
    assert_eq!(err.code, Some(stripe_shared::ApiErrorsCode::ResourceMissing));

    let mut item = CreateCheckoutSessionLineItems::new();
    item.price = Some("price_nope".into());
    let (status, err) = api_error(
        CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Subscription)
            .line_items(vec![item])
            .success_url("http://localhost:3000/")
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (status, err.param.as_deref()),
        (400, Some("line_items[0][price]")),
        "a reference: 400"
    );
    let (status, err) = api_error(
        CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Subscription)
            .success_url("http://localhost:3000/")
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, err.param.as_deref()), (400, Some("line_items")));

    let response = http
        .get(format!("{base}/v1/nothing_here"))
        .bearer_auth(testkit::LOCAL_STRIPE_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let response = http
        .get(format!("{base}/v1/customers"))
        .bearer_auth("sk_live_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = http.get(format!("{base}/v1/customers")).send().await.unwrap();
    assert_eq!(response.status(), 401);

    let response = http
        .post(format!("{base}/v1/customers"))
        .bearer_auth(testkit::LOCAL_STRIPE_KEY)
        .body("email=x&bogus[=1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // Declined card: 402 card_error with decline_code; the session stays open.
    let session = subscription_session(&client, &price_id(&client, "pro_month").await, None).await;
    let (status, body) = control(
        &emulator,
        &format!("/_emulator/checkout/sessions/{}/pay", session.id),
        json!({"card": "4000000000009995"}),
    )
    .await;
    assert_eq!(status, 402);
    assert_eq!(body["error"]["type"], "card_error");
    assert_eq!(body["error"]["decline_code"], "insufficient_funds");
    let still = RetrieveCheckoutSession::new(session.id.clone()).send(&client).await.unwrap();
    assert_eq!(still.status, Some(stripe_shared::CheckoutSessionStatus::Open));

    // None of the failures above created anything.
    assert!(ListCustomer::new().send(&client).await.unwrap().data.is_empty());
    assert!(ListEvent::new().send(&client).await.unwrap().data.is_empty());
}

#[tokio::test]
async fn idempotency_keys_replay_or_refuse() {
    let emulator = start_emulator(vec![]).await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/v1/customers", emulator.addr);
    let post = |body: &'static str| {
        http.post(&url)
            .bearer_auth(testkit::LOCAL_STRIPE_KEY)
            .header("idempotency-key", "key-1")
            .body(body)
            .send()
    };
    let first: Value = post("email=a%40example.com").await.unwrap().json().await.unwrap();
    let second = post("email=a%40example.com").await.unwrap();
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    let mismatch = post("email=b%40example.com").await.unwrap();
    assert_eq!(mismatch.status(), 400);
    let body: Value = mismatch.json().await.unwrap();
    assert_eq!(body["error"]["type"], "idempotency_error");
    let client = client(&emulator);
    assert_eq!(ListCustomer::new().send(&client).await.unwrap().data.len(), 1);
}

#[tokio::test]
async fn fault_injection_fails_the_next_matching_requests() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let (status, _) = control(
        &emulator,
        "/_emulator/faults",
        json!({"path_prefix": "/v1/customers", "status": 500, "count": 1, "method": "POST"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = api_error(CreateCustomer::new().send(&client).await.unwrap_err());
    assert_eq!(status, 500);
    CreateCustomer::new().send(&client).await.expect("fault used up");
}

/// Receives webhooks, verifies them with the project's verifier, answers 500 to the first
/// `fail_first` deliveries.
pub struct Receiver {
    pub url: String,
    pub events: Arc<Mutex<Vec<Value>>>,
}

pub async fn receiver(fail_first: usize) -> Receiver {
    use axum::http::{HeaderMap, StatusCode};
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(Mutex::new(0usize));
    let store = events.clone();
    let app = axum::Router::new().route(
        "/webhook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let store = store.clone();
            let seen = seen.clone();
            async move {
                let header = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
                let secrets = [billing::config::Secret::new(testkit::LOCAL_WEBHOOK_SECRET)];
                if billing::edge::signature::verify(header, &body, &secrets, Duration::from_secs(300), billing::now_epoch()).is_err() {
                    return StatusCode::BAD_REQUEST;
                }
                let mut n = seen.lock().unwrap();
                *n += 1;
                if *n <= fail_first {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                store.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, events }
}

pub async fn wait_for<T>(mut probe: impl FnMut() -> Option<T>, what: &str) -> T {
    for _ in 0..100 {
        if let Some(value) = probe() {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn types(events: &Mutex<Vec<Value>>) -> Vec<String> {
    events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn webhooks_are_signed_retried_and_recorded() {
    let receiver = receiver(1).await;
    let emulator = start_emulator(vec![receiver.url.clone()]).await;
    let client = client(&emulator);
    let customer = CreateCustomer::new().email("hook@example.com").send(&client).await.unwrap();
    let event = wait_for(|| receiver.events.lock().unwrap().first().cloned(), "customer.created delivery").await;
    assert_eq!(event["type"], "customer.created");
    assert_eq!(event["data"]["object"]["id"], customer.id.as_str());
    assert_eq!(event["api_version"], stripe_emulator::model::API_VERSION);
    let http = reqwest::Client::new();
    let deliveries: Value = http
        .get(format!("http://{}/_emulator/deliveries", emulator.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let attempts = deliveries["deliveries"][0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{deliveries}");
    assert_eq!(attempts[0]["status"], 500);
    assert_eq!(attempts[1]["status"], 200);
    assert_eq!(deliveries["deliveries"][0]["delivered"], true);
}

#[tokio::test]
async fn chaos_duplicates_every_delivery() {
    let receiver = receiver(0).await;
    let emulator = start_emulator(vec![receiver.url.clone()]).await;
    control(
        &emulator,
        "/_emulator/config",
        json!({"chaos": {"duplicates": true, "shuffle": true}}),
    )
    .await;
    CreateCustomer::new().send(&client(&emulator)).await.unwrap();
    let delivered = wait_for(|| Some(types(&receiver.events)).filter(|t| t.len() == 2), "two deliveries").await;
    assert_eq!(delivered, vec!["customer.created", "customer.created"]);
}

pub async fn paid_subscription(
    emulator: &Emulator,
    client: &stripe::Client,
    lookup_key: &str,
    card: &str,
    trial: Option<u32>,
) -> stripe_shared::Subscription {
    let session = subscription_session(client, &price_id(client, lookup_key).await, trial).await;
    let (status, body) = control(
        emulator,
        &format!("/_emulator/checkout/sessions/{}/pay", session.id),
        json!({"card": card}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sub = body["session"]["subscription"].as_str().unwrap().to_owned();
    RetrieveSubscription::new(sub.as_str()).send(client).await.unwrap()
}

#[tokio::test]
async fn clock_ends_trials_and_renews() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let sub = paid_subscription(&emulator, &client, "starter_month", "4242424242424242", Some(14)).await;
    control(&emulator, "/_emulator/clock/advance", json!({"days": 12})).await;
    let warned = ListEvent::new()
        .type_("customer.subscription.trial_will_end")
        .send(&client)
        .await
        .unwrap();
    assert_eq!(warned.data.len(), 1);
    control(&emulator, "/_emulator/clock/advance", json!({"days": 3})).await;
    let now = RetrieveSubscription::new(sub.id.clone()).send(&client).await.unwrap();
    assert_eq!(now.status, SubscriptionStatus::Active);
    assert!(now.items.data[0].current_period_end > sub.items.data[0].current_period_end);
    control(&emulator, "/_emulator/clock/advance", json!({"days": 31})).await;
    let paid = ListEvent::new().type_("invoice.paid").send(&client).await.unwrap();
    assert_eq!(paid.data.len(), 3, "trial invoice, first charge, renewal");
}

#[tokio::test]
async fn failing_card_goes_past_due_then_dunning_cancels() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let sub = paid_subscription(&emulator, &client, "pro_month", "4000 0000 0000 0341", None).await;
    assert_eq!(sub.status, SubscriptionStatus::Active, "the first payment succeeds");
    control(&emulator, "/_emulator/clock/advance", json!({"days": 31})).await;
    let now = RetrieveSubscription::new(sub.id.clone()).send(&client).await.unwrap();
    assert_eq!(now.status, SubscriptionStatus::PastDue);
    assert!(
        !ListEvent::new()
            .type_("invoice.payment_failed")
            .send(&client)
            .await
            .unwrap()
            .data
            .is_empty()
    );
    control(&emulator, "/_emulator/clock/advance", json!({"days": 8})).await;
    let now = RetrieveSubscription::new(sub.id.clone()).send(&client).await.unwrap();
    assert_eq!(now.status, SubscriptionStatus::Canceled);
    assert_eq!(
        ListEvent::new()
            .type_("customer.subscription.deleted")
            .send(&client)
            .await
            .unwrap()
            .data
            .len(),
        1
    );
}

#[tokio::test]
async fn cancel_at_period_end_ends_at_period_end() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let sub = paid_subscription(&emulator, &client, "pro_year", "4242424242424242", None).await;
    UpdateSubscription::new(sub.id.clone())
        .cancel_at_period_end(true)
        .send(&client)
        .await
        .unwrap();
    control(&emulator, "/_emulator/clock/advance", json!({"days": 364})).await;
    assert_eq!(
        RetrieveSubscription::new(sub.id.clone()).send(&client).await.unwrap().status,
        SubscriptionStatus::Active
    );
    control(&emulator, "/_emulator/clock/advance", json!({"days": 2})).await;
    assert_eq!(
        RetrieveSubscription::new(sub.id.clone()).send(&client).await.unwrap().status,
        SubscriptionStatus::Canceled
    );
}

#[tokio::test]
async fn pause_and_resume_emit_their_events() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let sub = paid_subscription(&emulator, &client, "pro_month", "4242424242424242", None).await;
    let (status, body) = control(&emulator, &format!("/_emulator/subscriptions/{}/pause", sub.id), json!({})).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("paused")));
    let http = reqwest::Client::new();
    let resumed = http
        .post(format!("http://{}/v1/subscriptions/{}/resume", emulator.addr, sub.id))
        .bearer_auth(testkit::LOCAL_STRIPE_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);
    for t in ["customer.subscription.paused", "customer.subscription.resumed"] {
        assert_eq!(ListEvent::new().type_(t).send(&client).await.unwrap().data.len(), 1, "{t}");
    }
}

#[tokio::test]
async fn summary_event_embeds_at_most_ten_entitlements() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let price = RetrievePrice::new(price_id(&client, "pro_month").await.as_str())
        .send(&client)
        .await
        .unwrap();
    let product = price.product.id().to_string();
    let extra: Vec<String> = (0..12).map(|i| format!("extra_{i:02}")).collect();
    let (status, _) = control(
        &emulator,
        &format!("/_emulator/products/{product}/features"),
        json!({"features": extra}),
    )
    .await;
    assert_eq!(status, 200);
    let sub = paid_subscription(&emulator, &client, "pro_month", "4242424242424242", None).await;
    let summary = ListEvent::new()
        .type_("entitlements.active_entitlement_summary.updated")
        .send(&client)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let raw: Value = http
        .get(format!("http://{}/v1/events/{}", emulator.addr, summary.data[0].id))
        .bearer_auth(testkit::LOCAL_STRIPE_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let embedded = &raw["data"]["object"]["entitlements"];
    assert_eq!(embedded["data"].as_array().unwrap().len(), 10);
    assert_eq!(embedded["has_more"], true);
    let customer = sub.customer.id().to_string();
    let all = ListEntitlementsActiveEntitlement::new(customer)
        .limit(100)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(all.data.len(), 16);
}

#[tokio::test]
async fn hosted_checkout_page_pays_with_test_cards() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let session = subscription_session(&client, &price_id(&client, "pro_month").await, None).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(session.url.clone().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("Pro") && page.contains("29.00 USD") && page.contains(">Pay<"),
        "{page}"
    );
    let declined = http
        .post(format!("{}/pay", session.url.clone().unwrap()))
        .form(&[("card", "4000 0000 0000 9995")])
        .send()
        .await
        .unwrap();
    assert_eq!(declined.status(), 402);
    assert!(declined.text().await.unwrap().contains("declined"));
    let paid = http
        .post(format!("{}/pay", session.url.clone().unwrap()))
        .form(&[("card", "4242 4242 4242 4242")])
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 303);
    assert_eq!(
        paid.headers()["location"],
        format!("http://localhost:3000/done?session_id={}", session.id).as_str()
    );
}

#[tokio::test]
async fn hosted_portal_page_cancels_resumes_and_switches() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let sub = paid_subscription(&emulator, &client, "starter_month", "4242424242424242", None).await;
    let portal = CreateBillingPortalSession::new()
        .customer(sub.customer.id().to_string())
        .send(&client)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let page = http.get(&portal.url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Cancel at period end") && page.contains("Switch plan"), "{page}");
    let action = format!("{}/action", portal.url);
    let form = |action: &'static str, price: Option<String>| {
        let mut fields = vec![("subscription", sub.id.to_string()), ("action", action.to_owned())];
        fields.extend(price.map(|p| ("price", p)));
        fields
    };
    let page = http
        .post(&action)
        .form(&form("cancel", None))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("cancels at period end"), "{page}");
    assert!(
        RetrieveSubscription::new(sub.id.clone())
            .send(&client)
            .await
            .unwrap()
            .cancel_at_period_end
    );
    http.post(&action).form(&form("resume", None)).send().await.unwrap();
    assert!(
        !RetrieveSubscription::new(sub.id.clone())
            .send(&client)
            .await
            .unwrap()
            .cancel_at_period_end
    );
    let pro = price_id(&client, "pro_year").await;
    http.post(&action).form(&form("switch", Some(pro.clone()))).send().await.unwrap();
    let switched = RetrieveSubscription::new(sub.id.clone()).send(&client).await.unwrap();
    assert_eq!(switched.items.data[0].price.id.as_str(), pro);
    let customer = sub.customer.id().to_string();
    let keys: Vec<String> = ListEntitlementsActiveEntitlement::new(customer)
        .send(&client)
        .await
        .unwrap()
        .data
        .into_iter()
        .map(|e| e.lookup_key)
        .collect();
    assert!(keys.contains(&"api_access".to_owned()), "pro features after the switch: {keys:?}");
}
