//! Retention: pausing collection and resuming, promotion codes on a live subscription, trials
//! without a card. Each through the subscription and checkout functions, against the emulator,
//! and read back from the emulator with Stripe's official Python SDK (stripe-python), as any
//! client of Stripe would.

use serde_json::{Value, json};

use crate::emulator::control;
use crate::events::deliver_since;
use crate::helpers::Stack;

/// A subscription function call as `user_123`.
async fn call(stack: &Stack, event: &str, payload: Value) -> (u16, Value) {
    crate::revenue::subscription_call(stack, event, "user_123", payload, None).await
}

async fn allowed(stack: &Stack, feature: &str) -> Value {
    let req = billing::testkit::event_with("entitlements-feature.json", |e| {
        e["rawPath"] = format!("/entitlements/{feature}").into();
        e["requestContext"]["http"]["path"] = format!("/entitlements/{feature}").into();
        e["pathParameters"]["feature"] = feature.into();
    });
    let response = entitlements::handler::handle(&stack.state, req).await.unwrap();
    crate::helpers::body(&response)
}

async fn advance(stack: &Stack, days: i64) {
    let from = stack.emulator.shared.world.lock().await.events.len();
    let (status, answer) = control(&stack.emulator, "/_emulator/clock/advance", json!({"days": days})).await;
    assert_eq!(status, 200, "{answer}");
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    deliver_since(stack, from).await;
}

/// `script` run by stripe-python against the emulator (`stripe` imported, `api_base` set,
/// `out(value)` prints the answer); its JSON output. Off the runtime's thread: the emulator
/// answering it runs on this test's runtime.
async fn stripe_python(stack: &Stack, script: &str) -> Value {
    let program = format!(
        "import json, stripe\nstripe.api_key = {key:?}\nstripe.api_base = {base:?}\ndef out(v):\n    print(json.dumps(v))\n{script}\n",
        key = billing::testkit::LOCAL_STRIPE_KEY,
        base = stack.emulator.base_url().trim_end_matches('/'),
    );
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(billing::testkit::venv_bin("python"))
            .arg("-c")
            .arg(&program)
            .output()
            .expect("the venv's python (./dev/bootstrap.sh installs stripe-python)")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "stripe-python: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

async fn subscription_in_stripe(stack: &Stack, id: &str) -> Value {
    stripe_python(
        stack,
        &format!(
            "s = stripe.Subscription.retrieve({id:?})\nout({{\"status\": s.status, \"pause_collection\": s.pause_collection and s.pause_collection.to_dict(), \"discounts\": list(s.discounts), \"current_period_start\": s[\"items\"][\"data\"][0][\"current_period_start\"]}})"
        ),
    ).await
}

/// A paid plan that bills no metered usage (a metered one cannot be paused: its renewal bills
/// the period's usage, which a paused renewal would void).
const PAUSABLE_CATALOG: &str = r#"{"plans": [
    {"id": "free", "name": "Free", "free": true, "features": ["projects"]},
    {"id": "basic", "name": "Basic",
     "prices": {"month": {"lookup_key": "basic_monthly", "amount": 1500, "currency": "usd"}},
     "features": ["projects", "exports", "api_access"]},
    {"id": "tried", "name": "Tried", "trial_days": 14,
     "prices": {"month": {"lookup_key": "tried_monthly", "amount": 2000, "currency": "usd"}},
     "features": ["projects", "exports", "api_access"]}
]}"#;

#[tokio::test]
async fn a_pause_withholds_paid_access_and_a_resume_within_the_paid_period_restores_it() {
    let stack = Stack::shared_clock("ret-pause", Some(PAUSABLE_CATALOG), |_| {}).await;
    let id = stack.subscribed_to(json!({"plan": "basic", "interval": "month"})).await;
    deliver_since(&stack, 0).await;
    assert_eq!(allowed(&stack, "api_access").await["allowed"], true);

    let (status, paused) = call(&stack, "subscription-pause.json", json!({})).await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["subscription"]["pause_collection"]["behavior"], "void");
    let decision = allowed(&stack, "api_access").await;
    assert_eq!(
        (decision["allowed"].clone(), decision["reason"].clone()),
        (json!(false), json!("paused"))
    );
    assert_eq!(allowed(&stack, "projects").await["allowed"], true, "the free plan while paused");
    let in_stripe = subscription_in_stripe(&stack, &id).await;
    assert_eq!(in_stripe["pause_collection"]["behavior"], "void", "{in_stripe}");
    assert_eq!(in_stripe["status"], "active");
    // Pausing again the same way changes nothing; a past_due or ended one cannot be paused.
    assert_eq!(call(&stack, "subscription-pause.json", json!({})).await.0, 200);

    let (status, resumed) = call(&stack, "subscription-resume.json", json!({})).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["subscription"]["pause_collection"], Value::Null);
    assert_eq!(allowed(&stack, "api_access").await["allowed"], true, "the period was paid");
    let in_stripe = subscription_in_stripe(&stack, &id).await;
    assert_eq!(in_stripe["pause_collection"], Value::Null, "{in_stripe}");
}

#[tokio::test]
async fn a_period_begun_while_paused_is_never_free_even_after_the_pause_lifts_by_itself() {
    let stack = Stack::shared_clock("ret-unpaid", Some(PAUSABLE_CATALOG), |_| {}).await;
    let id = stack.subscribed_to(json!({"plan": "basic", "interval": "month"})).await;
    deliver_since(&stack, 0).await;
    let now = stack.state.clock.now();
    let (status, paused) = call(&stack, "subscription-pause.json", json!({"resumes_at": now + 35 * 86_400})).await;
    assert_eq!(status, 200, "{paused}");
    // The renewal comes while paused: Stripe voids its invoice, nothing is charged.
    advance(&stack, 31).await;
    let voided = stripe_python(
        &stack,
        &format!("out([i.status for i in stripe.Invoice.list(subscription={id:?}, limit=10).data])"),
    )
    .await;
    assert!(voided.as_array().unwrap().contains(&json!("void")), "{voided}");
    assert_eq!(allowed(&stack, "api_access").await["allowed"], false);
    // `resumes_at` passes: Stripe collects again from the next renewal, but this period was
    // never paid.
    advance(&stack, 5).await;
    let in_stripe = subscription_in_stripe(&stack, &id).await;
    assert_eq!(in_stripe["pause_collection"], Value::Null, "lifted by Stripe: {in_stripe}");
    let decision = allowed(&stack, "api_access").await;
    assert_eq!(decision["allowed"], false, "{decision}");
    let (_, listed) = call(&stack, "subscription-get.json", json!({})).await;
    assert_eq!(listed["subscriptions"][0]["unpaid_period"], true, "{listed}");

    // Resuming charges a new period now, and only then grants.
    let before = in_stripe["current_period_start"].as_i64().unwrap();
    let (status, resumed) = call(&stack, "subscription-resume.json", json!({})).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["subscription"]["unpaid_period"], false, "{resumed}");
    assert_eq!(allowed(&stack, "api_access").await["allowed"], true);
    let in_stripe = subscription_in_stripe(&stack, &id).await;
    assert!(
        in_stripe["current_period_start"].as_i64().unwrap() > before,
        "a new period: {in_stripe}"
    );
    let statuses = stripe_python(
        &stack,
        &format!("out([i.status for i in stripe.Invoice.list(subscription={id:?}, limit=10).data])"),
    )
    .await;
    assert_eq!(statuses[0], "paid", "the resume's invoice, newest first: {statuses}");
}

#[tokio::test]
async fn a_declined_card_on_resume_keeps_the_pause_and_access_withheld() {
    let stack = Stack::shared_clock("ret-declined", Some(PAUSABLE_CATALOG), |_| {}).await;
    let id = stack.subscribed_to(json!({"plan": "basic", "interval": "month"})).await;
    deliver_since(&stack, 0).await;
    assert_eq!(call(&stack, "subscription-pause.json", json!({})).await.0, 200);
    advance(&stack, 31).await;
    let (status, answer) = control(
        &stack.emulator,
        &format!("/_emulator/subscriptions/{id}/card"),
        json!({"card": "4000000000000341"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, problem) = call(&stack, "subscription-resume.json", json!({})).await;
    assert_eq!(status, 402, "{problem}");
    assert_eq!(subscription_in_stripe(&stack, &id).await["pause_collection"]["behavior"], "void");
    assert_eq!(allowed(&stack, "api_access").await["allowed"], false);
}

#[tokio::test]
async fn pause_requests_are_validated_before_anything_is_asked_of_stripe() {
    let stack = Stack::new("ret-pause-bad", vec![]).await;
    assert_eq!(call(&stack, "subscription-pause.json", json!({})).await.0, 409, "no subscription");
    crate::subscription::subscribed(&stack, "pro").await;
    let now = billing::now_epoch();
    for resumes_at in [now - 10, now + 400 * 86_400] {
        let (status, problem) = call(&stack, "subscription-pause.json", json!({"resumes_at": resumes_at})).await;
        assert_eq!(status, 400, "{problem}");
        assert_eq!(problem["field"], "resumes_at");
    }
    let (status, problem) = call(&stack, "subscription-pause.json", json!({"resumes": 1})).await;
    assert_eq!((status, problem["type"].as_str()), (400, Some("/errors/unknown-field")));
    // Pro bills metered usage at its renewal: a paused renewal would void it.
    let (status, problem) = call(&stack, "subscription-pause.json", json!({})).await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("/errors/not-pausable")), "{problem}");
    // Set to end: resume it first.
    assert_eq!(call(&stack, "subscription-cancel.json", json!({})).await.0, 200);
    let (status, problem) = call(&stack, "subscription-pause.json", json!({})).await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("/errors/cancel-pending")));
}

/// A coupon and a promotion code created in the emulator with stripe-python; the code's id.
async fn promotion_code(stack: &Stack, code: &str, coupon: &str, extra: &str) -> String {
    let made = stripe_python(
        stack,
        &format!(
            "c = stripe.Coupon.create({coupon})\np = stripe.PromotionCode.create(promotion={{\"type\": \"coupon\", \"coupon\": c.id}}, code={code:?}{extra})\nout(p.id)"
        ),
    ).await;
    made.as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_promotion_code_applies_once_to_a_live_subscription_and_codes_never_stack() {
    let stack = Stack::new("ret-code", vec![]).await;
    let id = crate::subscription::subscribed(&stack, "pro").await;
    let spring = promotion_code(&stack, "SPRING20", "percent_off=20, duration=\"forever\"", "").await;
    promotion_code(&stack, "OTHER10", "percent_off=10, duration=\"once\"", "").await;
    promotion_code(&stack, "GONE", "percent_off=50, duration=\"once\"", ", active=False").await;
    promotion_code(
        &stack,
        "FIRSTONLY",
        "percent_off=50, duration=\"once\"",
        ", restrictions={\"first_time_transaction\": True}",
    )
    .await;

    for code in ["NOPE", "GONE", "FIRSTONLY"] {
        let (status, problem) = call(&stack, "subscription-discount.json", json!({"promotion_code": code})).await;
        assert_eq!(status, 400, "{code}: {problem}");
        assert_eq!(problem["type"], "/errors/invalid-promotion-code");
        assert_eq!(problem["field"], "promotion_code");
    }
    assert_eq!(subscription_in_stripe(&stack, &id).await["discounts"], json!([]), "nothing applied");

    let (status, applied) = call(&stack, "subscription-discount.json", json!({"promotion_code": "spring20"})).await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(
        (applied["applied"].clone(), applied["promotion_code"]["id"].clone()),
        (json!(true), json!(spring))
    );
    // Idempotent: the same code again applies nothing and redeems nothing.
    let (status, again) = call(&stack, "subscription-discount.json", json!({"promotion_code": "SPRING20"})).await;
    assert_eq!((status, again["applied"].clone()), (200, json!(false)), "{again}");
    // Another code does not stack on it.
    let (status, problem) = call(&stack, "subscription-discount.json", json!({"promotion_code": "OTHER10"})).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (409, Some("/errors/discount-exists")),
        "{problem}"
    );

    let read = stripe_python(
        &stack,
        &format!(
            "s = stripe.Subscription.retrieve({id:?}, expand=[\"discounts\"])\np = stripe.PromotionCode.retrieve({spring:?})\nout({{\"discounts\": [d.promotion_code for d in s.discounts], \"redeemed\": p.times_redeemed}})"
        ),
    ).await;
    assert_eq!(read, json!({"discounts": [spring], "redeemed": 1}));
}

const NO_CARD_CATALOG: &str = r#"{"plans": [
    {"id": "free", "name": "Free", "free": true, "features": ["projects"]},
    {"id": "starter", "name": "Starter", "trial_days": 14, "trial_card": "if_required",
     "prices": {"month": {"lookup_key": "starter_monthly", "amount": 900, "currency": "usd"}},
     "features": ["projects", "exports"]}
]}"#;

async fn trial_without_card(stack: &Stack) -> String {
    let (status, created) = crate::checkout::create(
        stack,
        crate::checkout::post_checkout(json!({"plan": "starter", "interval": "month"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let session = created["id"].as_str().unwrap().to_owned();
    let read = stripe_python(
        stack,
        &format!("s = stripe.checkout.Session.retrieve({session:?})\nout(s.payment_method_collection)"),
    )
    .await;
    assert_eq!(read, "if_required");
    // Paid with no card at all: nothing is due today.
    let (status, paid) = control(&stack.emulator, &format!("/_emulator/checkout/sessions/{session}/pay"), json!({})).await;
    assert_eq!(status, 200, "{paid}");
    let response = checkout::handler::handle(&stack.state, crate::checkout::get_checkout(&session))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    stack.emulator.shared.world.lock().await.sessions[&session]
        .subscription
        .clone()
        .unwrap()
}

#[tokio::test]
async fn a_trial_without_a_card_says_how_it_ends_and_ends_canceled() {
    let stack = Stack::shared_clock("ret-trial-cancel", Some(NO_CARD_CATALOG), |_| {}).await;
    let listener = crate::events::Listener::on("ret-trial-cancel").await;
    let id = trial_without_card(&stack).await;
    deliver_since(&stack, 0).await;
    assert_eq!(allowed(&stack, "exports").await["reason"], "trialing");
    advance(&stack, 12).await;
    let events = listener.drain(&stack.state).await;
    let warned = crate::events::of(&events, "trial.will_end");
    crate::events::conforms("trial.will_end", warned);
    assert_eq!(
        (warned["has_payment_method"].clone(), warned["ends_by"].clone()),
        (json!(false), json!("cancel"))
    );
    advance(&stack, 3).await;
    assert_eq!(subscription_in_stripe(&stack, &id).await["status"], "canceled");
    assert_eq!(allowed(&stack, "exports").await["allowed"], false);
}

#[tokio::test]
async fn a_trial_without_a_card_can_end_paused_and_resume_once_a_card_is_added() {
    let stack = Stack::shared_clock("ret-trial-pause", Some(NO_CARD_CATALOG), |c| {
        c.checkout.trial_end_without_card = billing::config::TrialEndWithoutCard::Pause;
    })
    .await;
    let id = trial_without_card(&stack).await;
    deliver_since(&stack, 0).await;
    advance(&stack, 15).await;
    assert_eq!(subscription_in_stripe(&stack, &id).await["status"], "paused");
    let decision = allowed(&stack, "exports").await;
    assert_eq!(
        (decision["allowed"].clone(), decision["reason"].clone()),
        (json!(false), json!("paused"))
    );
    // No card yet: resuming would only make an invoice nobody can pay.
    let (status, problem) = call(&stack, "subscription-resume.json", json!({})).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (402, Some("/errors/payment-method-required")),
        "{problem}"
    );
    // The card added in the billing portal (the emulator's control does what the page does).
    let customer = stack.emulator.shared.world.lock().await.subscriptions[&id].customer.clone();
    let (status, answer) = control(
        &stack.emulator,
        &format!("/_emulator/customers/{customer}/card"),
        json!({"card": "4242424242424242"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let from = stack.emulator.shared.world.lock().await.events.len();
    let (status, resumed) = call(&stack, "subscription-resume.json", json!({})).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(subscription_in_stripe(&stack, &id).await["status"], "active");
    // Stripe's entitlements summary follows by webhook.
    deliver_since(&stack, from).await;
    let decision = allowed(&stack, "exports").await;
    let (_, listed) = call(&stack, "subscription-get.json", json!({})).await;
    assert_eq!(decision["allowed"], true, "{decision} {listed} {resumed}");
}

#[test]
fn a_pause_behavior_that_would_charge_twice_and_a_paid_paused_plan_are_refused_at_startup() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
                .or_else(|| match k {
                    "TABLE_NAME" => Some("t-startup".into()),
                    _ => None,
                })
        }
    };
    let needs = billing::Needs::default();
    let err = billing::Config::from_lookup(env(&[("PAUSE_BEHAVIOR", "keep_as_draft")]), needs).unwrap_err();
    assert_eq!(err.var, "PAUSE_BEHAVIOR");
    let err = billing::Config::from_lookup(env(&[("TRIAL_END_WITHOUT_CARD", "charge")]), needs).unwrap_err();
    assert_eq!(err.var, "TRIAL_END_WITHOUT_CARD");
    let config = billing::Config::from_lookup(env(&[("PAUSED_ACCESS", "pro")]), needs).unwrap();
    let catalog = billing::domain::plans::Catalog::embedded().unwrap();
    let err = billing::config::rules::check_paused_access(&config.access, &catalog).unwrap_err();
    assert_eq!(err.var, "PAUSED_ACCESS", "pro has prices");
    let config = billing::Config::from_lookup(env(&[("PAUSED_ACCESS", "free")]), needs).unwrap();
    assert!(billing::config::rules::check_paused_access(&config.access, &catalog).is_ok());
}

#[tokio::test]
async fn a_once_code_used_up_by_its_invoice_cannot_be_applied_again_next_period() {
    let stack = Stack::shared_clock("ret-once", Some(PAUSABLE_CATALOG), |_| {}).await;
    let id = stack.subscribed_to(json!({"plan": "basic", "interval": "month"})).await;
    deliver_since(&stack, 0).await;
    promotion_code(&stack, "ONCE50", "percent_off=50, duration=\"once\"", "").await;
    let (status, applied) = call(&stack, "subscription-discount.json", json!({"promotion_code": "ONCE50"})).await;
    assert_eq!((status, applied["applied"].clone()), (200, json!(true)), "{applied}");
    // The renewal takes 50 % off, and Stripe removes the used-up discount.
    advance(&stack, 31).await;
    assert_eq!(subscription_in_stripe(&stack, &id).await["discounts"], json!([]));
    let (status, problem) = call(&stack, "subscription-discount.json", json!({"promotion_code": "ONCE50"})).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (400, Some("/errors/invalid-promotion-code")),
        "{problem}"
    );
    let totals = stripe_python(
        &stack,
        &format!("out([[i.subtotal, i.total] for i in stripe.Invoice.list(subscription={id:?}, limit=10).data])"),
    )
    .await;
    assert_eq!(totals[0], json!([1500, 750]), "the renewal, newest first: {totals}");
    assert_eq!(
        totals.as_array().unwrap().iter().filter(|t| t[1] == 750).count(),
        1,
        "half off once: {totals}"
    );
}

#[tokio::test]
async fn a_trial_paused_ends_into_an_unpaid_period_that_the_resume_charges() {
    let stack = Stack::shared_clock("ret-trial-paused", Some(PAUSABLE_CATALOG), |_| {}).await;
    let id = stack.subscribed_to(json!({"plan": "tried", "interval": "month"})).await;
    deliver_since(&stack, 0).await;
    assert_eq!(allowed(&stack, "api_access").await["reason"], "trialing");
    assert_eq!(call(&stack, "subscription-pause.json", json!({})).await.0, 200);
    // The trial ends while paused: Stripe makes it active and voids the invoice (the clock must
    // not see the trial end again and again).
    tokio::time::timeout(std::time::Duration::from_secs(60), advance(&stack, 15))
        .await
        .expect("the trial end is applied once");
    let in_stripe = subscription_in_stripe(&stack, &id).await;
    assert_eq!(in_stripe["status"], "active", "{in_stripe}");
    let statuses = stripe_python(
        &stack,
        &format!("out([i.status for i in stripe.Invoice.list(subscription={id:?}, limit=10).data])"),
    )
    .await;
    assert_eq!(statuses[0], "void", "{statuses}");
    assert_eq!(
        allowed(&stack, "api_access").await["allowed"],
        false,
        "the period after the trial was not paid"
    );
    let from = stack.emulator.shared.world.lock().await.events.len();
    let (status, resumed) = call(&stack, "subscription-resume.json", json!({})).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["subscription"]["unpaid_period"], false, "{resumed}");
    deliver_since(&stack, from).await;
    let decision = allowed(&stack, "api_access").await;
    assert_eq!(decision["allowed"], true, "{decision} {resumed}");
}
