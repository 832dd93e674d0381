//! The emulator's billing surface through async-stripe's typed requests: subscription updates
//! with prorations, cancellation (`cancel_at`, `prorate`, `invoice_now`), invoices (numbers,
//! hosted pages, lists, previews) and subscription schedules carried out by the clock. Every
//! response must deserialize into async-stripe's own types.

use serde_json::{Value, json};
use stripe_billing::invoice::{
    CreatePreviewInvoice, CreatePreviewInvoiceSubscriptionDetails, CreatePreviewInvoiceSubscriptionDetailsItems,
    CreatePreviewInvoiceSubscriptionDetailsProrationBehavior, ListInvoice, RetrieveInvoice,
};
use stripe_billing::subscription::{
    CancelSubscription, CancelSubscriptionCancellationDetails, CancelSubscriptionCancellationDetailsFeedback, RetrieveSubscription,
    UpdateSubscription, UpdateSubscriptionCancelAt, UpdateSubscriptionCancellationDetails, UpdateSubscriptionCancellationDetailsFeedback,
    UpdateSubscriptionItems, UpdateSubscriptionProrationBehavior,
};
use stripe_billing::subscription_schedule::{
    CancelSubscriptionSchedule, CreateSubscriptionSchedule, ListSubscriptionSchedule, ReleaseSubscriptionSchedule,
    RetrieveSubscriptionSchedule, UpdateSubscriptionSchedule, UpdateSubscriptionSchedulePhases, UpdateSubscriptionSchedulePhasesDuration,
    UpdateSubscriptionSchedulePhasesDurationInterval, UpdateSubscriptionSchedulePhasesEndDate, UpdateSubscriptionSchedulePhasesItems,
    UpdateSubscriptionSchedulePhasesStartDate,
};
use stripe_core::customer::{RetrieveCustomer, RetrieveCustomerReturned};
use stripe_core::event::ListEvent;
use stripe_emulator::Emulator;
use stripe_shared::{InvoiceBillingReason, InvoiceStatus, SubscriptionScheduleEndBehavior, SubscriptionScheduleStatus, SubscriptionStatus};

use crate::emulator::{api_error, client, control, paid_subscription, price_id, start_emulator};

const DAY: i64 = 86_400;
const CARD: &str = "4242424242424242";

async fn clock(emulator: &Emulator) -> i64 {
    emulator.shared.world.lock().await.now()
}

async fn advance(emulator: &Emulator, seconds: i64) {
    let (status, body) = control(emulator, "/_emulator/clock/advance", json!({"seconds": seconds})).await;
    assert_eq!(status, 200, "{body}");
}

/// Event types recorded since `from` (oldest first).
async fn types_since(emulator: &Emulator, from: usize) -> Vec<String> {
    emulator.shared.world.lock().await.events[from..]
        .iter()
        .map(|e| e.event_type.clone())
        .collect()
}

async fn event_count(emulator: &Emulator) -> usize {
    emulator.shared.world.lock().await.events.len()
}

/// Everything a preview must leave as it was.
async fn fingerprint(emulator: &Emulator) -> String {
    let world = emulator.shared.world.lock().await;
    let subs: Vec<Value> = world.subscriptions.keys().map(|id| world.render_subscription(id)).collect();
    let invoices: Vec<Value> = world.invoices.values().map(|i| i.render(&world.prices)).collect();
    let items: Vec<Value> = world.invoice_items.values().map(|i| i.render(&world.prices)).collect();
    let customers: Vec<Value> = world.customers.values().map(|c| c.render()).collect();
    let schedules: Vec<Value> = world.schedules.values().map(|s| s.render()).collect();
    json!([subs, invoices, items, customers, schedules, world.events.len()]).to_string()
}

async fn raw_get(emulator: &Emulator, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("http://{}{path}", emulator.addr))
        .bearer_auth(billing::testkit::LOCAL_STRIPE_KEY)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn raw_post(emulator: &Emulator, path: &str, form: &[(&str, &str)], key: Option<&str>) -> (u16, Value, bool) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{}{path}", emulator.addr))
        .bearer_auth(billing::testkit::LOCAL_STRIPE_KEY)
        .form(form);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.unwrap();
    let replayed = response.headers().contains_key("idempotent-replayed");
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null), replayed)
}

fn swap(item: &str, price: &str, quantity: u64) -> UpdateSubscriptionItems {
    let mut swap = UpdateSubscriptionItems::new();
    swap.id = Some(item.to_owned());
    swap.price = Some(price.to_owned());
    swap.quantity = Some(quantity);
    swap
}

fn proration_of(line: &stripe_shared::InvoiceLineItem) -> bool {
    line.parent
        .as_ref()
        .and_then(|p| p.subscription_item_details.as_ref())
        .is_some_and(|d| d.proration)
}

fn latest(sub: &stripe_shared::Subscription) -> String {
    sub.latest_invoice
        .as_ref()
        .and_then(|i| i.id().as_ref())
        .map(|id| id.to_string())
        .unwrap()
}

fn customer_balance(customer: RetrieveCustomerReturned) -> i64 {
    match customer {
        RetrieveCustomerReturned::Customer(c) => c.balance.unwrap_or_default(),
        RetrieveCustomerReturned::DeletedCustomer(_) => panic!("deleted"),
    }
}

#[tokio::test]
async fn a_price_change_prorates_by_seconds_and_bills_at_renewal() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let sub = paid_subscription(&emulator, &client, "starter_month", CARD, None).await;
    let pro = price_id(&client, "pro_month").await;
    let item = sub.items.data[0].id.to_string();
    let (start, end) = (sub.items.data[0].current_period_start, sub.items.data[0].current_period_end);
    assert_eq!(end - start, 30 * DAY);
    advance(&emulator, 10 * DAY).await;
    let at = start + 10 * DAY;

    let events_before = event_count(&emulator).await;
    let updated = UpdateSubscription::new(sub.id.clone())
        .items(vec![swap(&item, &pro, 3)])
        .proration_date(at)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(updated.items.data[0].price.id.as_str(), pro);
    assert_eq!(updated.items.data[0].quantity, Some(3));
    assert_eq!(latest(&updated), latest(&sub), "create_prorations invoices nothing now");
    assert_eq!(
        types_since(&emulator, events_before).await[..3],
        ["invoiceitem.created", "invoiceitem.created", "customer.subscription.updated"]
    );

    // 20 of 30 days left: a credit for 2 × $9 and a charge for 3 × $29.
    let (credit, charge) = (-(1800 * 2) / 3, 8700 * 2 / 3);
    let customer = sub.customer.id().to_string();
    let (status, pending) = raw_get(&emulator, &format!("/v1/invoiceitems?customer={customer}&pending=true")).await;
    assert_eq!(status, 200, "{pending}");
    let amounts: Vec<i64> = pending["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, vec![charge, credit], "newest first");
    for ii in pending["data"].as_array().unwrap() {
        assert_eq!(
            (ii["object"].as_str(), ii["proration"].as_bool()),
            (Some("invoiceitem"), Some(true))
        );
        assert_eq!(ii["parent"]["subscription_details"]["subscription"], sub.id.as_str());
        assert_eq!(
            (ii["period"]["start"].as_i64(), ii["period"]["end"].as_i64()),
            (Some(at), Some(end))
        );
        assert!(ii["invoice"].is_null());
    }
    assert!(
        pending["data"][1]["description"]
            .as_str()
            .unwrap()
            .starts_with("Unused time on 2 × Starter after")
    );

    // The preview of the renewal: the new price for the next period plus the prorations.
    let before = fingerprint(&emulator).await;
    let preview = CreatePreviewInvoice::new()
        .subscription(sub.id.to_string())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(fingerprint(&emulator).await, before, "a preview changes nothing");
    assert!(
        preview.id.as_ref().unwrap().as_str().starts_with("upcoming_in_"),
        "{:?}",
        preview.id
    );
    assert_eq!(preview.status, Some(InvoiceStatus::Draft));
    assert_eq!(preview.billing_reason, Some(InvoiceBillingReason::SubscriptionCycle));
    assert_eq!(preview.next_payment_attempt, Some(end), "charged at the renewal");
    assert_eq!(preview.number, None);
    assert_eq!(preview.total, 8700 + charge + credit);
    assert_eq!(preview.amount_due, 8700 + charge + credit);
    let cycle = preview.lines.data.iter().find(|l| !proration_of(l)).unwrap();
    assert_eq!((cycle.amount, cycle.period.start, cycle.period.end), (8700, end, end + 30 * DAY));
    assert_eq!(preview.lines.data.iter().filter(|l| proration_of(l)).count(), 2);

    // The clock renews: the renewal invoice bills exactly what the preview showed.
    advance(&emulator, end - clock(&emulator).await + 1).await;
    let invoices = ListInvoice::new().subscription(sub.id.to_string()).send(&client).await.unwrap();
    assert_eq!(invoices.data.len(), 2);
    let renewal = &invoices.data[0];
    assert_eq!(renewal.billing_reason, Some(InvoiceBillingReason::SubscriptionCycle));
    assert_eq!(
        (renewal.status.clone(), renewal.total, renewal.amount_paid),
        (Some(InvoiceStatus::Paid), preview.total, preview.total)
    );
    assert_eq!(
        (renewal.period_start, renewal.period_end),
        (start, end),
        "a renewal's own period is the past one"
    );
    let lines: Vec<(i64, bool, i64, i64)> = renewal
        .lines
        .data
        .iter()
        .map(|l| (l.amount, proration_of(l), l.period.start, l.period.end))
        .collect();
    assert_eq!(
        lines,
        vec![(8700, false, end, end + 30 * DAY), (credit, true, at, end), (charge, true, at, end)]
    );
    let ii = renewal.lines.data[1]
        .parent
        .as_ref()
        .unwrap()
        .subscription_item_details
        .as_ref()
        .unwrap();
    assert!(ii.invoice_item.as_deref().is_some_and(|id| id.starts_with("ii_")));
    let (_, pending) = raw_get(&emulator, &format!("/v1/invoiceitems?customer={customer}&pending=true")).await;
    assert!(pending["data"].as_array().unwrap().is_empty(), "billed: {pending}");

    // Numbers follow the customer's sequence; the hosted page and the PDF answer.
    let prefix = match RetrieveCustomer::new(customer.clone()).send(&client).await.unwrap() {
        RetrieveCustomerReturned::Customer(c) => c.invoice_prefix.unwrap(),
        _ => panic!("deleted"),
    };
    assert_eq!(invoices.data[1].number.as_deref(), Some(format!("{prefix}-0001").as_str()));
    assert_eq!(renewal.number.as_deref(), Some(format!("{prefix}-0002").as_str()));
    let page = reqwest::get(renewal.hosted_invoice_url.clone().unwrap()).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(renewal.number.as_deref().unwrap()) && html.contains("Unused time") && html.contains("$87.00"),
        "{html}"
    );
    let pdf = reqwest::get(renewal.invoice_pdf.clone().unwrap()).await.unwrap();
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    let bytes = pdf.bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF-1.4") && bytes.ends_with(b"%%EOF\n"));
    let again = RetrieveInvoice::new(renewal.id.clone().unwrap()).send(&client).await.unwrap();
    assert_eq!(again.lines.data.len(), 3);
}

#[tokio::test]
async fn always_invoice_bills_now_and_a_credit_goes_to_the_balance() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let sub = paid_subscription(&emulator, &client, "pro_month", CARD, None).await;
    let starter = price_id(&client, "starter_month").await;
    let start = sub.items.data[0].current_period_start;
    advance(&emulator, 15 * DAY).await;
    let customer = sub.customer.id().to_string();

    // The preview of an immediate invoice changes nothing either.
    let mut item = CreatePreviewInvoiceSubscriptionDetailsItems::new();
    item.id = Some(sub.items.data[0].id.to_string());
    item.price = Some(starter.clone());
    item.quantity = Some(1);
    let mut details = CreatePreviewInvoiceSubscriptionDetails::new();
    details.items = Some(vec![item]);
    details.proration_behavior = Some(CreatePreviewInvoiceSubscriptionDetailsProrationBehavior::AlwaysInvoice);
    details.proration_date = Some(start + 15 * DAY);
    let before = fingerprint(&emulator).await;
    let preview = CreatePreviewInvoice::new()
        .customer(customer.clone())
        .subscription(sub.id.to_string())
        .subscription_details(details)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(fingerprint(&emulator).await, before);
    // Half the period left: -$29.00 for 2 × Pro, +$4.50 for 1 × Starter.
    assert_eq!(preview.billing_reason, Some(InvoiceBillingReason::SubscriptionUpdate));
    assert_eq!((preview.total, preview.amount_due, preview.starting_balance), (-2450, 0, 0));
    assert!(preview.lines.data.iter().all(proration_of));
    assert!(preview.lines.data.iter().all(|l| l.id.as_str().starts_with("il_tmp_")));

    let updated = UpdateSubscription::new(sub.id.clone())
        .items(vec![swap(sub.items.data[0].id.as_str(), &starter, 1)])
        .proration_behavior(UpdateSubscriptionProrationBehavior::AlwaysInvoice)
        .proration_date(start + 15 * DAY)
        .send(&client)
        .await
        .unwrap();
    let invoice = RetrieveInvoice::new(latest(&updated)).send(&client).await.unwrap();
    assert_eq!(invoice.billing_reason, Some(InvoiceBillingReason::SubscriptionUpdate));
    assert_eq!(
        (invoice.total, invoice.amount_due, invoice.status),
        (-2450, 0, Some(InvoiceStatus::Paid))
    );
    assert_eq!((invoice.starting_balance, invoice.ending_balance), (0, Some(-2450)));
    assert_eq!(
        customer_balance(RetrieveCustomer::new(customer.clone()).send(&client).await.unwrap()),
        -2450
    );
    let updates = ListEvent::new().type_("customer.updated").send(&client).await.unwrap();
    assert_eq!(updates.data.len(), 1, "the balance moved");

    // The credit pays the next renewals until it is used up.
    let end = start + 30 * DAY;
    advance(&emulator, end - clock(&emulator).await + 1).await;
    let renewal = ListInvoice::new()
        .subscription(sub.id.to_string())
        .limit(1)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(
        (renewal.data[0].total, renewal.data[0].amount_due, renewal.data[0].ending_balance),
        (900, 0, Some(-1550))
    );
    advance(&emulator, 60 * DAY).await;
    let renewal = ListInvoice::new()
        .subscription(sub.id.to_string())
        .limit(1)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(
        (
            renewal.data[0].amount_due,
            renewal.data[0].amount_paid,
            renewal.data[0].ending_balance
        ),
        (250, 250, Some(0))
    );
    assert_eq!(customer_balance(RetrieveCustomer::new(customer).send(&client).await.unwrap()), 0);
}

#[tokio::test]
async fn a_new_interval_restarts_the_period_and_invoices_now() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let sub = paid_subscription(&emulator, &client, "starter_month", CARD, None).await;
    let pro_year = price_id(&client, "pro_year").await;
    let start = sub.items.data[0].current_period_start;
    advance(&emulator, 10 * DAY).await;
    let now = clock(&emulator).await;
    let updated = UpdateSubscription::new(sub.id.clone())
        .items(vec![swap(sub.items.data[0].id.as_str(), &pro_year, 2)])
        .proration_date(start + 10 * DAY)
        .send(&client)
        .await
        .unwrap();
    let (new_start, new_end) = (updated.items.data[0].current_period_start, updated.items.data[0].current_period_end);
    assert!((now..now + 5).contains(&new_start), "{new_start} vs {now}");
    assert_eq!(new_end - new_start, 365 * DAY);
    assert_eq!(updated.billing_cycle_anchor, new_start);
    let invoice = RetrieveInvoice::new(latest(&updated)).send(&client).await.unwrap();
    assert_eq!(invoice.billing_reason, Some(InvoiceBillingReason::SubscriptionUpdate));
    assert_eq!((invoice.total, invoice.amount_paid), (58000 - 1200, 58000 - 1200));
    let amounts: Vec<(i64, bool)> = invoice.lines.data.iter().map(|l| (l.amount, proration_of(l))).collect();
    assert_eq!(amounts, vec![(58000, false), (-1200, true)]);
}

#[tokio::test]
async fn cancel_at_and_cancellation_details_are_kept_and_the_clock_ends_it() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let sub = paid_subscription(&emulator, &client, "pro_month", CARD, None).await;
    let now = clock(&emulator).await;
    let cancel_at = now + 5 * DAY;
    let details = UpdateSubscriptionCancellationDetails {
        comment: Some("Too pricey for now".into()),
        feedback: Some(UpdateSubscriptionCancellationDetailsFeedback::TooExpensive),
        ..UpdateSubscriptionCancellationDetails::new()
    };
    let updated = UpdateSubscription::new(sub.id.clone())
        .cancel_at(UpdateSubscriptionCancelAt::Timestamp(cancel_at))
        .cancellation_details(details)
        .send(&client)
        .await
        .unwrap();
    assert_eq!((updated.cancel_at, updated.cancel_at_period_end), (Some(cancel_at), false));
    let cancellation = updated.cancellation_details.unwrap();
    assert_eq!(cancellation.comment.as_deref(), Some("Too pricey for now"));
    assert_eq!(
        cancellation.feedback,
        Some(stripe_shared::CancellationDetailsFeedback::TooExpensive)
    );

    // An empty cancel_at clears it; feedback outside Stripe's enum is refused.
    let (status, cleared, _) = raw_post(&emulator, &format!("/v1/subscriptions/{}", sub.id), &[("cancel_at", "")], None).await;
    assert_eq!((status, &cleared["cancel_at"]), (200, &Value::Null), "{cleared}");
    let (status, err, _) = raw_post(
        &emulator,
        &format!("/v1/subscriptions/{}", sub.id),
        &[("cancellation_details[feedback]", "meh")],
        None,
    )
    .await;
    assert_eq!(
        (status, err["error"]["param"].as_str()),
        (400, Some("cancellation_details[feedback]")),
        "{err}"
    );
    let (status, err) = api_error(
        UpdateSubscription::new(sub.id.clone())
            .cancel_at(UpdateSubscriptionCancelAt::Timestamp(now - 10))
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, err.param.as_deref()), (400, Some("cancel_at")));

    UpdateSubscription::new(sub.id.clone())
        .cancel_at(UpdateSubscriptionCancelAt::Timestamp(cancel_at))
        .send(&client)
        .await
        .unwrap();
    advance(&emulator, 4 * DAY).await;
    let still = RetrieveSubscription::new(sub.id.clone()).send(&client).await.unwrap();
    assert_eq!(still.status, SubscriptionStatus::Active);
    advance(&emulator, DAY + 1).await;
    let ended = RetrieveSubscription::new(sub.id.clone()).send(&client).await.unwrap();
    assert_eq!((ended.status, ended.ended_at), (SubscriptionStatus::Canceled, Some(cancel_at)));
    assert_eq!(
        ended.cancellation_details.unwrap().reason,
        Some(stripe_shared::CancellationDetailsReason::CancellationRequested)
    );

    // A canceled subscription takes only cancellation_details and metadata.
    let (status, err) = api_error(
        UpdateSubscription::new(sub.id.clone())
            .cancel_at_period_end(true)
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 400);
    assert!(err.message.unwrap().contains("canceled subscription"));
    UpdateSubscription::new(sub.id.clone())
        .metadata([("note".to_owned(), "churned".to_owned())])
        .send(&client)
        .await
        .unwrap();
}

#[tokio::test]
async fn cancel_with_prorate_and_invoice_now_credits_the_balance() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let sub = paid_subscription(&emulator, &client, "pro_month", CARD, None).await;
    let end = sub.items.data[0].current_period_end;
    advance(&emulator, 15 * DAY).await;
    let from = events_len_and_cancel(&emulator, &client, &sub.id).await;
    let canceled = RetrieveSubscription::new(sub.id.clone()).send(&client).await.unwrap();
    assert_eq!(canceled.status, SubscriptionStatus::Canceled);
    let details = canceled.cancellation_details.clone().unwrap();
    assert_eq!(details.feedback, Some(stripe_shared::CancellationDetailsFeedback::Unused));
    assert_eq!(details.comment.as_deref(), Some("Not using it"));
    let invoice = RetrieveInvoice::new(latest(&canceled)).send(&client).await.unwrap();
    let line = &invoice.lines.data[0];
    let expected = -((5800 * (end - line.period.start) * 2 + 30 * DAY) / (2 * 30 * DAY));
    assert_eq!((invoice.lines.data.len(), line.amount, line.period.end), (1, expected, end));
    assert!(proration_of(line));
    assert_eq!(
        (invoice.total, invoice.amount_due, invoice.ending_balance),
        (expected, 0, Some(expected))
    );
    assert_eq!(
        customer_balance(RetrieveCustomer::new(sub.customer.id().to_string()).send(&client).await.unwrap()),
        expected
    );
    assert_eq!(
        types_since(&emulator, from).await,
        [
            "invoiceitem.created",
            "customer.subscription.deleted",
            "entitlements.active_entitlement_summary.updated",
            "invoice.created",
            "invoice.finalized",
            "customer.updated",
            "invoice.paid",
            "invoice.payment_succeeded"
        ]
    );
    let (status, _) = api_error(CancelSubscription::new(sub.id.clone()).send(&client).await.unwrap_err());
    assert_eq!(status, 400, "already canceled");
}

async fn events_len_and_cancel(emulator: &Emulator, client: &stripe::Client, sub: &stripe_shared::SubscriptionId) -> usize {
    let from = event_count(emulator).await;
    let details = CancelSubscriptionCancellationDetails {
        comment: Some("Not using it".into()),
        feedback: Some(CancelSubscriptionCancellationDetailsFeedback::Unused),
        ..CancelSubscriptionCancellationDetails::new()
    };
    CancelSubscription::new(sub.clone())
        .prorate(true)
        .invoice_now(true)
        .cancellation_details(details)
        .send(client)
        .await
        .unwrap();
    from
}

fn phase(price: &str, quantity: u64) -> UpdateSubscriptionSchedulePhases {
    let mut item = UpdateSubscriptionSchedulePhasesItems::new();
    item.price = Some(price.to_owned());
    item.quantity = Some(quantity);
    UpdateSubscriptionSchedulePhases::new(vec![item])
}

#[tokio::test]
async fn a_schedule_switches_the_price_at_the_period_end_then_releases() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let sub = paid_subscription(&emulator, &client, "starter_month", CARD, None).await;
    let pro = price_id(&client, "pro_month").await;
    let starter = price_id(&client, "starter_month").await;
    let (start, end) = (sub.items.data[0].current_period_start, sub.items.data[0].current_period_end);

    let schedule = CreateSubscriptionSchedule::new()
        .from_subscription(sub.id.to_string())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(schedule.status, SubscriptionScheduleStatus::Active);
    assert_eq!(schedule.end_behavior, SubscriptionScheduleEndBehavior::Release);
    assert_eq!(schedule.subscription.as_ref().unwrap().id(), &sub.id);
    assert_eq!(schedule.phases.len(), 1);
    assert_eq!((schedule.phases[0].start_date, schedule.phases[0].end_date), (start, end));
    assert_eq!(schedule.phases[0].items[0].price.id().as_str(), starter);
    assert_eq!(schedule.phases[0].items[0].quantity, Some(2));
    let current = schedule.current_phase.as_ref().unwrap();
    assert_eq!((current.start_date, current.end_date), (start, end));
    let managed = RetrieveSubscription::new(sub.id.clone()).send(&client).await.unwrap();
    assert_eq!(managed.schedule.as_ref().unwrap().id(), &schedule.id);

    // Stripe's refusals: a second schedule, cancellation changes on a managed subscription.
    let (status, err) = api_error(
        CreateSubscriptionSchedule::new()
            .from_subscription(sub.id.to_string())
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, err.param.as_deref()), (400, Some("from_subscription")));
    let (status, err) = api_error(
        UpdateSubscription::new(sub.id.clone())
            .cancel_at_period_end(true)
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 400);
    assert!(
        err.message
            .unwrap()
            .contains(&format!("managed by the subscription schedule `{}`", schedule.id)),
    );

    // Invalid phases: 400 naming the parameter, nothing changed.
    let before = fingerprint(&emulator).await;
    let mut moved = phase(&starter, 2);
    moved.start_date = Some(UpdateSubscriptionSchedulePhasesStartDate::Timestamp(start + 60));
    moved.end_date = Some(UpdateSubscriptionSchedulePhasesEndDate::Timestamp(end));
    let (status, err) = api_error(
        UpdateSubscriptionSchedule::new(schedule.id.clone())
            .phases(vec![moved])
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, err.param.as_deref()), (400, Some("phases[0][start_date]")));
    let mut gap = phase(&pro, 1);
    gap.start_date = Some(UpdateSubscriptionSchedulePhasesStartDate::Timestamp(end + DAY));
    let mut first = phase(&starter, 2);
    first.end_date = Some(UpdateSubscriptionSchedulePhasesEndDate::Timestamp(end));
    let (status, err) = api_error(
        UpdateSubscriptionSchedule::new(schedule.id.clone())
            .phases(vec![first.clone(), gap])
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, err.param.as_deref()), (400, Some("phases[1][start_date]")));
    let (status, err) = api_error(
        UpdateSubscriptionSchedule::new(schedule.id.clone())
            .phases(vec![first.clone(), phase("price_nope", 1)])
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, err.param.as_deref()), (400, Some("phases[1][items][0][price]")));
    let (status, err, _) = raw_post(
        &emulator,
        &format!("/v1/subscription_schedules/{}", schedule.id),
        &[("phases[0][items][0][price]", starter.as_str()), ("phases[0][iterations]", "2")],
        None,
    )
    .await;
    assert_eq!(
        (status, err["error"]["param"].as_str()),
        (400, Some("phases[0][iterations]")),
        "{err}"
    );
    assert_eq!(fingerprint(&emulator).await, before);

    // Starter until the period ends, then one month of 1 × Pro, then released.
    let mut next = phase(&pro, 1);
    next.duration = Some(UpdateSubscriptionSchedulePhasesDuration {
        interval: UpdateSubscriptionSchedulePhasesDurationInterval::Month,
        interval_count: Some(1),
    });
    next.metadata = Some([("phase".to_owned(), "pro".to_owned())].into());
    let from = event_count(&emulator).await;
    let updated = UpdateSubscriptionSchedule::new(schedule.id.clone())
        .phases(vec![first, next])
        .end_behavior(SubscriptionScheduleEndBehavior::Release)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(types_since(&emulator, from).await, ["subscription_schedule.updated"]);
    assert_eq!(updated.phases.len(), 2);
    assert_eq!((updated.phases[1].start_date, updated.phases[1].end_date), (end, end + 30 * DAY));
    assert_eq!(updated.phases[1].items[0].price.id().as_str(), pro);
    let untouched = RetrieveSubscription::new(sub.id.clone()).send(&client).await.unwrap();
    assert_eq!(
        untouched.items.data[0].price.id.as_str(),
        starter,
        "the current phase did not change"
    );

    // The period ends: the phase changes before the renewal, which bills 1 × Pro.
    let from = event_count(&emulator).await;
    advance(&emulator, end - clock(&emulator).await + 1).await;
    let types = types_since(&emulator, from).await;
    let position = |t: &str| types.iter().position(|x| x == t).unwrap_or_else(|| panic!("{t} in {types:?}"));
    assert!(position("customer.subscription.updated") < position("subscription_schedule.updated"));
    assert!(position("subscription_schedule.updated") < position("invoice.created"), "{types:?}");
    let renewed = RetrieveSubscription::new(sub.id.clone()).send(&client).await.unwrap();
    assert_eq!(renewed.items.data[0].price.id.as_str(), pro);
    assert_eq!(renewed.items.data[0].quantity, Some(1));
    assert_eq!(renewed.metadata.get("phase").map(String::as_str), Some("pro"));
    assert_eq!(renewed.items.data[0].current_period_end, end + 30 * DAY);
    let renewal = ListInvoice::new()
        .subscription(sub.id.to_string())
        .limit(1)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(renewal.data[0].billing_reason, Some(InvoiceBillingReason::SubscriptionCycle));
    assert_eq!(
        (renewal.data[0].total, renewal.data[0].lines.data.len()),
        (2900, 1),
        "no proration at the boundary"
    );
    let moved = RetrieveSubscriptionSchedule::new(schedule.id.clone()).send(&client).await.unwrap();
    let current = moved.current_phase.unwrap();
    assert_eq!((current.start_date, current.end_date), (end, end + 30 * DAY));
    let keys: Vec<String> = ListEvent::new()
        .limit(100)
        .send(&client)
        .await
        .unwrap()
        .data
        .iter()
        .map(|e| e.type_.to_string())
        .collect();
    assert!(keys.contains(&"entitlements.active_entitlement_summary.updated".to_owned()));

    // The last phase ends: released, and the subscription goes on by itself on Pro.
    advance(&emulator, 30 * DAY).await;
    let released = RetrieveSubscriptionSchedule::new(schedule.id.clone()).send(&client).await.unwrap();
    assert_eq!(released.status, SubscriptionScheduleStatus::Released);
    assert_eq!(released.released_subscription.as_deref(), Some(sub.id.as_str()));
    assert!(released.subscription.is_none() && released.current_phase.is_none() && released.released_at.is_some());
    let free = RetrieveSubscription::new(sub.id.clone()).send(&client).await.unwrap();
    assert!(free.schedule.is_none());
    assert_eq!(
        (free.status, free.items.data[0].price.id.as_str()),
        (SubscriptionStatus::Active, pro.as_str())
    );
    assert_eq!(
        ListEvent::new()
            .type_("subscription_schedule.released")
            .send(&client)
            .await
            .unwrap()
            .data
            .len(),
        1
    );
    let invoices = ListInvoice::new().subscription(sub.id.to_string()).send(&client).await.unwrap();
    assert_eq!(invoices.data.len(), 3, "create, pro renewal, pro renewal after release");
    assert_eq!(invoices.data[0].total, 2900);
    let (status, _) = api_error(
        ReleaseSubscriptionSchedule::new(schedule.id.clone())
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 400, "released already");
    let listed = ListSubscriptionSchedule::new()
        .customer(sub.customer.id().to_string())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(listed.data.len(), 1);
}

#[tokio::test]
async fn schedules_release_now_cancel_now_or_cancel_at_their_end() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let pro = price_id(&client, "pro_month").await;

    // Released by request: the subscription keeps running.
    let sub = paid_subscription(&emulator, &client, "starter_month", CARD, None).await;
    let schedule = CreateSubscriptionSchedule::new()
        .from_subscription(sub.id.to_string())
        .send(&client)
        .await
        .unwrap();
    let released = ReleaseSubscriptionSchedule::new(schedule.id.clone()).send(&client).await.unwrap();
    assert_eq!(released.status, SubscriptionScheduleStatus::Released);
    let free = RetrieveSubscription::new(sub.id.clone()).send(&client).await.unwrap();
    assert!(free.schedule.is_none());
    UpdateSubscription::new(sub.id.clone())
        .cancel_at_period_end(true)
        .send(&client)
        .await
        .expect("no schedule any more");

    // Canceled by request: the subscription ends now too.
    let sub = paid_subscription(&emulator, &client, "starter_month", CARD, None).await;
    let schedule = CreateSubscriptionSchedule::new()
        .from_subscription(sub.id.to_string())
        .send(&client)
        .await
        .unwrap();
    let canceled = CancelSubscriptionSchedule::new(schedule.id.clone()).send(&client).await.unwrap();
    assert_eq!(canceled.status, SubscriptionScheduleStatus::Canceled);
    assert!(canceled.canceled_at.is_some());
    let ended = RetrieveSubscription::new(sub.id.clone()).send(&client).await.unwrap();
    assert_eq!(ended.status, SubscriptionStatus::Canceled);
    assert_eq!(
        ListEvent::new()
            .type_("subscription_schedule.canceled")
            .send(&client)
            .await
            .unwrap()
            .data
            .len(),
        1
    );

    // end_behavior cancel: the subscription ends with the last phase, after the phase change.
    let sub = paid_subscription(&emulator, &client, "starter_month", CARD, None).await;
    let end = sub.items.data[0].current_period_end;
    let schedule = CreateSubscriptionSchedule::new()
        .from_subscription(sub.id.to_string())
        .send(&client)
        .await
        .unwrap();
    let starter = schedule.phases[0].items[0].price.id().to_string();
    let mut first = phase(&starter, 2);
    first.end_date = Some(UpdateSubscriptionSchedulePhasesEndDate::Timestamp(end));
    let mut last = phase(&pro, 2);
    last.end_date = Some(UpdateSubscriptionSchedulePhasesEndDate::Timestamp(end + 10 * DAY));
    UpdateSubscriptionSchedule::new(schedule.id.clone())
        .phases(vec![first, last])
        .end_behavior(SubscriptionScheduleEndBehavior::Cancel)
        .send(&client)
        .await
        .unwrap();
    advance(&emulator, end - clock(&emulator).await + 11 * DAY).await;
    // The schedule's end is the subscription's cancel_at: the last renewal bills 10 of 30 days.
    let last = ListInvoice::new()
        .subscription(sub.id.to_string())
        .limit(1)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(last.data[0].billing_reason, Some(InvoiceBillingReason::SubscriptionCycle));
    assert_eq!(
        (last.data[0].total, last.data[0].lines.data[0].period.end),
        (5800 / 3, end + 10 * DAY)
    );
    let completed = RetrieveSubscriptionSchedule::new(schedule.id.clone()).send(&client).await.unwrap();
    assert_eq!(completed.status, SubscriptionScheduleStatus::Completed);
    let ended = RetrieveSubscription::new(sub.id.clone()).send(&client).await.unwrap();
    assert_eq!((ended.status, ended.ended_at), (SubscriptionStatus::Canceled, Some(end + 10 * DAY)));
    assert_eq!(ended.items.data[0].price.id.as_str(), pro);
    assert_eq!(
        ListEvent::new()
            .type_("subscription_schedule.completed")
            .send(&client)
            .await
            .unwrap()
            .data
            .len(),
        1
    );
}

#[tokio::test]
async fn invoices_list_newest_first_with_filters_and_cursors() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let sub = paid_subscription(&emulator, &client, "pro_month", CARD, None).await;
    let other = paid_subscription(&emulator, &client, "starter_month", CARD, None).await;
    advance(&emulator, 61 * DAY).await;
    let all = ListInvoice::new().subscription(sub.id.to_string()).send(&client).await.unwrap();
    assert_eq!(all.data.len(), 3);
    assert!(all.data.windows(2).all(|w| w[0].created >= w[1].created));
    let page = ListInvoice::new()
        .subscription(sub.id.to_string())
        .limit(1)
        .send(&client)
        .await
        .unwrap();
    assert!(page.has_more);
    let next = ListInvoice::new()
        .subscription(sub.id.to_string())
        .limit(1)
        .starting_after(page.data[0].id.clone().unwrap().to_string())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(next.data[0].id, all.data[1].id);
    let back = ListInvoice::new()
        .subscription(sub.id.to_string())
        .limit(5)
        .ending_before(all.data[2].id.clone().unwrap().to_string())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(
        back.data.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
        vec![all.data[0].id.clone(), all.data[1].id.clone()]
    );
    let by_customer = ListInvoice::new()
        .customer(other.customer.id().to_string())
        .status(InvoiceStatus::Paid)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(by_customer.data.len(), 3);
    assert!(
        by_customer
            .data
            .iter()
            .all(|i| i.customer.as_ref().unwrap().id() == other.customer.id())
    );
    let open = ListInvoice::new().status(InvoiceStatus::Open).send(&client).await.unwrap();
    assert!(open.data.is_empty());
    let (status, err) = api_error(
        ListInvoice::new()
            .starting_after("in_nope".to_owned())
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, err.param.as_deref()), (400, Some("starting_after")));
}

#[tokio::test]
async fn bad_updates_and_previews_name_the_parameter_and_change_nothing() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let sub = paid_subscription(&emulator, &client, "starter_month", CARD, None).await;
    let item = sub.items.data[0].id.to_string();
    let before = fingerprint(&emulator).await;
    let (status, err) = api_error(
        UpdateSubscription::new(sub.id.clone())
            .items(vec![swap(&item, "price_nope", 1)])
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, err.param.as_deref()), (400, Some("items[0][price]")));
    let (status, err) = api_error(
        UpdateSubscription::new(sub.id.clone())
            .items(vec![swap(&item, &price_id(&client, "pro_month").await, 1)])
            .proration_date(sub.items.data[0].current_period_start - 10)
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, err.param.as_deref()), (400, Some("proration_date")));
    let (status, err, _) = raw_post(
        &emulator,
        &format!("/v1/subscriptions/{}", sub.id),
        &[("proration_behavior", "sometimes")],
        None,
    )
    .await;
    assert_eq!((status, err["error"]["param"].as_str()), (400, Some("proration_behavior")));
    let mut bad = CreatePreviewInvoiceSubscriptionDetailsItems::new();
    bad.id = Some(item.clone());
    bad.price = Some("price_nope".into());
    let mut details = CreatePreviewInvoiceSubscriptionDetails::new();
    details.items = Some(vec![bad]);
    let (status, err) = api_error(
        CreatePreviewInvoice::new()
            .subscription(sub.id.to_string())
            .subscription_details(details)
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, err.param.as_deref()), (400, Some("subscription_details[items][0][price]")));
    let mut details = CreatePreviewInvoiceSubscriptionDetails::new();
    details.cancel_at_period_end = Some(true);
    let (status, err) = api_error(
        CreatePreviewInvoice::new()
            .subscription(sub.id.to_string())
            .subscription_details(details)
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, err.code), (400, Some(stripe_shared::ApiErrorsCode::InvoiceUpcomingNone)));
    assert_eq!(fingerprint(&emulator).await, before);
}

#[tokio::test]
async fn a_replayed_update_bills_once() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let sub = paid_subscription(&emulator, &client, "starter_month", CARD, None).await;
    let pro = price_id(&client, "pro_month").await;
    advance(&emulator, 5 * DAY).await;
    let path = format!("/v1/subscriptions/{}", sub.id);
    let form = [
        ("items[0][id]", sub.items.data[0].id.as_str()),
        ("items[0][price]", pro.as_str()),
        ("proration_behavior", "always_invoice"),
    ];
    let (status, first, replayed) = raw_post(&emulator, &path, &form, Some("upgrade-1")).await;
    assert_eq!((status, replayed), (200, false), "{first}");
    let (status, second, replayed) = raw_post(&emulator, &path, &form, Some("upgrade-1")).await;
    assert_eq!((status, replayed), (200, true));
    assert_eq!(first, second);
    let invoices = ListInvoice::new().subscription(sub.id.to_string()).send(&client).await.unwrap();
    assert_eq!(invoices.data.len(), 2, "the first invoice and one update invoice");
    assert_eq!(
        ListEvent::new()
            .type_("invoiceitem.created")
            .send(&client)
            .await
            .unwrap()
            .data
            .len(),
        2
    );
}

#[tokio::test]
async fn error_if_incomplete_refuses_a_declined_upgrade_whole() {
    let emulator = start_emulator(vec![]).await;
    let client = client(&emulator);
    let sub = paid_subscription(&emulator, &client, "starter_month", "4000000000000341", None).await;
    let pro = price_id(&client, "pro_month").await;
    let before = fingerprint(&emulator).await;
    let (status, err, _) = raw_post(
        &emulator,
        &format!("/v1/subscriptions/{}", sub.id),
        &[
            ("items[0][id]", sub.items.data[0].id.as_str()),
            ("items[0][price]", pro.as_str()),
            ("proration_behavior", "always_invoice"),
            ("payment_behavior", "error_if_incomplete"),
        ],
        None,
    )
    .await;
    assert_eq!((status, err["error"]["type"].as_str()), (402, Some("card_error")), "{err}");
    assert_eq!(fingerprint(&emulator).await, before);
    // allow_incomplete (the default): the change stands and the subscription goes past_due.
    let updated = UpdateSubscription::new(sub.id.clone())
        .items(vec![swap(sub.items.data[0].id.as_str(), &pro, 2)])
        .proration_behavior(UpdateSubscriptionProrationBehavior::AlwaysInvoice)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(updated.status, SubscriptionStatus::PastDue);
    let invoice = RetrieveInvoice::new(latest(&updated)).send(&client).await.unwrap();
    assert_eq!(invoice.status, Some(InvoiceStatus::Open));
    assert!(invoice.next_payment_attempt.is_some());
}
