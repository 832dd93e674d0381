//! The emulator's usage-based billing through async-stripe's typed requests: Billing Meters
//! seeded from the catalog, meter events (validated, a repeated identifier refused), event
//! summaries, metered prices in Checkout and on subscriptions, and renewal invoices billing the
//! usage of the period that ended. Every response must deserialize into async-stripe's types.

use std::collections::HashMap;

use serde_json::{Value, json};
use stripe_billing::billing_meter::{
    CreateBillingMeter, CreateBillingMeterDefaultAggregation, CreateBillingMeterDefaultAggregationFormula, CreateBillingMeterValueSettings,
    DeactivateBillingMeter, ListBillingMeter, ReactivateBillingMeter, RetrieveBillingMeter,
};
use stripe_billing::billing_meter_event::CreateBillingMeterEvent;
use stripe_billing::billing_meter_event_summary::{ListIdBillingMeterEventSummary, ListIdBillingMeterEventSummaryValueGroupingWindow};
use stripe_billing::invoice::{CreatePreviewInvoice, ListInvoice};
use stripe_billing::subscription::{CancelSubscription, RetrieveSubscription, UpdateSubscription, UpdateSubscriptionItems};
use stripe_billing::{BillingMeterResourceAggregationSettingsFormula, BillingMeterStatus};
use stripe_checkout::checkout_session::{CreateCheckoutSession, CreateCheckoutSessionLineItems};
use stripe_core::customer::CreateCustomer;
use stripe_emulator::Emulator;
use stripe_product::price::RetrievePrice;
use stripe_shared::{CheckoutSessionMode, InvoiceBillingReason, InvoiceStatus, RecurringUsageType, SubscriptionStatus};

use crate::emulator::{api_error, client, control, price_id, start_emulator};

const DAY: i64 = 86_400;
const CARD: &str = "4242424242424242";

async fn clock(emulator: &Emulator) -> i64 {
    emulator.shared.world.lock().await.now()
}

async fn advance(emulator: &Emulator, seconds: i64) {
    let (status, body) = control(emulator, "/_emulator/clock/advance", json!({"seconds": seconds})).await;
    assert_eq!(status, 200, "{body}");
}

async fn meter_event_count(emulator: &Emulator) -> usize {
    emulator.shared.world.lock().await.meter_events.len()
}

/// The seeded `api_calls` meter.
async fn api_calls_meter(client: &stripe::Client) -> stripe_billing::BillingMeter {
    let meters = ListBillingMeter::new().send(client).await.unwrap();
    meters.data.into_iter().find(|m| m.event_name == "api_calls").expect("seeded")
}

async fn customer(client: &stripe::Client, email: &str) -> String {
    CreateCustomer::new().email(email).send(client).await.unwrap().id.to_string()
}

fn usage(customer: &str, value: &str) -> CreateBillingMeterEvent {
    let payload = HashMap::from([
        ("stripe_customer_id".to_owned(), customer.to_owned()),
        ("value".to_owned(), value.to_owned()),
    ]);
    CreateBillingMeterEvent::new("api_calls", payload)
}

/// `POST /v1/billing/meter_events` as form fields, with an optional `Idempotency-Key`.
async fn raw_meter_event(emulator: &Emulator, form: &[(&str, &str)], key: Option<&str>) -> (u16, Value, bool) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{}/v1/billing/meter_events", emulator.addr))
        .bearer_auth(billing::testkit::LOCAL_STRIPE_KEY)
        .form(form);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.unwrap();
    let replayed = response.headers().contains_key("idempotent-replayed");
    (response.status().as_u16(), response.json().await.unwrap(), replayed)
}

/// The aggregate of `customer`'s usage over `[start, end)` (minute-aligned by the caller).
async fn summed(client: &stripe::Client, meter: &str, customer: &str, start: i64, end: i64) -> f64 {
    let summaries = ListIdBillingMeterEventSummary::new(meter, customer, end, start)
        .send(client)
        .await
        .unwrap();
    assert_eq!(summaries.data.len(), 1, "one summary for the range");
    assert_eq!((summaries.data[0].start_time, summaries.data[0].end_time), (start, end));
    summaries.data[0].aggregated_value
}

fn floor_to(time: i64, unit: i64) -> i64 {
    time - time.rem_euclid(unit)
}

fn line(price: &str, quantity: Option<u64>) -> CreateCheckoutSessionLineItems {
    let mut item = CreateCheckoutSessionLineItems::new();
    item.price = Some(price.to_owned());
    item.quantity = quantity;
    item
}

async fn pro_session(
    client: &stripe::Client,
    items: Vec<CreateCheckoutSessionLineItems>,
) -> Result<stripe_shared::CheckoutSession, stripe::StripeError> {
    CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .line_items(items)
        .customer_email("usage@example.com")
        .success_url("http://localhost:3000/done?session_id={CHECKOUT_SESSION_ID}")
        .send(client)
        .await
}

/// A Pro monthly subscription bought through Checkout with its metered API-calls price
/// (licensed item first, the metered one without a quantity), paid with a test card.
async fn metered_pro(emulator: &Emulator, client: &stripe::Client) -> (stripe_shared::CheckoutSession, stripe_shared::Subscription) {
    let (pro, calls) = (price_id(client, "pro_month").await, price_id(client, "pro_api_calls_month").await);
    let session = pro_session(client, vec![line(&pro, Some(1)), line(&calls, None)]).await.unwrap();
    assert_eq!(session.amount_total, Some(2900), "only the licensed item is paid now");
    let (status, body) = control(
        emulator,
        &format!("/_emulator/checkout/sessions/{}/pay", session.id),
        json!({"card": CARD}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sub = body["session"]["subscription"].as_str().unwrap().to_owned();
    (session, RetrieveSubscription::new(sub.as_str()).send(client).await.unwrap())
}

#[tokio::test]
async fn meters_and_metered_prices_are_seeded_from_the_catalog() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let meters = ListBillingMeter::new().send(&client).await.unwrap();
    assert_eq!(meters.data.len(), 1, "one meter per distinct usage meter of the catalog");
    let meter = &meters.data[0];
    assert!(meter.id.as_str().starts_with("mtr_"), "{}", meter.id);
    assert_eq!(meter.event_name, "api_calls");
    assert_eq!(meter.status, BillingMeterStatus::Active);
    assert_eq!(
        meter.default_aggregation.formula,
        BillingMeterResourceAggregationSettingsFormula::Sum
    );
    assert_eq!(meter.customer_mapping.event_payload_key, "stripe_customer_id");
    assert_eq!(meter.value_settings.event_payload_key, "value");
    let fetched = RetrieveBillingMeter::new(meter.id.clone()).send(&client).await.unwrap();
    assert_eq!(fetched.display_name, meter.display_name);
    let inactive = ListBillingMeter::new()
        .status(BillingMeterStatus::Inactive)
        .send(&client)
        .await
        .unwrap();
    assert!(inactive.data.is_empty());
    let (status, _) = api_error(RetrieveBillingMeter::new("mtr_nope").send(&client).await.unwrap_err());
    assert_eq!(status, 404);

    // One metered price per usage price of the catalog, on the plan's product.
    for (lookup_key, licensed) in [("pro_api_calls_month", "pro_month"), ("pro_api_calls_year", "pro_year")] {
        let price = RetrievePrice::new(price_id(&client, lookup_key).await.as_str())
            .send(&client)
            .await
            .unwrap();
        let recurring = price.recurring.as_ref().unwrap();
        assert_eq!(recurring.usage_type, RecurringUsageType::Metered, "{lookup_key}");
        assert_eq!(recurring.meter.as_deref(), Some(meter.id.as_str()));
        assert_eq!(price.unit_amount, Some(1));
        assert_eq!(price.metadata["plan"], "pro");
        assert_eq!(price.metadata["feature"], "api_calls");
        let plan_price = RetrievePrice::new(price_id(&client, licensed).await.as_str())
            .send(&client)
            .await
            .unwrap();
        // Metered prices have a product of their own: no entitlement features ride on them.
        assert_ne!(price.product.id(), plan_price.product.id());
        let features: Value = reqwest::Client::new()
            .get(format!(
                "{}v1/products/{}/features",
                emulator.base_url(),
                price.product.id().as_str()
            ))
            .bearer_auth(billing::testkit::LOCAL_STRIPE_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(features["data"], json!([]), "a metered price grants no features");
        assert_eq!(plan_price.recurring.unwrap().usage_type, RecurringUsageType::Licensed);
    }

    // A meter created through the API; an event name belongs to one meter.
    let created = CreateBillingMeter::new(
        CreateBillingMeterDefaultAggregation::new(CreateBillingMeterDefaultAggregationFormula::Count),
        "Exports",
        "exports",
    )
    .value_settings(CreateBillingMeterValueSettings::new("value"))
    .send(&client)
    .await
    .unwrap();
    assert_eq!(
        created.default_aggregation.formula,
        BillingMeterResourceAggregationSettingsFormula::Count
    );
    assert_eq!(
        ListBillingMeter::new().send(&client).await.unwrap().data[0].id,
        created.id,
        "newest first"
    );
    let (status, err) = api_error(
        CreateBillingMeter::new(
            CreateBillingMeterDefaultAggregation::new(CreateBillingMeterDefaultAggregationFormula::Sum),
            "Again",
            "exports",
        )
        .send(&client)
        .await
        .unwrap_err(),
    );
    assert_eq!((status, err.param.as_deref()), (400, Some("event_name")));

    // A deactivated meter takes no events.
    let who = customer(&client, "count@example.com").await;
    let deactivated = DeactivateBillingMeter::new(created.id.clone()).send(&client).await.unwrap();
    assert_eq!(deactivated.status, BillingMeterStatus::Inactive);
    assert!(deactivated.status_transitions.deactivated_at.is_some());
    let count = CreateBillingMeterEvent::new("exports", HashMap::from([("stripe_customer_id".to_owned(), who.clone())]));
    let (status, err) = api_error(count.send(&client).await.unwrap_err());
    assert_eq!(status, 400);
    assert_eq!(err.message.as_deref(), Some("No active meter found for event name \"exports\"."));
    ReactivateBillingMeter::new(created.id.clone()).send(&client).await.unwrap();
    let start = floor_to(clock(&emulator).await, 60);
    count.send(&client).await.unwrap();
    count.send(&client).await.unwrap();
    assert_eq!(
        summed(&client, created.id.as_str(), &who, start, start + 180).await,
        2.0,
        "count counts events"
    );
}

#[tokio::test]
async fn meter_events_are_validated_and_a_repeated_identifier_counts_once() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let meter = api_calls_meter(&client).await;
    let ada = customer(&client, "ada@example.com").await;
    let bob = customer(&client, "bob@example.com").await;
    let now = clock(&emulator).await;

    let event = usage(&ada, "40").identifier("batch-1").timestamp(now).send(&client).await.unwrap();
    assert_eq!(
        (event.identifier.as_str(), event.timestamp, event.event_name.as_str()),
        ("batch-1", now, "api_calls")
    );
    assert_eq!(event.payload["value"], "40");
    let generated = usage(&ada, "2").send(&client).await.unwrap();
    assert!(!generated.identifier.is_empty(), "an identifier is generated");
    usage(&bob, "1000").send(&client).await.unwrap();
    // The timestamp window's edges are accepted.
    usage(&ada, "1").timestamp(now - 35 * DAY).send(&client).await.unwrap();
    usage(&ada, "1").timestamp(now + 300).send(&client).await.unwrap();

    // Refusals change nothing.
    let recorded = meter_event_count(&emulator).await;
    let (status, err) = api_error(usage(&ada, "40").identifier("batch-1").send(&client).await.unwrap_err());
    assert_eq!((status, err.param.as_deref()), (400, Some("identifier")));
    assert_eq!(err.message.as_deref(), Some("An event already exists with identifier batch-1."));
    let (status, err) = api_error(usage(&ada, "1").timestamp(now - 35 * DAY - 1).send(&client).await.unwrap_err());
    assert_eq!((status, err.param.as_deref()), (400, Some("timestamp")));
    assert!(
        err.message
            .as_deref()
            .unwrap()
            .starts_with("The event timestamp cannot be more than 35 days in past."),
        "{:?}",
        err.message
    );
    let (status, err) = api_error(usage(&ada, "1").timestamp(now + 301).send(&client).await.unwrap_err());
    assert_eq!(
        (status, err.message.as_deref()),
        (400, Some("The event timestamp cannot be in future."))
    );
    let unknown = CreateBillingMeterEvent::new(
        "api_callz",
        HashMap::from([("stripe_customer_id".to_owned(), ada.clone()), ("value".to_owned(), "1".to_owned())]),
    );
    let (status, err) = api_error(unknown.send(&client).await.unwrap_err());
    assert_eq!((status, err.param.as_deref()), (400, Some("event_name")));
    let (status, err) = api_error(usage("cus_nobody", "1").send(&client).await.unwrap_err());
    assert_eq!((status, err.param.as_deref()), (400, Some("payload[stripe_customer_id]")));
    assert_eq!(err.message.as_deref(), Some("No such customer: 'cus_nobody'"));
    for value in ["many", "2.5"] {
        let (status, err) = api_error(usage(&ada, value).send(&client).await.unwrap_err());
        assert_eq!(
            (status, err.param.as_deref()),
            (400, Some("payload[value]")),
            "{value}: whole numbers only"
        );
    }
    let no_value = CreateBillingMeterEvent::new("api_calls", HashMap::from([("stripe_customer_id".to_owned(), ada.clone())]));
    let (status, err) = api_error(no_value.send(&client).await.unwrap_err());
    assert_eq!((status, err.param.as_deref()), (400, Some("payload[value]")));
    assert_eq!(meter_event_count(&emulator).await, recorded, "nothing recorded by a refusal");

    // A retry under the same Idempotency-Key replays the answer; a new key with the same
    // identifier is refused. Either way the event counts once.
    let form = [
        ("event_name", "api_calls"),
        ("identifier", "batch-2"),
        ("payload[stripe_customer_id]", ada.as_str()),
        ("payload[value]", "7"),
    ];
    let (status, first, replayed) = raw_meter_event(&emulator, &form, Some("key-1")).await;
    assert_eq!((status, replayed), (200, false), "{first}");
    let (status, again, replayed) = raw_meter_event(&emulator, &form, Some("key-1")).await;
    assert_eq!((status, replayed, &again), (200, true, &first));
    let (status, refused, _) = raw_meter_event(&emulator, &form, Some("key-2")).await;
    assert_eq!(status, 400, "{refused}");

    // Summaries: Ada's events in the range, each identifier once; Bob's apart.
    let start = floor_to(now, 60);
    let end = start + 10 * 60;
    assert_eq!(summed(&client, meter.id.as_str(), &ada, start, end).await, 40.0 + 2.0 + 1.0 + 7.0);
    assert_eq!(summed(&client, meter.id.as_str(), &bob, start, end).await, 1000.0);
    let back = floor_to(now - 35 * DAY, 60);
    assert_eq!(
        summed(&client, meter.id.as_str(), &ada, back, back + 60).await,
        1.0,
        "the oldest event"
    );
    let (status, err) = api_error(
        ListIdBillingMeterEventSummary::new(meter.id.clone(), ada.as_str(), end, start + 1)
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, err.param.as_deref()), (400, Some("start_time")));
    let (status, _) = api_error(
        ListIdBillingMeterEventSummary::new(meter.id.clone(), "cus_nobody", end, start)
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 400);

    // Grouped by hour: only the hours with events, newest first, paged.
    let day = floor_to(now - 35 * DAY, DAY);
    let grouped = ListIdBillingMeterEventSummary::new(meter.id.clone(), ada.as_str(), day + 36 * DAY, day)
        .value_grouping_window(ListIdBillingMeterEventSummaryValueGroupingWindow::Hour)
        .send(&client)
        .await
        .unwrap();
    let hours: Vec<(i64, f64)> = grouped.data.iter().map(|s| (s.start_time, s.aggregated_value)).collect();
    assert!(hours.len() >= 2, "{hours:?}");
    assert_eq!(hours.last().unwrap(), &(floor_to(now - 35 * DAY, 3600), 1.0), "oldest last");
    assert_eq!(hours.iter().map(|(_, v)| v).sum::<f64>(), 40.0 + 2.0 + 1.0 + 1.0 + 7.0);
    assert!(
        grouped
            .data
            .iter()
            .all(|s| s.end_time - s.start_time == 3600 && s.meter == meter.id.as_str())
    );
    let first = ListIdBillingMeterEventSummary::new(meter.id.clone(), ada.as_str(), day + 36 * DAY, day)
        .value_grouping_window(ListIdBillingMeterEventSummaryValueGroupingWindow::Hour)
        .limit(1)
        .send(&client)
        .await
        .unwrap();
    assert!(first.has_more);
    let rest = ListIdBillingMeterEventSummary::new(meter.id.clone(), ada.as_str(), day + 36 * DAY, day)
        .value_grouping_window(ListIdBillingMeterEventSummaryValueGroupingWindow::Hour)
        .starting_after(first.data[0].id.as_str())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(rest.data.len(), hours.len() - 1);
    let (status, _) = api_error(
        ListIdBillingMeterEventSummary::new(meter.id.clone(), ada.as_str(), day + 36 * DAY, day + 60)
            .value_grouping_window(ListIdBillingMeterEventSummaryValueGroupingWindow::Day)
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 400, "a daily grouping needs UTC day boundaries");
}

#[tokio::test]
async fn a_metered_pro_subscription_bills_its_usage_at_renewal() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let (pro, calls) = (price_id(&client, "pro_month").await, price_id(&client, "pro_api_calls_month").await);

    // Checkout refuses a quantity for the metered price.
    let (status, err) = api_error(
        pro_session(&client, vec![line(&pro, Some(1)), line(&calls, Some(1))])
            .await
            .unwrap_err(),
    );
    assert_eq!((status, err.param.as_deref()), (400, Some("line_items[1][quantity]")));
    assert_eq!(
        err.message.as_deref(),
        Some("Quantity should not be specified where usage_type is `metered`. Remove quantity from `line_items[1]`")
    );

    let (session, sub) = metered_pro(&emulator, &client).await;
    assert_eq!(sub.status, SubscriptionStatus::Active);
    let items: Vec<(&str, Option<u64>)> = sub.items.data.iter().map(|i| (i.price.id.as_str(), i.quantity)).collect();
    assert_eq!(
        items,
        vec![(pro.as_str(), Some(1)), (calls.as_str(), None)],
        "as given; no quantity when metered"
    );
    let first = ListInvoice::new().subscription(sub.id.to_string()).send(&client).await.unwrap();
    assert_eq!(first.data.len(), 1);
    assert_eq!((first.data[0].total, first.data[0].amount_paid), (2900, 2900));
    assert_eq!(session.amount_total, Some(2900));
    let customer = sub.customer.id().to_string();
    let (start, end) = (sub.items.data[0].current_period_start, sub.items.data[0].current_period_end);

    // A quantity on the metered item is refused on updates too.
    let mut quantity = UpdateSubscriptionItems::new();
    quantity.id = Some(sub.items.data[1].id.to_string());
    quantity.quantity = Some(5);
    let (status, err) = api_error(
        UpdateSubscription::new(sub.id.clone())
            .items(vec![quantity])
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, err.param.as_deref()), (400, Some("items[0][quantity]")));

    // Usage over the period: 1200 + 34 units; a repeat of an identifier is refused; usage of
    // another customer and usage after the period end are not billed in it.
    advance(&emulator, 3 * DAY).await;
    usage(&customer, "1200").identifier("u-1").send(&client).await.unwrap();
    advance(&emulator, 10 * DAY).await;
    usage(&customer, "34").identifier("u-2").send(&client).await.unwrap();
    assert!(usage(&customer, "34").identifier("u-2").send(&client).await.is_err());
    let other = customer_with_usage(&client).await;
    let meter = api_calls_meter(&client).await;
    assert_eq!(
        summed(&client, meter.id.as_str(), &customer, floor_to(start, 60), floor_to(end, 60) + 60).await,
        1234.0
    );

    // The upcoming invoice shows the usage so far.
    let preview = CreatePreviewInvoice::new()
        .subscription(sub.id.to_string())
        .send(&client)
        .await
        .unwrap();
    let metered = |invoice: &stripe_shared::Invoice| {
        invoice
            .lines
            .data
            .iter()
            .find(|l| price_of(l) == calls)
            .cloned()
            .expect("a metered line")
    };
    assert_eq!(metered(&preview).amount, 1234);
    assert_eq!(preview.total, 2900 + 1234);

    advance(&emulator, end - clock(&emulator).await - 60).await;
    usage(&customer, "66").identifier("u-3").send(&client).await.unwrap();
    advance(&emulator, 61).await;
    usage(&customer, "500").identifier("u-4").send(&client).await.unwrap();

    let invoices = ListInvoice::new().subscription(sub.id.to_string()).send(&client).await.unwrap();
    assert_eq!(invoices.data.len(), 2, "the first invoice and the renewal");
    let renewal = &invoices.data[0];
    assert_eq!(renewal.billing_reason, Some(InvoiceBillingReason::SubscriptionCycle));
    assert_eq!(renewal.status, Some(InvoiceStatus::Paid));
    let prices: Vec<String> = renewal.lines.data.iter().map(price_of).collect();
    assert_eq!(prices, vec![pro.clone(), calls.clone()], "in the order of the items");
    let licensed = &renewal.lines.data[0];
    assert_eq!(
        (licensed.amount, licensed.period.start, licensed.period.end),
        (2900, end, end + 30 * DAY),
        "in advance"
    );
    let line = metered(renewal);
    assert_eq!(line.quantity, Some(1300));
    assert_eq!(line.amount, 1300, "1300 units × 1 cent");
    assert_eq!(
        (line.period.start, line.period.end),
        (start, end),
        "the period that ended, in arrears"
    );
    assert_eq!(renewal.total, 2900 + 1300);
    assert_eq!((renewal.period_start, renewal.period_end), (start, end));

    // The next period starts with the usage after the renewal; nothing of the other customer.
    let next = CreatePreviewInvoice::new()
        .subscription(sub.id.to_string())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(metered(&next).amount, 500);
    assert_eq!(metered(&next).period.start, end);
    drop(other);

    // Ended at the period end: the last period's usage is billed on a final invoice.
    UpdateSubscription::new(sub.id.clone())
        .cancel_at_period_end(true)
        .send(&client)
        .await
        .unwrap();
    advance(&emulator, 30 * DAY + 1).await;
    let ended = RetrieveSubscription::new(sub.id.clone()).send(&client).await.unwrap();
    assert_eq!(ended.status, SubscriptionStatus::Canceled);
    let invoices = ListInvoice::new().subscription(sub.id.to_string()).send(&client).await.unwrap();
    assert_eq!(invoices.data.len(), 3);
    let last = &invoices.data[0];
    let prices: Vec<String> = last.lines.data.iter().map(price_of).collect();
    assert_eq!(prices, vec![calls.clone()], "usage only");
    assert_eq!((last.total, last.status.clone()), (500, Some(InvoiceStatus::Paid)));
}

#[tokio::test]
async fn canceling_now_bills_the_usage_so_far_only_with_invoice_now() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let calls = price_id(&client, "pro_api_calls_month").await;

    let (_, sub) = metered_pro(&emulator, &client).await;
    let customer = sub.customer.id().to_string();
    advance(&emulator, 5 * DAY).await;
    usage(&customer, "250").send(&client).await.unwrap();
    let canceled = CancelSubscription::new(sub.id.clone())
        .invoice_now(true)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(canceled.status, SubscriptionStatus::Canceled);
    let invoices = ListInvoice::new().subscription(sub.id.to_string()).send(&client).await.unwrap();
    assert_eq!(invoices.data.len(), 2, "the first invoice and the final one");
    let last = &invoices.data[0];
    let line = last.lines.data.iter().find(|l| price_of(l) == calls).expect("the usage");
    assert_eq!((line.amount, line.quantity), (250, Some(250)));
    assert_eq!(last.total, 250);

    // A negative total bills 0 units.
    let (_, sub) = metered_pro(&emulator, &client).await;
    let customer = sub.customer.id().to_string();
    usage(&customer, "10").send(&client).await.unwrap();
    usage(&customer, "-25").send(&client).await.unwrap();
    CancelSubscription::new(sub.id.clone())
        .invoice_now(true)
        .send(&client)
        .await
        .unwrap();
    let last = &ListInvoice::new()
        .subscription(sub.id.to_string())
        .send(&client)
        .await
        .unwrap()
        .data[0];
    let line = last.lines.data.iter().find(|l| price_of(l) == calls).expect("the usage");
    assert_eq!((line.amount, line.quantity, last.total), (0, Some(0), 0));

    // Without invoice_now the unfinished period's usage is not billed.
    let (_, sub) = metered_pro(&emulator, &client).await;
    let customer = sub.customer.id().to_string();
    usage(&customer, "99").send(&client).await.unwrap();
    CancelSubscription::new(sub.id.clone()).send(&client).await.unwrap();
    let invoices = ListInvoice::new().subscription(sub.id.to_string()).send(&client).await.unwrap();
    assert_eq!(invoices.data.len(), 1, "the first invoice only");
}

/// A second customer with usage of their own (which must not reach the first's invoices).
async fn customer_with_usage(client: &stripe::Client) -> String {
    let other = customer(client, "other@example.com").await;
    usage(&other, "100000").send(client).await.unwrap();
    other
}

fn price_of(line: &stripe_shared::InvoiceLineItem) -> String {
    line.pricing
        .as_ref()
        .and_then(|p| p.price_details.as_ref())
        .map(|d| d.price.id().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn stripe_forgets_an_identifier_after_24_hours() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let ada = customer(&client, "ada@example.com").await;
    usage(&ada, "3").identifier("batch-day").send(&client).await.unwrap();
    let (status, _) = api_error(usage(&ada, "3").identifier("batch-day").send(&client).await.unwrap_err());
    assert_eq!(status, 400, "within the day: refused");
    advance(&emulator, DAY - 60).await;
    assert!(
        usage(&ada, "3").identifier("batch-day").send(&client).await.is_err(),
        "still within the day"
    );
    advance(&emulator, 120).await;
    usage(&ada, "3")
        .identifier("batch-day")
        .send(&client)
        .await
        .expect("a day later the identifier counts anew");
    assert_eq!(
        meter_event_count(&emulator).await,
        2,
        "as Stripe does: the same identifier, counted twice"
    );
}
