//! The emulator's retention surface over HTTP: coupons, promotion codes (the `promotion` shape of
//! the pinned API version), discounts on subscriptions and what they take off invoices,
//! `pause_collection` at renewals, resuming a paused subscription (which bills), and Checkout
//! trials without a card ended by `trial_settings.end_behavior.missing_payment_method` or paid
//! by a card added in the Billing Portal. Subscriptions, invoices, sessions and customers are
//! read with async-stripe's own types.

use serde_json::{Value, json};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::invoice::{CreatePreviewInvoice, RetrieveInvoice};
use stripe_billing::subscription::RetrieveSubscription;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionPaymentMethodCollection,
    CreateCheckoutSessionSubscriptionData, CreateCheckoutSessionSubscriptionDataTrialSettings,
    CreateCheckoutSessionSubscriptionDataTrialSettingsEndBehavior,
    CreateCheckoutSessionSubscriptionDataTrialSettingsEndBehaviorMissingPaymentMethod as Missing, RetrieveCheckoutSession,
};
use stripe_core::customer::{RetrieveCustomer, RetrieveCustomerReturned};
use stripe_emulator::Emulator;
use stripe_shared::{
    CheckoutSessionMode, CheckoutSessionPaymentMethodCollection, InvoiceStatus, SubscriptionStatus,
    SubscriptionsResourcePauseCollectionBehavior as Behavior, SubscriptionsResourceTrialSettingsEndBehaviorMissingPaymentMethod,
};

use crate::emulator::{client, control, paid_subscription, price_id, start_emulator};

const DAY: i64 = 86_400;
const CARD: &str = "4242424242424242";
const FAILS_LATER: &str = "4000000000000341";

async fn now(emulator: &Emulator) -> i64 {
    emulator.shared.world.lock().await.now()
}

async fn advance(emulator: &Emulator, seconds: i64) {
    let (status, body) = control(emulator, "/_emulator/clock/advance", json!({"seconds": seconds})).await;
    assert_eq!(status, 200, "{body}");
}

/// Moves the clock just past `at`.
async fn advance_to(emulator: &Emulator, at: i64) {
    let seconds = at - now(emulator).await + 1;
    advance(emulator, seconds.max(0)).await;
}

async fn get(emulator: &Emulator, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("http://{}{path}", emulator.addr))
        .bearer_auth(billing::testkit::LOCAL_STRIPE_KEY)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn post(emulator: &Emulator, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("http://{}{path}", emulator.addr))
        .bearer_auth(billing::testkit::LOCAL_STRIPE_KEY)
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

/// A created object (status 200), its id.
async fn create(emulator: &Emulator, path: &str, form: &[(&str, &str)]) -> String {
    let (status, body) = post(emulator, path, form).await;
    assert_eq!(status, 200, "{path}: {body}");
    body["id"].as_str().unwrap().to_owned()
}

/// The events recorded from `from` on: (type, object, previous_attributes).
async fn events_since(emulator: &Emulator, from: usize) -> Vec<(String, Value, Option<Value>)> {
    emulator.shared.world.lock().await.events[from..]
        .iter()
        .map(|e| (e.event_type.clone(), e.object.clone(), e.previous_attributes.clone()))
        .collect()
}

async fn event_count(emulator: &Emulator) -> usize {
    emulator.shared.world.lock().await.events.len()
}

fn types(events: &[(String, Value, Option<Value>)]) -> Vec<&str> {
    events.iter().map(|(t, _, _)| t.as_str()).collect()
}

/// A subscription to 2 × `lookup_key` paid with `card` (`pro_month`: $58.00 a month).
async fn subscription(emulator: &Emulator, client: &stripe::Client, lookup_key: &str, card: &str) -> stripe_shared::Subscription {
    paid_subscription(emulator, client, lookup_key, card, None).await
}

async fn retrieve(client: &stripe::Client, id: &str) -> stripe_shared::Subscription {
    RetrieveSubscription::new(id)
        .expand(vec![
            "discounts".to_owned(),
            "discounts.promotion_code".to_owned(),
            "discounts.source.coupon".to_owned(),
        ])
        .send(client)
        .await
        .unwrap()
}

async fn latest_invoice(client: &stripe::Client, sub: &str) -> stripe_shared::Invoice {
    let sub = RetrieveSubscription::new(sub).send(client).await.unwrap();
    let id = invoice_id(&sub).unwrap();
    RetrieveInvoice::new(id.as_str()).send(client).await.unwrap()
}

fn invoice_id(sub: &stripe_shared::Subscription) -> Option<String> {
    sub.latest_invoice.as_ref().and_then(|i| i.id().as_ref()).map(|id| id.to_string())
}

fn period(sub: &stripe_shared::Subscription) -> (i64, i64) {
    (sub.items.data[0].current_period_start, sub.items.data[0].current_period_end)
}

fn discount_ids(sub: &stripe_shared::Subscription) -> Vec<String> {
    sub.discounts.iter().map(|d| d.id().to_string()).collect()
}

#[tokio::test]
async fn coupons_are_created_validated_listed_updated_and_go_invalid() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let (status, half) = post(
        &emulator,
        "/v1/coupons",
        &[
            ("id", "HALF_ONCE"),
            ("percent_off", "50"),
            ("name", "Half off"),
            ("metadata[campaign]", "spring"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{half}");
    assert_eq!(
        (half["object"].as_str(), half["percent_off"].as_f64(), half["duration"].as_str()),
        (Some("coupon"), Some(50.0), Some("once")),
        "duration defaults to once"
    );
    assert_eq!((half["valid"].as_bool(), half["times_redeemed"].as_i64()), (Some(true), Some(0)));
    let (_, five) = post(
        &emulator,
        "/v1/coupons",
        &[
            ("amount_off", "500"),
            ("currency", "usd"),
            ("duration", "repeating"),
            ("duration_in_months", "3"),
        ],
    )
    .await;
    assert_eq!(five["id"].as_str().map(str::len), Some(8), "a generated id: {five}");
    assert_eq!(
        (five["amount_off"].as_i64(), five["duration_in_months"].as_i64()),
        (Some(500), Some(3))
    );

    for (form, param, code) in [
        (
            vec![("percent_off", "10"), ("amount_off", "100"), ("currency", "usd")],
            "percent_off",
            "parameter_invalid",
        ),
        (vec![("amount_off", "100")], "currency", "parameter_invalid"),
        (vec![("percent_off", "120")], "percent_off", "parameter_invalid"),
        (
            vec![("percent_off", "10"), ("duration", "repeating")],
            "duration_in_months",
            "parameter_missing",
        ),
        (
            vec![("percent_off", "10"), ("duration_in_months", "2")],
            "duration_in_months",
            "parameter_invalid",
        ),
        (vec![("id", "HALF_ONCE"), ("percent_off", "10")], "id", "resource_already_exists"),
        (
            vec![("percent_off", "10"), ("applies_to[products][0]", "prod_1")],
            "applies_to",
            "parameter_unknown",
        ),
    ] {
        let (status, body) = post(&emulator, "/v1/coupons", &form).await;
        assert_eq!(status, 400, "{form:?}: {body}");
        assert_eq!(
            (body["error"]["param"].as_str(), body["error"]["code"].as_str()),
            (Some(param), Some(code)),
            "{form:?}: {body}"
        );
    }
    let (status, missing) = get(&emulator, "/v1/coupons/NOPE").await;
    assert_eq!((status, missing["error"]["code"].as_str()), (404, Some("resource_missing")));

    let (status, page) = get(&emulator, "/v1/coupons?limit=1").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["data"][0]["id"], five["id"], "newest first");
    assert_eq!(page["has_more"], true, "the seeded coupons and HALF_ONCE follow");
    let (_, rest) = get(
        &emulator,
        &format!("/v1/coupons?limit=100&starting_after={}", five["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(rest["data"][0]["id"], "HALF_ONCE");
    assert_eq!(rest["data"].as_array().unwrap().len(), 3, "HALF_ONCE and the two seeded coupons");

    let (status, renamed) = post(
        &emulator,
        "/v1/coupons/HALF_ONCE",
        &[("name", "Spring half"), ("metadata[campaign]", "")],
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(
        (renamed["name"].as_str(), renamed["metadata"].clone()),
        (Some("Spring half"), json!({}))
    );
    let (status, refused) = post(&emulator, "/v1/coupons/HALF_ONCE", &[("percent_off", "20")]).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("parameter_unknown")));
    let updated = events_since(&emulator, 0).await;
    let (_, _, previous) = updated.iter().rev().find(|(t, _, _)| t == "coupon.updated").unwrap();
    assert_eq!(previous.as_ref().unwrap()["name"], "Half off");

    // Redeemed up to max_redemptions, or past redeem_by: no longer valid.
    let at = now(&emulator).await;
    let redeem_by = (at + 100).to_string();
    let once = create(&emulator, "/v1/coupons", &[("percent_off", "10"), ("max_redemptions", "1")]).await;
    let dated = create(&emulator, "/v1/coupons", &[("percent_off", "10"), ("redeem_by", &redeem_by)]).await;
    let sub = subscription(&emulator, &client, "pro_month", CARD).await;
    let (status, body) = post(
        &emulator,
        &format!("/v1/subscriptions/{}", sub.id),
        &[("discounts[0][coupon]", &once)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, used) = get(&emulator, &format!("/v1/coupons/{once}")).await;
    assert_eq!((used["times_redeemed"].as_i64(), used["valid"].as_bool()), (Some(1), Some(false)));
    advance(&emulator, 101).await;
    let (_, expired) = get(&emulator, &format!("/v1/coupons/{dated}")).await;
    assert_eq!(expired["valid"], false);
}

#[tokio::test]
async fn promotion_codes_name_their_coupon_under_promotion_and_filter_by_code() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let coupon = create(&emulator, "/v1/coupons", &[("percent_off", "25"), ("duration", "forever")]).await;
    let (status, promo) = post(
        &emulator,
        "/v1/promotion_codes",
        &[
            ("promotion[type]", "coupon"),
            ("promotion[coupon]", &coupon),
            ("code", "SPRING25"),
            ("max_redemptions", "5"),
            ("metadata[team]", "growth"),
            ("restrictions[first_time_transaction]", "true"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{promo}");
    assert!(promo["id"].as_str().unwrap().starts_with("promo_"));
    assert_eq!(promo["promotion"], json!({"type": "coupon", "coupon": coupon}));
    assert!(promo.get("coupon").is_none(), "no top-level coupon at this API version");
    assert_eq!((promo["active"].as_bool(), promo["times_redeemed"].as_i64()), (Some(true), Some(0)));
    assert_eq!(promo["restrictions"]["first_time_transaction"], true);

    let (status, body) = post(&emulator, "/v1/promotion_codes", &[("coupon", &coupon), ("code", "OLDSHAPE")]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("parameter_unknown")), "{body}");
    let (status, body) = post(
        &emulator,
        "/v1/promotion_codes",
        &[("promotion[type]", "coupon"), ("promotion[coupon]", "NOPE")],
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str(), body["error"]["param"].as_str()),
        (400, Some("resource_missing"), Some("promotion[coupon]"))
    );
    let (status, body) = post(
        &emulator,
        "/v1/promotion_codes",
        &[("promotion[type]", "coupon"), ("promotion[coupon]", &coupon), ("code", "spring25")],
    )
    .await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("code")),
        "an active code, any case: {body}"
    );
    let (status, generated) = post(
        &emulator,
        "/v1/promotion_codes",
        &[("promotion[type]", "coupon"), ("promotion[coupon]", &coupon)],
    )
    .await;
    assert_eq!(status, 200, "{generated}");
    assert_eq!(generated["code"].as_str().map(str::len), Some(8), "a generated code");

    let id = promo["id"].as_str().unwrap();
    let (_, by_code) = get(&emulator, "/v1/promotion_codes?code=spring25").await;
    let ids: Vec<&str> = by_code["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![id], "exact code, any case");
    let (_, by_coupon) = get(&emulator, &format!("/v1/promotion_codes?coupon={coupon}")).await;
    assert_eq!(by_coupon["data"].as_array().unwrap().len(), 2);
    let (_, expanded) = get(&emulator, &format!("/v1/promotion_codes/{id}?expand[]=promotion.coupon")).await;
    assert_eq!(expanded["promotion"]["coupon"]["percent_off"], 25.0);

    let (status, updated) = post(
        &emulator,
        &format!("/v1/promotion_codes/{id}"),
        &[
            ("active", "false"),
            ("metadata[team]", "retention"),
            ("restrictions[minimum_amount]", "1000"),
            ("restrictions[minimum_amount_currency]", "usd"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (updated["active"].as_bool(), updated["metadata"]["team"].as_str()),
        (Some(false), Some("retention"))
    );
    assert_eq!(updated["restrictions"]["minimum_amount"], 1000);
    let (_, inactive) = get(&emulator, "/v1/promotion_codes?active=false").await;
    assert_eq!(inactive["data"][0]["id"].as_str(), Some(id));
    let (_, active) = get(&emulator, "/v1/promotion_codes?active=true&limit=100").await;
    assert!(active["data"].as_array().unwrap().iter().all(|p| p["id"].as_str() != Some(id)));
    let (status, body) = post(&emulator, &format!("/v1/promotion_codes/{id}"), &[("code", "OTHER")]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("parameter_unknown")));

    // A code for one customer.
    let sub = subscription(&emulator, &client, "starter_month", CARD).await;
    let customer = sub.customer.id().to_string();
    let mine = create(
        &emulator,
        "/v1/promotion_codes",
        &[
            ("promotion[type]", "coupon"),
            ("promotion[coupon]", &coupon),
            ("customer", &customer),
            ("code", "JUSTYOU"),
        ],
    )
    .await;
    let (_, by_customer) = get(&emulator, &format!("/v1/promotion_codes?customer={customer}")).await;
    assert_eq!(by_customer["data"][0]["id"].as_str(), Some(mine.as_str()));

    // The seeded codes are real promotion codes over real coupons.
    for (code, percent) in [("FREE100", 100.0), ("HALF50", 50.0)] {
        let (_, listed) = get(
            &emulator,
            &format!("/v1/promotion_codes?code={code}&expand[]=data.promotion.coupon"),
        )
        .await;
        assert_eq!(listed["data"][0]["code"], code);
        assert_eq!(listed["data"][0]["promotion"]["coupon"]["percent_off"], percent);
    }
}

#[tokio::test]
async fn a_promotion_code_discounts_the_next_invoice_once_and_is_redeemed_once() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let sub = subscription(&emulator, &client, "pro_month", CARD).await;
    let (_, end) = period(&sub);
    let coupon = create(&emulator, "/v1/coupons", &[("percent_off", "50"), ("name", "Stay with us")]).await;
    let promo = create(
        &emulator,
        "/v1/promotion_codes",
        &[("promotion[type]", "coupon"), ("promotion[coupon]", &coupon), ("code", "STAY50")],
    )
    .await;
    let from = event_count(&emulator).await;
    let path = format!("/v1/subscriptions/{}", sub.id);
    let (status, body) = post(&emulator, &path, &[("discounts[0][promotion_code]", &promo)]).await;
    assert_eq!(status, 200, "{body}");
    let discount = body["discounts"][0].as_str().unwrap().to_owned();
    assert!(discount.starts_with("di_"), "{body}");
    let events = events_since(&emulator, from).await;
    assert_eq!(types(&events), ["customer.discount.created", "customer.subscription.updated"]);
    assert_eq!(events[1].2.as_ref().unwrap()["discounts"], json!([]), "previous_attributes");

    // Read back through async-stripe's types, expanded.
    let read = retrieve(&client, sub.id.as_str()).await;
    let object = read.discounts[0].as_object().expect("expanded");
    assert_eq!(object.id.as_str(), discount);
    assert_eq!(object.subscription.as_deref(), Some(sub.id.as_str()));
    let code = object
        .promotion_code
        .as_ref()
        .and_then(|p| p.as_object())
        .expect("promotion_code expanded");
    assert_eq!((code.code.as_str(), code.times_redeemed), ("STAY50", 1));
    let source = object.source.coupon.as_ref().and_then(|c| c.as_object()).expect("coupon expanded");
    assert_eq!(
        (source.id.as_str(), source.percent_off, source.times_redeemed),
        (coupon.as_str(), Some(50.0), 1)
    );

    // The same code again is a no-op: no second redemption, the same discount.
    let from = event_count(&emulator).await;
    let (status, again) = post(&emulator, &path, &[("discounts[0][promotion_code]", &promo)]).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["discounts"], json!([discount]));
    assert!(events_since(&emulator, from).await.is_empty(), "nothing changed");
    let (_, code) = get(&emulator, &format!("/v1/promotion_codes/{promo}")).await;
    assert_eq!(code["times_redeemed"], 1);

    // The preview and then the renewal take 50 % off.
    let preview = CreatePreviewInvoice::new()
        .subscription(sub.id.to_string())
        .send(&client)
        .await
        .unwrap();
    assert_eq!((preview.subtotal, preview.total), (5800, 2900));
    advance_to(&emulator, end).await;
    let renewal = latest_invoice(&client, sub.id.as_str()).await;
    assert_eq!(renewal.status, Some(InvoiceStatus::Paid));
    assert_eq!(
        (renewal.subtotal, renewal.total, renewal.amount_due, renewal.amount_paid),
        (5800, 2900, 2900, 2900)
    );
    let amounts: Vec<(i64, String)> = renewal
        .total_discount_amounts
        .as_ref()
        .unwrap()
        .iter()
        .map(|a| (a.amount, a.discount.id().to_string()))
        .collect();
    assert_eq!(amounts, vec![(2900, discount.clone())]);
    assert_eq!(
        renewal.discounts.iter().map(|d| d.id().to_string()).collect::<Vec<_>>(),
        vec![discount.clone()]
    );
    let line = &renewal.lines.data[0];
    assert_eq!((line.amount, line.discount_amounts.as_ref().unwrap()[0].amount), (5800, 2900));

    // `once`: used up by that invoice; the next renewal is full price.
    let after = retrieve(&client, sub.id.as_str()).await;
    assert!(after.discounts.is_empty(), "a once discount leaves after its invoice");
    advance_to(&emulator, period(&after).1).await;
    let next = latest_invoice(&client, sub.id.as_str()).await;
    assert_eq!((next.subtotal, next.total), (5800, 5800));
}

#[tokio::test]
async fn repeating_coupons_last_their_months_and_amount_off_coupons_last_forever() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let repeating = create(
        &emulator,
        "/v1/coupons",
        &[("percent_off", "20"), ("duration", "repeating"), ("duration_in_months", "2")],
    )
    .await;
    let forever = create(
        &emulator,
        "/v1/coupons",
        &[("amount_off", "500"), ("currency", "usd"), ("duration", "forever")],
    )
    .await;
    let a = subscription(&emulator, &client, "pro_month", CARD).await;
    let b = subscription(&emulator, &client, "pro_month", CARD).await;
    advance(&emulator, 10 * DAY).await;
    for (sub, coupon) in [(&a, &repeating), (&b, &forever)] {
        let (status, body) = post(
            &emulator,
            &format!("/v1/subscriptions/{}", sub.id),
            &[("discounts[0][coupon]", coupon)],
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let discount = retrieve(&client, a.id.as_str()).await;
    let end = discount.discounts[0].as_object().unwrap().end.expect("a repeating discount ends");
    assert_eq!(end - discount.discounts[0].as_object().unwrap().start, 60 * DAY);
    let mut totals = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let (_, period_end) = period(&RetrieveSubscription::new(a.id.clone()).send(&client).await.unwrap());
        advance_to(&emulator, period_end).await;
        totals.0.push(latest_invoice(&client, a.id.as_str()).await.total);
        totals.1.push(latest_invoice(&client, b.id.as_str()).await.total);
    }
    assert_eq!(totals.0, vec![4640, 4640, 5800], "two months of 20 % off, then full price");
    assert_eq!(totals.1, vec![5300, 5300, 5300], "$5 off every invoice");
    assert!(
        retrieve(&client, a.id.as_str()).await.discounts.is_empty(),
        "the repeating discount ended"
    );
    assert_eq!(discount_ids(&retrieve(&client, b.id.as_str()).await).len(), 1);
}

#[tokio::test]
async fn promotion_codes_stripe_refuses_change_nothing() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let sub = subscription(&emulator, &client, "pro_month", CARD).await;
    let other = subscription(&emulator, &client, "pro_month", CARD).await;
    let other_customer = other.customer.id().to_string();
    let coupon = create(&emulator, "/v1/coupons", &[("percent_off", "10"), ("duration", "forever")]).await;
    let at = now(&emulator).await;
    let soon = (at + 100).to_string();
    let dated_coupon = create(&emulator, "/v1/coupons", &[("percent_off", "10"), ("redeem_by", &soon)]).await;
    let promo = |extra: Vec<(&'static str, String)>, coupon: String| {
        let emulator = &emulator;
        async move {
            let mut form = vec![("promotion[type]", "coupon".to_owned()), ("promotion[coupon]", coupon)];
            form.extend(extra);
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            create(emulator, "/v1/promotion_codes", &form).await
        }
    };
    let inactive = promo(vec![("active", "false".into())], coupon.clone()).await;
    let expiring = promo(vec![("expires_at", soon.clone())], coupon.clone()).await;
    let once = promo(vec![("max_redemptions", "1".into())], coupon.clone()).await;
    let theirs = promo(vec![("customer", other_customer.clone())], coupon.clone()).await;
    let first_time = promo(vec![("restrictions[first_time_transaction]", "true".into())], coupon.clone()).await;
    let minimum = promo(
        vec![
            ("restrictions[minimum_amount]", "10000".into()),
            ("restrictions[minimum_amount_currency]", "usd".into()),
        ],
        coupon.clone(),
    )
    .await;
    let dated = promo(vec![], dated_coupon.clone()).await;
    let (status, body) = post(
        &emulator,
        &format!("/v1/subscriptions/{}", other.id),
        &[("discounts[0][promotion_code]", &once)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    advance(&emulator, 101).await;

    let path = format!("/v1/subscriptions/{}", sub.id);
    let before = event_count(&emulator).await;
    for (id, why, code) in [
        (inactive.as_str(), "inactive", "parameter_invalid"),
        (&expiring, "expired", "parameter_invalid"),
        (&once, "maximum number of redemptions", "parameter_invalid"),
        (&theirs, "different customer", "parameter_invalid"),
        (&first_time, "prior transactions", "parameter_invalid"),
        (&minimum, "minimum amount", "parameter_invalid"),
        (&dated, "Coupon expired", "coupon_expired"),
        ("promo_nope", "No such promotion_code", "resource_missing"),
    ] {
        let (status, body) = post(&emulator, &path, &[("discounts[0][promotion_code]", id)]).await;
        assert_eq!(status, 400, "{why}: {body}");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["param"], "discounts[0][promotion_code]", "{why}");
        assert_eq!(body["error"]["code"].as_str(), Some(code), "{why}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(why), "{why}: {body}");
    }
    let (status, body) = post(&emulator, &path, &[("discounts[0][coupon]", &dated_coupon)]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str(), body["error"]["param"].as_str()),
        (400, Some("coupon_expired"), Some("discounts[0][coupon]"))
    );
    let (status, body) = post(
        &emulator,
        &path,
        &[("discounts[0][coupon]", &coupon), ("discounts[0][promotion_code]", &inactive)],
    )
    .await;
    assert_eq!((status, body["error"]["param"].as_str()), (400, Some("discounts[0]")));
    assert_eq!(event_count(&emulator).await, before, "refused requests record nothing");
    assert!(retrieve(&client, sub.id.as_str()).await.discounts.is_empty());
    let (_, unused) = get(&emulator, &format!("/v1/promotion_codes/{once}")).await;
    assert_eq!(
        (unused["times_redeemed"].as_i64(), unused["active"].as_bool()),
        (Some(1), Some(false))
    );

    // A coupon applied, then cleared with `discounts=`.
    let (status, body) = post(&emulator, &path, &[("discounts[0][coupon]", &coupon)]).await;
    assert_eq!(status, 200, "{body}");
    let from = event_count(&emulator).await;
    let (status, cleared) = post(&emulator, &path, &[("discounts", "")]).await;
    assert_eq!((status, cleared["discounts"].clone()), (200, json!([])), "{cleared}");
    assert_eq!(
        types(&events_since(&emulator, from).await),
        ["customer.discount.deleted", "customer.subscription.updated"]
    );
}

#[tokio::test]
async fn a_code_entered_on_the_checkout_page_is_a_real_promotion_code() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let session = crate::emulator::subscription_session(&client, &price_id(&client, "pro_month").await, None).await;
    let (status, paid) = control(
        &emulator,
        &format!("/_emulator/checkout/sessions/{}/pay", session.id),
        json!({"card": CARD, "promotion_code": "half50"}),
    )
    .await;
    assert_eq!(status, 200, "{paid}");
    let done = RetrieveCheckoutSession::new(session.id.clone()).send(&client).await.unwrap();
    assert_eq!((done.amount_total, done.total_details.unwrap().amount_discount), (Some(2900), 2900));
    let (_, codes) = get(&emulator, "/v1/promotion_codes?code=HALF50").await;
    let promo = &codes["data"][0];
    assert_eq!(promo["times_redeemed"], 1);
    let sub = retrieve(&client, done.subscription.unwrap().id().as_str()).await;
    let first = latest_invoice(&client, sub.id.as_str()).await;
    assert_eq!((first.subtotal, first.total, first.amount_paid), (5800, 2900, 2900));
    let discount = first.discounts[0].id().to_string();
    assert!(sub.discounts.is_empty(), "HALF50 is `once`: used up by the first invoice");
    let events = events_since(&emulator, 0).await;
    let (_, created, _) = events
        .iter()
        .find(|(t, o, _)| t == "customer.discount.created" && o["id"] == discount.as_str())
        .expect("the discount of the code");
    assert_eq!(created["checkout_session"], session.id.as_str());
    assert_eq!(created["subscription"], sub.id.as_str());
    assert_eq!(created["promotion_code"], promo["id"]);
    assert!(
        events
            .iter()
            .any(|(t, o, _)| t == "customer.discount.deleted" && o["id"] == discount.as_str())
    );
    assert!(sub.default_payment_method.is_some(), "Checkout saves the card on the subscription");
    advance_to(&emulator, period(&sub).1).await;
    assert_eq!(latest_invoice(&client, sub.id.as_str()).await.total, 5800, "HALF50 is once");
}

#[tokio::test]
async fn paused_collection_renews_without_collecting_until_it_resumes() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let mut subs = Vec::new();
    for behavior in ["void", "mark_uncollectible", "keep_as_draft"] {
        let sub = subscription(&emulator, &client, "pro_month", CARD).await;
        let (status, body) = post(
            &emulator,
            &format!("/v1/subscriptions/{}", sub.id),
            &[("pause_collection[behavior]", behavior)],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["pause_collection"], json!({"behavior": behavior, "resumes_at": null}));
        assert_eq!(body["status"], "active", "paused collection keeps the status");
        subs.push(sub);
    }
    let read = RetrieveSubscription::new(subs[0].id.clone()).send(&client).await.unwrap();
    assert_eq!(read.pause_collection.unwrap().behavior, Behavior::Void);
    let (status, body) = post(
        &emulator,
        &format!("/v1/subscriptions/{}", subs[0].id),
        &[("pause_collection[behavior]", "sometimes")],
    )
    .await;
    assert_eq!((status, body["error"]["param"].as_str()), (400, Some("pause_collection[behavior]")));

    let from = event_count(&emulator).await;
    // Made a second apart at most: each renews at its own period end.
    let periods: Vec<(i64, i64)> = subs.iter().map(period).collect();
    let end = periods.iter().map(|p| p.1).max().unwrap();
    advance_to(&emulator, end).await;
    let events = events_since(&emulator, from).await;
    assert!(!types(&events).contains(&"invoice.paid") && !types(&events).contains(&"invoice.payment_failed"));
    assert_eq!(types(&events).iter().filter(|t| **t == "invoice.voided").count(), 1);
    assert_eq!(types(&events).iter().filter(|t| **t == "invoice.marked_uncollectible").count(), 1);
    let expected = [
        (InvoiceStatus::Void, true),
        (InvoiceStatus::Uncollectible, true),
        (InvoiceStatus::Draft, false),
    ];
    for ((sub, (status, numbered)), (start, end)) in subs.iter().zip(expected).zip(periods) {
        let renewed = RetrieveSubscription::new(sub.id.clone()).send(&client).await.unwrap();
        assert_eq!(renewed.status, SubscriptionStatus::Active);
        assert_eq!(period(&renewed), (end, end + (end - start)), "the period still moves on");
        let invoice = latest_invoice(&client, sub.id.as_str()).await;
        assert_eq!((invoice.status, invoice.number.is_some()), (Some(status.clone()), numbered));
        assert_eq!(
            (invoice.amount_paid, invoice.billing_reason),
            (0, Some(stripe_shared::InvoiceBillingReason::SubscriptionCycle))
        );
        if status == InvoiceStatus::Void {
            assert!(invoice.status_transitions.voided_at.is_some());
        }
        if status == InvoiceStatus::Uncollectible {
            assert!(invoice.status_transitions.marked_uncollectible_at.is_some());
        }
    }

    // Cleared by hand; or by the clock at `resumes_at`, with customer.subscription.updated.
    let (status, cleared) = post(&emulator, &format!("/v1/subscriptions/{}", subs[1].id), &[("pause_collection", "")]).await;
    assert_eq!((status, cleared["pause_collection"].clone()), (200, Value::Null));
    let resumes_at = now(&emulator).await + 5 * DAY;
    let (status, body) = post(
        &emulator,
        &format!("/v1/subscriptions/{}", subs[2].id),
        &[
            ("pause_collection[behavior]", "void"),
            ("pause_collection[resumes_at]", &resumes_at.to_string()),
        ],
    )
    .await;
    assert_eq!(
        (status, body["pause_collection"]["resumes_at"].as_i64()),
        (200, Some(resumes_at)),
        "{body}"
    );
    let from = event_count(&emulator).await;
    advance(&emulator, 6 * DAY).await;
    let events = events_since(&emulator, from).await;
    let (_, object, previous) = events
        .iter()
        .find(|(t, o, _)| t == "customer.subscription.updated" && o["id"] == subs[2].id.as_str())
        .expect("the pause lifted");
    assert_eq!(object["pause_collection"], Value::Null);
    assert_eq!(previous.as_ref().unwrap()["pause_collection"]["behavior"], "void");
    assert!(
        RetrieveSubscription::new(subs[2].id.clone())
            .send(&client)
            .await
            .unwrap()
            .pause_collection
            .is_none()
    );
}

#[tokio::test]
async fn resuming_collection_now_charges_a_new_period_or_changes_nothing() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let good = subscription(&emulator, &client, "pro_month", CARD).await;
    let failing = subscription(&emulator, &client, "pro_month", FAILS_LATER).await;
    for sub in [&good, &failing] {
        let (status, body) = post(
            &emulator,
            &format!("/v1/subscriptions/{}", sub.id),
            &[("pause_collection[behavior]", "void")],
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    advance_to(&emulator, period(&good).1).await;
    advance(&emulator, 5 * DAY).await;
    let resume = [
        ("pause_collection", ""),
        ("billing_cycle_anchor", "now"),
        ("proration_behavior", "none"),
        ("payment_behavior", "error_if_incomplete"),
    ];

    // A declined card: 402, and nothing of the update is applied (the pause stays).
    let before = RetrieveSubscription::new(failing.id.clone()).send(&client).await.unwrap();
    let events = event_count(&emulator).await;
    let (status, body) = post(&emulator, &format!("/v1/subscriptions/{}", failing.id), &resume).await;
    assert_eq!(status, 402, "{body}");
    assert_eq!(
        (body["error"]["type"].as_str(), body["error"]["code"].as_str()),
        (Some("card_error"), Some("card_declined"))
    );
    let after = RetrieveSubscription::new(failing.id.clone()).send(&client).await.unwrap();
    assert_eq!(after.pause_collection.as_ref().map(|p| p.behavior.clone()), Some(Behavior::Void));
    assert_eq!(period(&after), period(&before));
    assert_eq!(invoice_id(&after), invoice_id(&before));
    assert_eq!(event_count(&emulator).await, events, "no event");

    // A good card: a new period from now, a whole one charged at once.
    let at = now(&emulator).await;
    let (status, body) = post(&emulator, &format!("/v1/subscriptions/{}", good.id), &resume).await;
    assert_eq!(status, 200, "{body}");
    let resumed = RetrieveSubscription::new(good.id.clone()).send(&client).await.unwrap();
    assert!(resumed.pause_collection.is_none());
    assert_eq!((resumed.billing_cycle_anchor, period(&resumed)), (at, (at, at + 30 * DAY)));
    let invoice = latest_invoice(&client, good.id.as_str()).await;
    assert_eq!(
        (
            invoice.status,
            invoice.billing_reason,
            invoice.amount_paid,
            invoice.lines.data.len()
        ),
        (
            Some(InvoiceStatus::Paid),
            Some(stripe_shared::InvoiceBillingReason::SubscriptionUpdate),
            5800,
            1
        )
    );
}

#[tokio::test]
async fn resuming_a_paused_subscription_bills_a_new_period() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let good = subscription(&emulator, &client, "pro_month", CARD).await;
    let failing = subscription(&emulator, &client, "pro_month", FAILS_LATER).await;
    let (status, body) = post(&emulator, &format!("/v1/subscriptions/{}/resume", good.id), &[]).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (400, Some("invalid_request_error")),
        "not paused: {body}"
    );
    for sub in [&good, &failing] {
        let (status, body) = control(&emulator, &format!("/_emulator/subscriptions/{}/pause", sub.id), json!({})).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("paused")));
    }
    advance(&emulator, 40 * DAY).await;
    assert_eq!(
        RetrieveSubscription::new(good.id.clone()).send(&client).await.unwrap().status,
        SubscriptionStatus::Paused,
        "a paused subscription does not renew"
    );
    let (status, body) = post(
        &emulator,
        &format!("/v1/subscriptions/{}/resume", good.id),
        &[("billing_cycle_anchor", "sometime")],
    )
    .await;
    assert_eq!((status, body["error"]["param"].as_str()), (400, Some("billing_cycle_anchor")));

    let at = now(&emulator).await;
    let from = event_count(&emulator).await;
    let (status, body) = post(
        &emulator,
        &format!("/v1/subscriptions/{}/resume", good.id),
        &[("billing_cycle_anchor", "now")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let resumed = RetrieveSubscription::new(good.id.clone()).send(&client).await.unwrap();
    assert_eq!(
        (resumed.status.clone(), period(&resumed)),
        (SubscriptionStatus::Active, (at, at + 30 * DAY))
    );
    let invoice = latest_invoice(&client, good.id.as_str()).await;
    assert_eq!((invoice.status, invoice.amount_paid), (Some(InvoiceStatus::Paid), 5800));
    let events = events_since(&emulator, from).await;
    let names = types(&events);
    for t in ["invoice.paid", "customer.subscription.resumed", "customer.subscription.updated"] {
        assert!(names.contains(&t), "{t}: {names:?}");
    }

    // The card fails: the resumption invoice stays open, the subscription goes past_due.
    let (status, body) = post(&emulator, &format!("/v1/subscriptions/{}/resume", failing.id), &[]).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("past_due")), "{body}");
    let invoice = latest_invoice(&client, failing.id.as_str()).await;
    assert_eq!(
        (invoice.status, invoice.amount_due, invoice.attempt_count),
        (Some(InvoiceStatus::Open), 5800, 1)
    );
}

/// A subscription-mode session for 1 × `pro_month` with a 14-day trial, collecting a card only
/// if required (`if_required`), ending the trial by `missing` without one.
async fn trial_session(client: &stripe::Client, missing: Option<Missing>, if_required: bool) -> stripe_shared::CheckoutSession {
    let mut item = CreateCheckoutSessionLineItems::new();
    item.price = Some(price_id(client, "pro_month").await);
    item.quantity = Some(1);
    let mut data = CreateCheckoutSessionSubscriptionData::new();
    data.trial_period_days = Some(14);
    data.trial_settings = missing.map(|m| {
        CreateCheckoutSessionSubscriptionDataTrialSettings::new(CreateCheckoutSessionSubscriptionDataTrialSettingsEndBehavior::new(m))
    });
    let mut request = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .line_items(vec![item])
        .customer_email("trial@example.com")
        .subscription_data(data)
        .success_url("http://localhost:3000/done?session_id={CHECKOUT_SESSION_ID}");
    if if_required {
        request = request.payment_method_collection(CreateCheckoutSessionPaymentMethodCollection::IfRequired);
    }
    request.send(client).await.unwrap()
}

/// The hosted page's Pay button with `form` (no redirect followed): the status and the body.
async fn pay_on_page(emulator: &Emulator, session: &str, form: &[(&str, &str)]) -> (u16, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = http
        .post(format!("http://{}/checkout/{session}/pay", emulator.addr))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn customer_payment_method(client: &stripe::Client, customer: &str) -> Option<String> {
    match RetrieveCustomer::new(customer).send(client).await.unwrap() {
        RetrieveCustomerReturned::Customer(c) => c.invoice_settings?.default_payment_method.map(|p| p.id().to_string()),
        RetrieveCustomerReturned::DeletedCustomer(_) => panic!("deleted"),
    }
}

#[tokio::test]
async fn a_trial_without_a_card_ends_as_its_missing_payment_method_says() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let mut subs = Vec::new();
    for missing in [Missing::Cancel, Missing::Pause, Missing::CreateInvoice] {
        let session = trial_session(&client, Some(missing), true).await;
        assert_eq!(
            session.payment_method_collection,
            Some(CheckoutSessionPaymentMethodCollection::IfRequired)
        );
        let page = reqwest::get(session.url.clone().unwrap()).await.unwrap().text().await.unwrap();
        assert!(page.contains("No card needed"), "{page}");
        let (status, _) = pay_on_page(&emulator, session.id.as_str(), &[]).await;
        assert_eq!(status, 303, "paid without a card field");
        let done = RetrieveCheckoutSession::new(session.id.clone()).send(&client).await.unwrap();
        assert_eq!(done.payment_status, stripe_shared::CheckoutSessionPaymentStatus::NoPaymentRequired);
        let sub = RetrieveSubscription::new(done.subscription.unwrap().id().clone())
            .send(&client)
            .await
            .unwrap();
        assert_eq!(sub.status, SubscriptionStatus::Trialing);
        assert!(sub.default_payment_method.is_none(), "no card on the subscription");
        assert_eq!(
            customer_payment_method(&client, sub.customer.id().as_str()).await,
            None,
            "nor on the customer"
        );
        subs.push(sub);
    }
    let settings = |sub: &stripe_shared::Subscription| sub.trial_settings.as_ref().unwrap().end_behavior.missing_payment_method.clone();
    assert_eq!(
        settings(&subs[0]),
        SubscriptionsResourceTrialSettingsEndBehaviorMissingPaymentMethod::Cancel
    );
    assert_eq!(
        settings(&subs[1]),
        SubscriptionsResourceTrialSettingsEndBehaviorMissingPaymentMethod::Pause
    );

    let from = event_count(&emulator).await;
    advance(&emulator, 11 * DAY + 1).await;
    assert_eq!(
        types(&events_since(&emulator, from).await)
            .iter()
            .filter(|t| **t == "customer.subscription.trial_will_end")
            .count(),
        3,
        "3 days before the trial ends"
    );
    let from = event_count(&emulator).await;
    advance(&emulator, 3 * DAY).await;
    let events = events_since(&emulator, from).await;
    let of = |sub: &stripe_shared::Subscription| -> Vec<&str> {
        events
            .iter()
            .filter(|(_, o, _)| o["id"] == sub.id.as_str() || o["parent"]["subscription_details"]["subscription"] == sub.id.as_str())
            .map(|(t, _, _)| t.as_str())
            .collect()
    };
    assert_eq!(of(&subs[0]), ["customer.subscription.deleted"], "cancel: no invoice");
    assert_eq!(of(&subs[1]), ["customer.subscription.paused", "customer.subscription.updated"]);
    assert!(of(&subs[2]).contains(&"invoice.payment_failed"), "{:?}", of(&subs[2]));
    let statuses: Vec<SubscriptionStatus> = {
        let mut statuses = Vec::new();
        for sub in &subs {
            statuses.push(RetrieveSubscription::new(sub.id.clone()).send(&client).await.unwrap().status);
        }
        statuses
    };
    assert_eq!(
        statuses,
        [
            SubscriptionStatus::Canceled,
            SubscriptionStatus::Paused,
            SubscriptionStatus::PastDue
        ]
    );
    let invoice = latest_invoice(&client, subs[2].id.as_str()).await;
    assert_eq!(
        (invoice.status, invoice.amount_due, invoice.amount_paid),
        (Some(InvoiceStatus::Open), 2900, 0)
    );
}

#[tokio::test]
async fn a_card_is_required_unless_the_session_collects_one_only_if_needed_and_nothing_is_due() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let always = trial_session(&client, None, false).await;
    let (status, page) = pay_on_page(&emulator, always.id.as_str(), &[]).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("test card"), "{page}");
    // Money due today (no trial) with if_required: a card is still needed.
    let mut item = CreateCheckoutSessionLineItems::new();
    item.price = Some(price_id(&client, "pro_month").await);
    item.quantity = Some(1);
    let due = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .line_items(vec![item])
        .payment_method_collection(CreateCheckoutSessionPaymentMethodCollection::IfRequired)
        .success_url("http://localhost:3000/done")
        .send(&client)
        .await
        .unwrap();
    let (status, _) = pay_on_page(&emulator, due.id.as_str(), &[]).await;
    assert_eq!(status, 400);
    for session in [&always, &due] {
        let open = RetrieveCheckoutSession::new(session.id.clone()).send(&client).await.unwrap();
        assert_eq!(open.status, Some(stripe_shared::CheckoutSessionStatus::Open), "still open");
    }
    assert!(emulator.shared.world.lock().await.subscriptions.is_empty());
    // A card given anyway pays: the trial then ends by charging it.
    let (status, _) = pay_on_page(&emulator, always.id.as_str(), &[("card", CARD)]).await;
    assert_eq!(status, 303);
}

#[tokio::test]
async fn a_card_added_in_the_portal_pays_when_a_cardless_trial_ends() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let session = trial_session(&client, Some(Missing::Pause), true).await;
    let (status, _) = pay_on_page(&emulator, session.id.as_str(), &[("card", "")]).await;
    assert_eq!(status, 303);
    let done = RetrieveCheckoutSession::new(session.id.clone()).send(&client).await.unwrap();
    let sub = done.subscription.unwrap().id().to_string();
    let customer = done.customer.unwrap().id().to_string();
    let portal = CreateBillingPortalSession::new()
        .customer(customer.clone())
        .send(&client)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let page = http.get(&portal.url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Payment method: <b>none</b>") && page.contains("Add card"), "{page}");
    let action = format!("{}/action", portal.url);
    let declined = http
        .post(&action)
        .form(&[("action", "add_card"), ("card", "4000000000009995")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(declined.contains("declined"), "{declined}");
    assert_eq!(customer_payment_method(&client, &customer).await, None);
    let page = http
        .post(&action)
        .form(&[("action", "add_card"), ("card", "4242 4242 4242 4242")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("visa •••• 4242"), "{page}");
    let method = customer_payment_method(&client, &customer)
        .await
        .expect("the customer's default payment method");
    assert!(method.starts_with("pm_"), "{method}");
    let (status, pm) = get(&emulator, &format!("/v1/payment_methods/{method}")).await;
    assert_eq!(
        (status, pm["card"]["last4"].as_str(), pm["customer"].as_str()),
        (200, Some("4242"), Some(customer.as_str()))
    );

    advance(&emulator, 14 * DAY + 1).await;
    let ended = RetrieveSubscription::new(sub.as_str()).send(&client).await.unwrap();
    assert_eq!(ended.status, SubscriptionStatus::Active, "charged, not paused");
    let invoice = latest_invoice(&client, &sub).await;
    assert_eq!((invoice.status, invoice.amount_paid), (Some(InvoiceStatus::Paid), 2900));
}
