//! End to end, offline: the API served by `cargo lambda watch`, the Stripe emulator delivering
//! signed webhooks to it, moto as DynamoDB. `dev/e2e.sh` starts that stack and runs this binary
//! with its addresses (`E2E_API`, `E2E_STRIPE`, `E2E_DYNAMODB`, `E2E_TABLE`); `./dev/test.sh`
//! runs it after the other tests. Without the stack these tests fail: they never skip.

use std::time::{Duration, Instant};

use billing::adapters::store::Store;
use billing::domain::records::UserItems;
use billing::testkit;
use serde_json::{Value, json};

struct Env {
    api: String,
    stripe: String,
    store: Store,
    http: reqwest::Client,
}

fn env() -> Env {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run ./dev/e2e.sh (or ./dev/test.sh), which starts the stack"))
    };
    Env {
        api: var("E2E_API"),
        stripe: var("E2E_STRIPE"),
        store: Store::new(testkit::dynamodb_client(&var("E2E_DYNAMODB")), var("E2E_TABLE")),
        http: reqwest::Client::new(),
    }
}

impl Env {
    fn token(&self, user: &str) -> String {
        let config = testkit::config("unused", "http://127.0.0.1:9", None);
        testkit::token(&config, user, Some(&format!("{user}@example.com")))
    }

    async fn api(&self, method: reqwest::Method, path: &str, user: &str, body: Option<Value>) -> (u16, Value) {
        self.send(method, path, &self.token(user), body).await
    }

    /// A request with the bearer `token`.
    async fn send(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.api)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("api reachable");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A request acting for organization `org` with `role`.
    async fn org_api(&self, method: reqwest::Method, path: &str, user: &str, org: &str, role: &str, body: Option<Value>) -> (u16, Value) {
        let config = testkit::config("unused", "http://127.0.0.1:9", None);
        self.send(method, path, &testkit::org_token(&config, user, org, role), body).await
    }

    async fn emulator(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.stripe))
            .json(&body)
            .send()
            .await
            .expect("emulator reachable");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap()
    }

    async fn stripe_form(&self, method: reqwest::Method, path: &str, form: &[(&str, &str)]) -> Value {
        let response = self
            .http
            .request(method, format!("{}{path}", self.stripe))
            .bearer_auth(testkit::LOCAL_STRIPE_KEY)
            .form(form)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap()
    }

    /// Checkout through the API, paid in the emulator. Returns (session id, subscription id).
    async fn subscribe(&self, user: &str, plan: &str, card: &str) -> (String, String) {
        let (status, created) = self
            .api(
                reqwest::Method::POST,
                "/checkout",
                user,
                Some(json!({"plan": plan, "interval": "month"})),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_owned();
        let paid = self
            .emulator(&format!("/_emulator/checkout/sessions/{id}/pay"), json!({"card": card}))
            .await;
        (id, paid["session"]["subscription"].as_str().unwrap().to_owned())
    }

    async fn feature(&self, user: &str, feature: &str) -> Value {
        let (status, body) = self
            .api(reqwest::Method::GET, &format!("/entitlements/{feature}"), user, None)
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// Polls `probe` until it returns `Some` or `within` passes.
async fn eventually<T>(within: Duration, what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(start.elapsed() < within, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn synced(items: &UserItems, subscription: &str, status: &str) -> bool {
    items.customer.is_some()
        && items.entitlements.as_ref().is_some_and(|e| !e.features.is_empty())
        && items
            .subscriptions
            .iter()
            .any(|s| s.subscription_id == subscription && s.status == status)
}

/// The parts of the stored state that must not depend on delivery order or duplicates.
fn shape(items: &UserItems) -> Value {
    json!({
        "customer": items.customer.is_some(),
        "subscriptions": items.subscriptions.iter().map(|s| json!([s.plan, s.status, s.quantity, s.cancel_at_period_end])).collect::<Vec<_>>(),
        "features": items.entitlements.as_ref().map(|e| e.features.clone()),
    })
}

#[tokio::test]
async fn paying_a_checkout_syncs_through_signed_webhooks_and_chaos_changes_nothing() {
    let env = env();
    env.emulator(
        "/_emulator/config",
        json!({"chaos": {"duplicates": false, "shuffle": false, "delay_ms": 0}}),
    )
    .await;
    let (_, sub) = env.subscribe("e2e_plain", "pro", "4242424242424242").await;
    let plain = eventually(
        Duration::from_secs(2),
        "subscription, customer mapping and entitlements stored",
        async || {
            let items = env.store.user_items("e2e_plain").await.ok()?;
            synced(&items, &sub, "active").then_some(items)
        },
    )
    .await;
    assert_eq!(env.feature("e2e_plain", "api_access").await["allowed"], true);

    env.emulator(
        "/_emulator/config",
        json!({"chaos": {"duplicates": true, "shuffle": true, "delay_ms": 0}}),
    )
    .await;
    let (_, sub) = env.subscribe("e2e_chaos", "pro", "4242424242424242").await;
    let chaos = eventually(
        Duration::from_secs(20),
        "the same state under duplicates and shuffling",
        async || {
            let items = env.store.user_items("e2e_chaos").await.ok()?;
            synced(&items, &sub, "active").then_some(items)
        },
    )
    .await;
    env.emulator(
        "/_emulator/config",
        json!({"chaos": {"duplicates": false, "shuffle": false, "delay_ms": 0}}),
    )
    .await;
    assert_eq!(shape(&chaos), shape(&plain));

    // Every delivery, duplicates and retries included, was eventually acknowledged with a 2xx,
    // and once all have landed the state is still the same.
    let deliveries = eventually(Duration::from_secs(20), "all deliveries acknowledged", async || {
        let deliveries: Value = env
            .http
            .get(format!("{}/_emulator/deliveries", env.stripe))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let list = deliveries["deliveries"].as_array()?.clone();
        list.iter().all(|d| d["delivered"] == true).then_some(list)
    })
    .await;
    assert!(!deliveries.is_empty());
    let settled = env.store.user_items("e2e_chaos").await.unwrap();
    assert_eq!(shape(&settled), shape(&plain), "after every duplicate and retry");
}

#[tokio::test]
async fn failing_renewal_goes_through_grace_to_denied_and_cancel_at_period_end_holds_until_the_end() {
    let env = env();
    // The 0341 card pays now and fails at renewal.
    let (_, sub) = env.subscribe("e2e_dunning", "starter", "4000000000000341").await;
    eventually(Duration::from_secs(10), "subscription trialing", async || {
        env.store
            .user_items("e2e_dunning")
            .await
            .ok()
            .filter(|i| synced(i, &sub, "trialing"))
    })
    .await;
    // starter has a 14-day trial for first-time subscribers: trial end is the first charge.
    let before = env.feature("e2e_dunning", "exports").await;
    assert_eq!(
        (before["allowed"].as_bool(), before["reason"].as_str()),
        (Some(true), Some("trialing")),
        "{before}"
    );

    env.emulator("/_emulator/clock/advance", json!({"days": 15})).await;
    eventually(Duration::from_secs(10), "past_due stored", async || {
        env.store
            .user_items("e2e_dunning")
            .await
            .ok()
            .filter(|i| i.subscriptions.iter().any(|s| s.status == "past_due"))
    })
    .await;
    let grace = env.feature("e2e_dunning", "exports").await;
    assert_eq!(
        (grace["allowed"].as_bool(), grace["reason"].as_str()),
        (Some(true), Some("grace_past_due")),
        "{grace}"
    );

    env.emulator("/_emulator/clock/advance", json!({"days": 8})).await;
    eventually(Duration::from_secs(10), "canceled by the dunning rule", async || {
        env.store
            .user_items("e2e_dunning")
            .await
            .ok()
            .filter(|i| i.subscriptions.iter().any(|s| s.status == "canceled"))
    })
    .await;
    let denied = env.feature("e2e_dunning", "exports").await;
    assert_eq!(
        (denied["allowed"].as_bool(), denied["reason"].as_str()),
        (Some(false), Some("canceled")),
        "{denied}"
    );

    // Cancel at period end: allowed until the clock passes the period end.
    let (_, sub) = env.subscribe("e2e_leaving", "pro", "4242424242424242").await;
    eventually(Duration::from_secs(10), "subscription active", async || {
        env.store.user_items("e2e_leaving").await.ok().filter(|i| synced(i, &sub, "active"))
    })
    .await;
    env.stripe_form(
        reqwest::Method::POST,
        &format!("/v1/subscriptions/{sub}"),
        &[("cancel_at_period_end", "true")],
    )
    .await;
    eventually(Duration::from_secs(10), "cancel_at_period_end stored", async || {
        env.store
            .user_items("e2e_leaving")
            .await
            .ok()
            .filter(|i| i.subscriptions.iter().any(|s| s.cancel_at_period_end))
    })
    .await;
    assert_eq!(env.feature("e2e_leaving", "api_access").await["allowed"], true);
    env.emulator("/_emulator/clock/advance", json!({"days": 29})).await;
    assert_eq!(
        env.feature("e2e_leaving", "api_access").await["allowed"],
        true,
        "still inside the period"
    );
    env.emulator("/_emulator/clock/advance", json!({"days": 2})).await;
    eventually(Duration::from_secs(10), "ended at period end", async || {
        let body = env.feature("e2e_leaving", "api_access").await;
        (body["allowed"] == false).then_some(body)
    })
    .await;
}

#[tokio::test]
async fn a_user_manages_a_subscription_through_the_api() {
    use reqwest::Method;
    let env = env();
    let user = "e2e_manage";
    let (_, sub) = env.subscribe(user, "starter", "4242424242424242").await;
    eventually(Duration::from_secs(10), "subscription synced", async || {
        env.store.user_items(user).await.ok().filter(|i| synced(i, &sub, "trialing"))
    })
    .await;
    assert_eq!(env.feature(user, "api_access").await["allowed"], false, "starter has no api_access");

    // Upgrade now: the extra feature is allowed within 2 s.
    let (status, body) = env
        .api(Method::POST, "/subscription/change", user, Some(json!({"plan": "pro"})))
        .await;
    assert_eq!(status, 200, "{body}");
    eventually(Duration::from_secs(2), "api_access after the upgrade", async || {
        (env.feature(user, "api_access").await["allowed"] == true).then_some(())
    })
    .await;

    // A preview changes nothing.
    let (status, preview) = env
        .api(
            Method::POST,
            "/subscription/change",
            user,
            Some(json!({"plan": "starter", "preview": true})),
        )
        .await;
    assert_eq!(status, 200, "{preview}");
    assert!(preview["amount_due"].is_i64() && preview["lines"].is_array(), "{preview}");
    let (_, listed) = env.api(Method::GET, "/subscription", user, None).await;
    assert_eq!(listed["subscriptions"][0]["plan"], "pro", "{listed}");

    // A downgrade at period end, carried out by the clock.
    let (status, body) = env
        .api(
            Method::POST,
            "/subscription/change",
            user,
            Some(json!({"plan": "starter", "when": "period_end"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["subscription"]["scheduled_change"]["plan"], "starter", "{body}");
    let end = body["subscription"]["current_period_end"].as_i64().unwrap();
    let now = env
        .http
        .get(format!("{}/_emulator/clock", env.stripe))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["now"]
        .as_i64()
        .unwrap();
    env.emulator("/_emulator/clock/advance", json!({"seconds": end - now + 60})).await;
    eventually(Duration::from_secs(10), "the downgrade applied", async || {
        let (_, listed) = env.api(Method::GET, "/subscription", user, None).await;
        let sub = &listed["subscriptions"][0];
        (sub["plan"] == "starter" && sub["scheduled_change"].is_null()).then_some(())
    })
    .await;
    eventually(Duration::from_secs(10), "api_access gone with pro", async || {
        (env.feature(user, "api_access").await["allowed"] == false).then_some(())
    })
    .await;

    // Cancel at period end (still allowed), resume, cancel now (denied).
    let (status, body) = env.api(Method::POST, "/subscription/cancel", user, Some(json!({}))).await;
    assert_eq!(
        (status, &body["subscription"]["cancel_at_period_end"]),
        (200, &json!(true)),
        "{body}"
    );
    assert_eq!(env.feature(user, "exports").await["allowed"], true);
    let (status, body) = env.api(Method::POST, "/subscription/resume", user, Some(json!({}))).await;
    assert_eq!(
        (status, &body["subscription"]["cancel_at_period_end"]),
        (200, &json!(false)),
        "{body}"
    );
    let (status, body) = env
        .api(Method::POST, "/subscription/cancel", user, Some(json!({"at_period_end": false})))
        .await;
    assert_eq!((status, &body["subscription"]["status"]), (200, &json!("canceled")), "{body}");
    eventually(Duration::from_secs(2), "exports denied", async || {
        (env.feature(user, "exports").await["allowed"] == false).then_some(())
    })
    .await;

    let (status, invoices) = env.api(Method::GET, "/invoices", user, None).await;
    assert_eq!(status, 200, "{invoices}");
    let invoices = invoices["invoices"].as_array().unwrap();
    assert!(invoices.len() >= 2, "{invoices:?}");
    assert!(invoices.iter().all(|i| i["hosted_invoice_url"].is_string()), "{invoices:?}");
}

impl Env {
    /// Invokes a function through `cargo lambda watch`'s Lambda Invoke API, as EventBridge
    /// Scheduler would.
    async fn invoke(&self, function: &str, payload: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/2015-03-31/functions/{function}/invocations", self.api))
            .json(&payload)
            .send()
            .await
            .expect("cargo lambda watch reachable");
        assert!(response.status().is_success(), "{function}: {}", response.status());
        response.json().await.unwrap()
    }

    async fn stripe_get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.stripe))
            .bearer_auth(testkit::LOCAL_STRIPE_KEY)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap()
    }
}

#[tokio::test]
async fn a_metered_plan_bills_usage_through_the_meter_exactly_once() {
    use reqwest::Method;
    let env = env();
    let user = "e2e_metered";
    let (_, sub) = env.subscribe(user, "pro", "4242424242424242").await;
    eventually(Duration::from_secs(10), "subscription synced", async || {
        env.store.user_items(user).await.ok().filter(|i| synced(i, &sub, "active"))
    })
    .await;
    // A user's token records nothing; the trusted path is a direct invocation of the function
    // (cargo lambda watch's Lambda Invoke endpoint, as `aws lambda invoke` in AWS).
    let (status, body) = env
        .api(
            Method::POST,
            "/usage",
            user,
            Some(json!({"feature": "api_calls", "quantity": 1000})),
        )
        .await;
    assert_eq!(
        (status, body["type"].as_str()),
        (403, Some("/errors/trusted-caller-required")),
        "{body}"
    );
    let mut recorded = 0;
    for quantity in [3, 4, 5] {
        let body = env
            .invoke("usage", json!({"user_id": user, "feature": "api_calls", "quantity": quantity}))
            .await;
        assert_eq!(body["allowed"], true, "{body}");
        recorded += quantity;
        assert_eq!(body["used"], recorded);
    }
    let (_, usage) = env.api(Method::GET, "/usage", user, None).await;
    assert_eq!(usage["features"]["api_calls"]["metered"], true, "{usage}");

    let first = env.invoke("usage-reporter", json!({})).await;
    assert_eq!(
        (first["sent"].as_u64(), first["units"].as_u64()),
        (Some(1), Some(recorded)),
        "{first}"
    );
    let second = env.invoke("usage-reporter", json!({})).await;
    assert_eq!(second["units"].as_u64(), Some(0), "a second run adds nothing: {second}");

    let customer = env.store.user_items(user).await.unwrap().customer.unwrap().customer_id;
    let meters = env.stripe_get("/v1/billing/meters").await;
    let meter = meters["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["event_name"] == "api_calls")
        .expect("the api_calls meter")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = env
        .http
        .get(format!("{}/_emulator/clock", env.stripe))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["now"]
        .as_i64()
        .unwrap();
    let (start, end) = (usage["period_start"].as_i64().unwrap(), now - now % 60 + 3600);
    let start = start - start % 60;
    let summaries = env
        .stripe_get(&format!(
            "/v1/billing/meters/{meter}/event_summaries?customer={customer}&start_time={start}&end_time={end}"
        ))
        .await;
    let total: f64 = summaries["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["aggregated_value"].as_f64().unwrap())
        .sum();
    assert_eq!(total, recorded as f64, "{summaries}");
}

#[tokio::test]
async fn ten_checkouts_in_a_row_reuse_one_stripe_connection() {
    let env = env();
    let stats = async || -> Value {
        env.http
            .get(format!("{}/_emulator/stats", env.stripe))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    let before = stats().await;
    for i in 0..10 {
        let (status, created) = env
            .api(
                reqwest::Method::POST,
                "/checkout",
                &format!("e2e_pool_{i}"),
                Some(json!({"plan": "pro", "interval": "month"})),
            )
            .await;
        assert_eq!(status, 201, "{created}");
    }
    let after = stats().await;
    let requests = after["api_requests"].as_u64().unwrap() - before["api_requests"].as_u64().unwrap();
    let connections = after["connections"].as_u64().unwrap() - before["connections"].as_u64().unwrap();
    assert!(requests >= 10, "every checkout called Stripe: {requests}");
    assert!(
        connections <= 1,
        "the warm checkout process keeps its connection: {connections} opened for {requests} requests"
    );
}

/// With webhook delivery off, a paid checkout leaves the user without access until
/// reconcile runs (through the Lambda Invoke API, as EventBridge Scheduler would); a second run
/// applies nothing; with deliveries on again but late and shuffled, a run racing them ends in
/// the state webhooks alone reach.
#[tokio::test]
async fn reconcile_repairs_missed_webhooks_and_races_late_ones_to_the_same_state() {
    let env = env();
    let config: Value = env
        .http
        .get(format!("{}/_emulator/config", env.stripe))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let urls = config["webhook_urls"].clone();
    assert!(!urls.as_array().unwrap().is_empty(), "{config}");
    env.emulator("/_emulator/config", json!({"webhook_urls": []})).await;
    let (_, sub) = env.subscribe("e2e_reconcile", "pro", "4242424242424242").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        env.feature("e2e_reconcile", "api_access").await["allowed"],
        false,
        "no webhook: no access"
    );

    let first = env.invoke("reconcile", json!({})).await;
    assert!(first["applied"].as_u64().unwrap_or(0) >= 2, "{first}");
    assert_eq!(first["failed"], 0, "{first}");
    assert!(first["checkpoint"].is_i64(), "{first}");
    assert_eq!(
        env.feature("e2e_reconcile", "api_access").await["allowed"],
        true,
        "one run grants access"
    );
    let repaired = env.store.user_items("e2e_reconcile").await.unwrap();
    assert!(synced(&repaired, &sub, "active"), "{repaired:?}");
    let second = env.invoke("reconcile", json!({})).await;
    assert_eq!(second["applied"], 0, "a second run applies nothing: {second}");
    assert_eq!(second["failed"], 0, "{second}");

    env.emulator(
        "/_emulator/config",
        json!({"webhook_urls": urls, "chaos": {"duplicates": false, "shuffle": true, "delay_ms": 100}}),
    )
    .await;
    let (_, sub) = env.subscribe("e2e_reconcile_race", "pro", "4242424242424242").await;
    let raced = env.invoke("reconcile", json!({})).await;
    assert_eq!(raced["failed"], 0, "{raced}");
    let settled = eventually(Duration::from_secs(30), "late deliveries acknowledged", async || {
        let deliveries: Value = env
            .http
            .get(format!("{}/_emulator/deliveries", env.stripe))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let all = deliveries["deliveries"].as_array()?.iter().all(|d| d["delivered"] == true);
        let items = env.store.user_items("e2e_reconcile_race").await.ok()?;
        (all && synced(&items, &sub, "active")).then_some(items)
    })
    .await;
    env.emulator(
        "/_emulator/config",
        json!({"chaos": {"duplicates": false, "shuffle": false, "delay_ms": 0}}),
    )
    .await;
    assert_eq!(shape(&settled), shape(&repaired), "racing webhooks end in the same state");
}

/// The authorizer through `cargo lambda watch`'s Lambda Invoke API, with the local
/// default `GET /reports` → `exports`: a free user is denied, a paying one allowed, an unlisted
/// route needs a valid token only, a bad token is denied.
#[tokio::test]
async fn the_authorizer_gates_a_route_by_feature() {
    let env = env();
    let event: Value = serde_json::from_str(&testkit::event_text("authorizer-gated.json")).unwrap();
    let ask = async |user: Option<&str>, route: &str| {
        let mut event = event.clone();
        event["routeKey"] = route.into();
        event["headers"]["authorization"] = match user {
            Some(user) => format!("Bearer {}", env.token(user)).into(),
            None => "Bearer not.a.token".into(),
        };
        event["identitySource"] = json!([event["headers"]["authorization"].clone(), route]);
        env.invoke("authorizer", event).await
    };
    let free = ask(Some("e2e_authz_free"), "GET /reports").await;
    assert_eq!(
        (free["isAuthorized"].clone(), free["context"]["reason"].clone()),
        (json!(false), json!("no_subscription")),
        "{free}"
    );
    assert_eq!(free["context"]["feature"], "exports");

    let (_, sub) = env.subscribe("e2e_authz_paid", "starter", "4242424242424242").await;
    eventually(Duration::from_secs(30), "the subscription synced", async || {
        let items = env.store.user_items("e2e_authz_paid").await.ok()?;
        // Starter starts with a 14-day trial.
        synced(&items, &sub, "trialing").then_some(())
    })
    .await;
    let paid = ask(Some("e2e_authz_paid"), "GET /reports").await;
    assert_eq!(paid["isAuthorized"], true, "{paid}");
    assert_eq!(
        (
            paid["context"]["plan"].clone(),
            paid["context"]["status"].clone(),
            paid["context"]["reason"].clone()
        ),
        (json!("starter"), json!("trialing"), json!("trialing"))
    );

    let ungated = ask(Some("e2e_authz_free"), "GET /profile").await;
    assert_eq!(
        (ungated["isAuthorized"].clone(), ungated["context"]["reason"].clone()),
        (json!(true), json!("authenticated"))
    );
    let forged = ask(None, "GET /profile").await;
    assert_eq!(
        (forged["isAuthorized"].clone(), forged["context"]["reason"].clone()),
        (json!(false), json!("invalid_token"))
    );
}

/// A custom monthly amount in EUR through the API, paid in the emulator, its
/// subscription stored by the webhook.
#[tokio::test]
async fn a_custom_monthly_amount_in_eur_is_paid_and_stored() {
    let env = env();
    let (status, created) = env
        .api(
            reqwest::Method::POST,
            "/checkout",
            "e2e_donor",
            Some(json!({"plan": "donation", "amount": 2999, "currency": "eur", "interval": "month"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let paid = env
        .emulator(
            &format!("/_emulator/checkout/sessions/{id}/pay"),
            json!({"card": "4242424242424242"}),
        )
        .await;
    assert_eq!(paid["session"]["amount_total"], 2999, "{paid}");
    assert_eq!(paid["session"]["currency"], "eur");
    let sub = paid["session"]["subscription"].as_str().unwrap().to_owned();
    let stored = eventually(Duration::from_secs(30), "the custom-amount subscription stored", async || {
        let items = env.store.user_items("e2e_donor").await.ok()?;
        items
            .subscriptions
            .iter()
            .find(|s| s.subscription_id == sub && s.status == "active")
            .cloned()
    })
    .await;
    assert_eq!(stored.quantity, 1);
    let subscription = env.stripe_get(&format!("/v1/subscriptions/{sub}")).await;
    assert_eq!(subscription["items"]["data"][0]["price"]["unit_amount"], 2999);
    assert_eq!(subscription["items"]["data"][0]["price"]["currency"], "eur");
    // Bad input never reaches Stripe.
    let (status, problem) = env
        .api(
            reqwest::Method::POST,
            "/checkout",
            "e2e_donor",
            Some(json!({"plan": "donation", "amount": 29.99, "currency": "eur"})),
        )
        .await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("amount")), "{problem}");
}

/// The stack's domain events for `user`, read as a team's consumer reads them: a rule with an
/// SQS target on the stack's bus (moto), attached before the user acts.
struct Feed {
    sqs: aws_sdk_sqs::Client,
    consumer: billing::testkit::consumer::Consumer,
}

impl Feed {
    async fn attach(name: &str) -> Self {
        let endpoint = std::env::var("E2E_DYNAMODB").expect("E2E_DYNAMODB");
        let sdk = testkit::local_sdk();
        let client =
            aws_sdk_eventbridge::Client::from_conf(aws_sdk_eventbridge::config::Builder::from(&sdk).endpoint_url(&endpoint).build());
        let bus = billing::adapters::bus::Bus::new(client, billing::config::DEFAULT_EVENT_BUS_NAME, "billing");
        let sqs = billing::testkit::consumer::sqs_client(&sdk, Some(&url::Url::parse(&endpoint).unwrap()));
        let consumer = billing::testkit::consumer::Consumer::attach(&sqs, &bus, name, "billing", None)
            .await
            .expect("a rule and a queue on the stack's bus");
        Self { sqs, consumer }
    }

    /// Runs the publisher (as the table's stream would wake it) and collects `user`'s events
    /// until `done` says enough arrived.
    async fn until(&self, env: &Env, user: &str, seen: &mut Vec<(String, Value)>, done: impl Fn(&[(String, Value)]) -> bool) {
        let start = Instant::now();
        while !done(seen) {
            assert!(start.elapsed() < Duration::from_secs(30), "events so far: {seen:?}");
            let run = env
                .http
                .post(format!("{}/2015-03-31/functions/events-publisher/invocations", env.api))
                .body(testkit::event_text("events-publisher-run.json"))
                .send()
                .await
                .expect("publisher reachable");
            assert!(run.status().is_success(), "publisher: {}", run.status());
            for body in self.consumer.receive(&self.sqs).await.unwrap() {
                let event: Value = serde_json::from_str(&body).unwrap();
                if event["detail"]["user_id"] == user {
                    seen.push((event["detail-type"].as_str().unwrap().to_owned(), event["detail"].clone()));
                }
            }
        }
    }
}

fn has(seen: &[(String, Value)], kind: &str, status: &str) -> bool {
    seen.iter().any(|(k, d)| k == kind && d["status"] == status)
}

#[tokio::test]
async fn subscribing_then_failing_a_renewal_publishes_the_domain_events_in_order() {
    let env = env();
    let feed = Feed::attach("e2e-events").await;
    let user = "e2e_events";
    let (_, sub) = env.subscribe(user, "pro", "4000000000000341").await;
    let mut seen = Vec::new();
    feed.until(&env, user, &mut seen, |s| {
        has(s, "subscription.created", "active") && s.iter().any(|(k, _)| k == "payment.succeeded")
    })
    .await;
    env.emulator("/_emulator/clock/advance", json!({"days": 31})).await;
    feed.until(&env, user, &mut seen, |s| {
        has(s, "subscription.updated", "past_due") && s.iter().any(|(k, _)| k == "payment.failed")
    })
    .await;
    let kinds: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds[0], "subscription.created", "{kinds:?}");
    let position = |kind: &str| kinds.iter().position(|k| *k == kind).unwrap();
    assert!(position("payment.succeeded") < position("payment.failed"), "{kinds:?}");
    let failed = &seen[position("payment.failed")].1;
    assert_eq!(failed["subscription_id"], sub.as_str());
    assert!(
        failed["hosted_invoice_url"].as_str().is_some_and(|u| u.starts_with("http")),
        "{failed}"
    );
    // Per subscription, versions never go down in arrival order; ids are unique.
    let versions: Vec<u64> = seen
        .iter()
        .filter(|(_, d)| d["subscription_id"] == sub.as_str())
        .map(|(_, d)| d["version"].as_u64().unwrap())
        .collect();
    assert!(versions.windows(2).all(|w| w[0] <= w[1]), "{versions:?}");
    let ids: std::collections::BTreeSet<&str> = seen.iter().map(|(_, d)| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), seen.len(), "each event once: {kinds:?}");
}

/// A Stripe event delivered the way Stripe's EventBridge event destination delivers it: the
/// webhook function invoked directly (through `cargo lambda watch`'s Lambda Invoke API) with
/// EventBridge's envelope, `events/webhook-eventbridge.json`'s shape.
async fn invoke_webhook(env: &Env, payload: &Value) -> (u16, Value) {
    let response = env
        .http
        .post(format!("{}/2015-03-31/functions/webhook/invocations", env.api))
        .json(payload)
        .send()
        .await
        .expect("webhook reachable");
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn stripe_events_through_eventbridge_reach_the_same_engine() {
    let env = env();
    let user = "e2e_bridge";
    let (_, sub) = env.subscribe(user, "starter", "4242424242424242").await;
    eventually(Duration::from_secs(10), "subscription synced by the webhook", async || {
        env.store.user_items(user).await.ok().filter(|i| synced(i, &sub, "trialing"))
    })
    .await;
    let events: Value = env
        .http
        .get(format!("{}/v1/events?type=customer.subscription.created&limit=100", env.stripe))
        .bearer_auth(testkit::LOCAL_STRIPE_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["data"]["object"]["id"] == sub.as_str())
        .expect("the subscription's event")
        .clone();
    let mut delivery: Value = serde_json::from_str(&testkit::event_text("webhook-eventbridge.json")).unwrap();
    delivery["detail-type"] = event["type"].clone();
    delivery["detail"] = event;
    let (status, answer) = invoke_webhook(&env, &delivery).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["received"].as_bool(), answer["outcome"].as_str()),
        (Some(true), Some("duplicate")),
        "applied once already over HTTP: {answer}"
    );
    let mut forged = delivery.clone();
    forged["source"] = "my.app".into();
    let (status, answer) = invoke_webhook(&env, &forged).await;
    assert!(
        status != 200 || answer.get("errorMessage").is_some(),
        "a foreign source is refused: {status} {answer}"
    );
    let mut unknown = delivery;
    unknown["detail"]["id"] = "evt_never_made_by_stripe".into();
    let (status, answer) = invoke_webhook(&env, &unknown).await;
    assert_eq!(
        (status, answer["problem"].as_str()),
        (200, Some("/errors/unknown-event")),
        "{answer}"
    );
}

/// Issue 22's scenario through the running stack: an admin buys 3 seats and assigns 2; a third
/// member is refused the plan's feature until a seat is freed and assigned to them; a member
/// can neither buy nor assign; the authorizer decides per organization.
#[tokio::test]
async fn an_organization_buys_seats_and_each_members_access_follows_their_seat() {
    use reqwest::Method;
    let env = env();
    let org = "org_e2e_seats";
    let (admin, member) = ("org:admin", "org:member");
    let (status, created) = env
        .org_api(
            Method::POST,
            "/checkout",
            "e2e_boss",
            org,
            admin,
            Some(json!({"plan": "starter", "interval": "month", "quantity": 3})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    env.emulator(
        &format!("/_emulator/checkout/sessions/{id}/pay"),
        json!({"card": "4242424242424242"}),
    )
    .await;
    let billable = billing::domain::billable::org(org);
    eventually(Duration::from_secs(30), "the organization's subscription synced", async || {
        let items = env.store.user_items(&billable).await.ok()?;
        items
            .subscriptions
            .iter()
            .any(|s| s.quantity == 3 && s.status == "trialing")
            .then_some(())
    })
    .await;
    assert!(
        env.store.user_items("e2e_boss").await.unwrap().subscriptions.is_empty(),
        "not the admin's own"
    );

    for seat in ["e2e_m1", "e2e_m2"] {
        let (status, body) = env
            .org_api(Method::PUT, &format!("/org/seats/{seat}"), "e2e_boss", org, "admin", None)
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let feature = async |user: &str| {
        let (status, body) = env.org_api(Method::GET, "/entitlements/exports", user, org, member, None).await;
        assert_eq!(status, 200, "{body}");
        body
    };
    assert_eq!(feature("e2e_m1").await["allowed"], true);
    assert_eq!(feature("e2e_m3").await["reason"], "no_seat");

    // A member can neither buy nor assign.
    let (status, body) = env.org_api(Method::PUT, "/org/seats/e2e_m3", "e2e_m3", org, member, None).await;
    assert_eq!((status, body["type"].clone()), (403, json!("/errors/org-admin-required")));
    let (status, _) = env
        .org_api(
            Method::POST,
            "/checkout",
            "e2e_m3",
            org,
            member,
            Some(json!({"plan": "pro", "interval": "month"})),
        )
        .await;
    assert_eq!(status, 403);

    // The third seat, then a fourth refused until one is freed.
    assert_eq!(
        env.org_api(Method::PUT, "/org/seats/e2e_m4", "e2e_boss", org, admin, None).await.0,
        200
    );
    let (status, body) = env.org_api(Method::PUT, "/org/seats/e2e_m3", "e2e_boss", org, admin, None).await;
    assert_eq!((status, body["type"].clone()), (409, json!("/errors/no-seat-available")));
    assert_eq!(
        env.org_api(Method::DELETE, "/org/seats/e2e_m4", "e2e_boss", org, admin, None)
            .await
            .0,
        204
    );
    assert_eq!(
        env.org_api(Method::PUT, "/org/seats/e2e_m3", "e2e_boss", org, admin, None).await.0,
        200
    );
    assert_eq!(feature("e2e_m3").await["allowed"], true);
    assert_eq!(feature("e2e_m4").await["reason"], "no_seat");
    let (_, listed) = env.org_api(Method::GET, "/org/seats", "e2e_m1", org, member, None).await;
    assert_eq!(
        (listed["quantity"].clone(), listed["available"].clone()),
        (json!(3), json!(0)),
        "{listed}"
    );

    // The authorizer decides per organization: the same member, in and out of it.
    let mut event: Value = serde_json::from_str(&testkit::event_text("authorizer-gated.json")).unwrap();
    let config = testkit::config("unused", "http://127.0.0.1:9", None);
    event["routeKey"] = "GET /reports".into();
    for (token, allowed) in [
        (testkit::org_token(&config, "e2e_m3", org, member), true),
        (testkit::token(&config, "e2e_m3", None), false),
    ] {
        event["headers"]["authorization"] = format!("Bearer {token}").into();
        event["identitySource"] = json!([event["headers"]["authorization"].clone(), "GET /reports"]);
        let answer = env.invoke("authorizer", event.clone()).await;
        assert_eq!(answer["isAuthorized"], allowed, "{answer}");
        assert_eq!(answer["context"]["org"], if allowed { org } else { "" });
    }
}
