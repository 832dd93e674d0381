//! Organizations against the Stripe emulator and moto: an admin buys seats, assigns them, and a
//! member's access follows their seat; members cannot buy or assign; personal and organization
//! billing never mix; two admins racing for the last seat; one DynamoDB request per decision.

use std::sync::atomic::Ordering;

use billing::domain::billable;
use billing::testkit;
use serde_json::{Value, json};

use crate::entitlements::counting_proxy;
use crate::helpers::{Stack, body};

const ORG: &str = "org_acme";
const ADMIN: &str = "admin_1";

/// `event` acting as `user`: for `ORG` with `role` when given, else for themselves.
fn acting(event: &str, user: &str, role: Option<&str>, edit: impl FnOnce(&mut Value)) -> lambda_http::Request {
    testkit::event_with(event, |e| {
        let claims = &mut e["requestContext"]["authorizer"]["jwt"]["claims"];
        claims["sub"] = user.into();
        if let Some(role) = role {
            claims["org_id"] = ORG.into();
            claims["org_role"] = role.into();
            claims["org_name"] = "Acme Inc".into();
        }
        edit(e);
    })
}

fn at_path(path: &str, method: &str) -> impl FnOnce(&mut Value) {
    let (path, method) = (path.to_owned(), method.to_owned());
    move |e| {
        if let Some(member) = path.strip_prefix("/org/seats/") {
            e["pathParameters"] = json!({"user_id": member});
        }
        e["rawPath"] = path.clone().into();
        e["requestContext"]["http"]["path"] = path.into();
        e["requestContext"]["http"]["method"] = method.into();
    }
}

async fn seats(stack: &Stack, req: lambda_http::Request) -> (u16, Value) {
    let response = seats::handler::handle(&stack.state, req).await.unwrap();
    (response.status().as_u16(), body(&response))
}

async fn assign(stack: &Stack, by: &str, role: &str, member: &str) -> (u16, Value) {
    let path = format!("/org/seats/{member}");
    seats(stack, acting("seats-assign.json", by, Some(role), at_path(&path, "PUT"))).await
}

async fn release(stack: &Stack, member: &str) -> u16 {
    let path = format!("/org/seats/{member}");
    seats(
        stack,
        acting("seats-release.json", ADMIN, Some("org:admin"), at_path(&path, "DELETE")),
    )
    .await
    .0
}

/// `GET /entitlements/{feature}` for `user`, in the organization's context or their own.
async fn check(stack: &Stack, user: &str, role: Option<&str>, feature: &str) -> Value {
    let path = format!("/entitlements/{feature}");
    let req = acting("entitlements-feature.json", user, role, at_path(&path, "GET"));
    let response = entitlements::handler::handle(&stack.state, req).await.unwrap();
    assert_eq!(response.status(), 200);
    body(&response)
}

async fn subscriptions(stack: &Stack, user: &str, role: Option<&str>) -> Value {
    let response = subscription::handler::handle(&stack.state, acting("subscription-get.json", user, role, |_| {}))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    body(&response)["subscriptions"].clone()
}

/// The admin buys `quantity` seats of the starter plan for the organization (paid, synced).
async fn buy_seats(stack: &Stack, quantity: u64) -> String {
    let order = json!({"plan": "starter", "interval": "month", "quantity": quantity});
    let req = acting("checkout-create.json", ADMIN, Some("org:admin"), |e| {
        e["body"] = order.to_string().into()
    });
    let (status, created) = crate::checkout::create(stack, req).await;
    assert_eq!(status, 201, "{created}");
    let session = created["id"].as_str().unwrap().to_owned();
    crate::checkout::pay(stack, &session, "4242424242424242").await;
    let path = format!("/checkout/{session}");
    let sync = acting("checkout-get.json", ADMIN, Some("org:admin"), |e| {
        at_path(&path, "GET")(e);
        e["pathParameters"]["session_id"] = session.clone().into();
    });
    let response = checkout::handler::handle(&stack.state, sync).await.unwrap();
    assert_eq!(response.status(), 200, "{}", body(&response));
    session
}

#[tokio::test]
async fn an_admin_buys_three_seats_and_access_follows_the_seats() {
    let stack = Stack::new("org-seats", vec![]).await;
    buy_seats(&stack, 3).await;

    // The organization owns it: its customer carries `org_id`, its subscription lives under it.
    let org_items = stack.state.store.user_items(&billable::org(ORG)).await.unwrap();
    let customer = org_items.customer.clone().expect("the organization's customer").customer_id;
    assert_eq!(org_items.subscriptions.len(), 1);
    assert_eq!(org_items.subscriptions[0].quantity, 3);
    {
        let world = stack.emulator.shared.world.lock().await;
        let stored = world.customers[&customer].render();
        assert_eq!(
            stored["metadata"],
            json!({"org_id": ORG}),
            "owned by the organization, not the admin"
        );
        assert_eq!(stored["name"], "Acme Inc");
    }
    let admin_items = stack.state.store.user_items(ADMIN).await.unwrap();
    assert!(admin_items.customer.is_none() && admin_items.subscriptions.is_empty());

    // Two members get seats.
    for member in ["m1", "m2"] {
        let (status, seat) = assign(&stack, ADMIN, "org:admin", member).await;
        assert_eq!(
            (status, seat["user_id"].as_str(), seat["active"].as_bool()),
            (200, Some(member), Some(true))
        );
    }
    let (status, encoded) = assign(&stack, ADMIN, "org:admin", "auth0%7C9").await;
    assert_eq!(
        (status, encoded["user_id"].as_str()),
        (200, Some("auth0|9")),
        "a local run hands the id encoded"
    );
    assert_eq!(release(&stack, "auth0%7C9").await, 204);
    let (status, again) = assign(&stack, ADMIN, "admin", "m1").await;
    assert_eq!((status, again["slot"].as_u64()), (200, Some(1)), "idempotent: the seat held");
    let (status, listed) = seats(&stack, acting("seats-list.json", "m3", Some("org:member"), |_| {})).await;
    assert_eq!(status, 200, "a member may read the seats");
    assert_eq!((listed["quantity"].as_u64(), listed["available"].as_u64()), (Some(3), Some(1)));
    let holders: Vec<&str> = listed["assigned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(holders, ["m1", "m2"]);
    assert!(listed["assigned"][0]["assigned_at"].is_i64());

    // A third member: refused the plan's feature, not the free plan's.
    let refused = check(&stack, "m3", Some("org:member"), "exports").await;
    assert_eq!(
        (refused["allowed"].as_bool(), refused["reason"].as_str()),
        (Some(false), Some("no_seat"))
    );
    assert_eq!(check(&stack, "m3", Some("org:member"), "projects").await["allowed"], true);
    assert_eq!(check(&stack, "m1", Some("org:member"), "exports").await["allowed"], true);

    // A member can neither assign nor buy nor manage.
    let (status, problem) = assign(&stack, "m3", "org:member", "m3").await;
    assert_eq!((status, problem["type"].as_str()), (403, Some("/errors/org-admin-required")));
    let buy = acting("checkout-create.json", "m3", Some("org:member"), |_| {});
    let (status, problem) = crate::checkout::create(&stack, buy).await;
    assert_eq!((status, problem["type"].as_str()), (403, Some("/errors/org-admin-required")));
    let cancel = acting("subscription-cancel.json", "m3", Some("org:member"), |_| {});
    let response = subscription::handler::handle(&stack.state, cancel).await.unwrap();
    assert_eq!(response.status(), 403);
    let portal = acting("portal-create.json", "m3", Some("org:member"), |_| {});
    assert_eq!(portal::handler::handle(&stack.state, portal).await.unwrap().status(), 403);
    assert_eq!(
        subscriptions(&stack, "m3", Some("org:member")).await.as_array().unwrap().len(),
        1,
        "members read"
    );

    // The last seat goes to m3; a fourth is refused until one is freed.
    assert_eq!(assign(&stack, ADMIN, "org:admin", "m3").await.0, 200);
    let (status, problem) = assign(&stack, ADMIN, "org:admin", "m4").await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("/errors/no-seat-available")));
    assert_eq!(check(&stack, "m3", Some("org:member"), "exports").await["allowed"], true);
    assert_eq!(release(&stack, "m1").await, 204);
    assert_eq!(release(&stack, "m1").await, 204, "idempotent");
    assert_eq!(check(&stack, "m1", Some("org:member"), "exports").await["reason"], "no_seat");
    assert_eq!(assign(&stack, ADMIN, "org:admin", "m4").await.0, 200);

    // Lowering the quantity below the seats held is refused.
    let lower = acting("subscription-change.json", ADMIN, Some("org:admin"), |e| {
        e["body"] = json!({"quantity": 2}).to_string().into();
    });
    let response = subscription::handler::handle(&stack.state, lower).await.unwrap();
    assert_eq!(
        (response.status().as_u16(), body(&response)["type"].clone()),
        (409, json!("/errors/seats-assigned"))
    );
}

#[tokio::test]
async fn personal_and_organization_billing_never_mix() {
    let stack = Stack::new("org-mix", vec![]).await;
    buy_seats(&stack, 2).await;
    assert_eq!(assign(&stack, ADMIN, "org:admin", "m1").await.0, 200);
    // m1 pays for pro personally (the event's default user is user_123: act as m1).
    let order = json!({"plan": "pro", "interval": "month"});
    let (status, created) = crate::checkout::create(
        &stack,
        acting("checkout-create.json", "m1", None, |e| e["body"] = order.to_string().into()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let session = created["id"].as_str().unwrap().to_owned();
    crate::checkout::pay(&stack, &session, "4242424242424242").await;
    let path = format!("/checkout/{session}");
    let sync = acting("checkout-get.json", "m1", None, |e| {
        at_path(&path, "GET")(e);
        e["pathParameters"]["session_id"] = session.clone().into();
    });
    assert_eq!(checkout::handler::handle(&stack.state, sync).await.unwrap().status(), 200);

    let personal = subscriptions(&stack, "m1", None).await;
    let in_org = subscriptions(&stack, "m1", Some("org:member")).await;
    assert_eq!(personal.as_array().unwrap().len(), 1);
    assert_eq!(in_org.as_array().unwrap().len(), 1);
    assert_ne!(personal[0]["id"], in_org[0]["id"], "each context lists its own subscription only");
    assert_eq!(personal[0]["plan"], "pro");
    assert_eq!(in_org[0]["plan"], "starter");
    // The admin's own context has nothing: the organization's seats are not theirs.
    assert_eq!(subscriptions(&stack, ADMIN, None).await, json!([]));
    assert_eq!(check(&stack, ADMIN, None, "exports").await["allowed"], false);
    // A member of another organization sees none of this one's.
    let other = testkit::event_with("subscription-get.json", |e| {
        let claims = &mut e["requestContext"]["authorizer"]["jwt"]["claims"];
        claims["sub"] = "m1".into();
        claims["org_id"] = "org_other".into();
        claims["org_role"] = "org:admin".into();
    });
    let response = subscription::handler::handle(&stack.state, other).await.unwrap();
    assert_eq!(body(&response)["subscriptions"], json!([]));
    // In the organization, m1 has the union: the seat's plan and their own pro features.
    let in_org = check(&stack, "m1", Some("org:member"), "priority_support").await;
    assert_eq!(in_org["allowed"], true, "personal access stays in the organization's context");
    // A token whose `sub` names the organization is refused outright.
    let forged = acting(
        "entitlements-feature.json",
        "org:org_acme",
        None,
        at_path("/entitlements/exports", "GET"),
    );
    assert_eq!(entitlements::handler::handle(&stack.state, forged).await.unwrap().status(), 401);
}

#[tokio::test]
async fn two_admins_racing_for_the_last_seat_one_wins() {
    let stack = Stack::new("org-race", vec![]).await;
    buy_seats(&stack, 2).await;
    assert_eq!(assign(&stack, ADMIN, "org:admin", "m0").await.0, 200);
    for round in 0..3 {
        let (first, second) = (format!("a{round}"), format!("b{round}"));
        let (a, b) = tokio::join!(
            assign(&stack, ADMIN, "org:admin", &first),
            assign(&stack, "admin_2", "org:admin", &second)
        );
        let mut statuses = [a.0, b.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}: exactly one wins ({a:?}, {b:?})");
        let (_, listed) = seats(&stack, acting("seats-list.json", ADMIN, Some("org:admin"), |_| {})).await;
        assert_eq!(
            (listed["assigned"].as_array().unwrap().len(), listed["available"].as_u64()),
            (2, Some(0))
        );
        let winner = if a.0 == 200 { format!("a{round}") } else { format!("b{round}") };
        assert_eq!(release(&stack, &winner).await, 204);
    }
}

#[tokio::test]
async fn a_seated_members_decision_is_one_dynamodb_request() {
    let stack = Stack::new("org-one", vec![]).await;
    buy_seats(&stack, 2).await;
    assert_eq!(assign(&stack, ADMIN, "org:admin", "m1").await.0, 200);
    let proxy = counting_proxy().await;
    let mut config = stack.state.config.clone();
    config.dynamodb_endpoint = Some(proxy.url.parse().unwrap());
    let state = testkit::state(config, entitlements::NEEDS).unwrap();
    let req = acting(
        "entitlements-feature.json",
        "m1",
        Some("org:member"),
        at_path("/entitlements/exports", "GET"),
    );
    let decision = body(&entitlements::handler::handle(&state, req).await.unwrap());
    assert_eq!(decision["allowed"], true);
    assert_eq!(proxy.count.load(Ordering::SeqCst), 1);
    assert_eq!(proxy.targets.lock().unwrap().as_slice(), ["DynamoDB_20120810.ExecuteStatement"]);
}

#[tokio::test]
async fn per_seat_usage_is_pooled_under_the_organization() {
    let stack = Stack::new("org-usage", vec![]).await;
    buy_seats(&stack, 3).await;
    // Starter counts 1000 api_calls a period; recorded for the organization, they pool there.
    let usage = stack.state.usage();
    usage.record(&billable::org(ORG), "api_calls", 5, None).await.unwrap();
    usage.record(&billable::org(ORG), "api_calls", 7, None).await.unwrap();
    let org_items = stack.state.store.user_items(&billable::org(ORG)).await.unwrap();
    assert_eq!(org_items.usage.iter().map(|c| c.used).sum::<u64>(), 12);
    let response = usage::handler::handle(&stack.state, acting("usage-get.json", "m9", Some("org:member"), |_| {}))
        .await
        .unwrap();
    let summary = body(&response);
    assert_eq!(response.status(), 200, "{summary}");
    assert!(
        summary.to_string().contains("\"used\":12"),
        "a member reads the pooled count: {summary}"
    );
    assert!(stack.state.store.user_items("m9").await.unwrap().usage.is_empty());
}

/// A plan whose quota is per seat: raising the seats for a moment to use a larger quota, then
/// lowering them now for a credit, is refused; at the period end it is accepted.
#[tokio::test]
async fn fewer_seats_on_a_per_seat_plan_wait_for_the_period_end() {
    const CATALOG: &str = r#"{"plans": [
        {"id": "free", "name": "Free", "free": true, "features": ["projects"]},
        {"id": "team", "name": "Team", "max_quantity": 50,
         "prices": {"month": {"lookup_key": "team_month", "amount": 1000, "currency": "usd"}},
         "features": ["projects", "reports"], "usage": {"api_calls": {"limit": 100, "per_seat": true}}},
        {"id": "basic", "name": "Basic", "max_quantity": 50,
         "prices": {"month": {"lookup_key": "basic_month", "amount": 900, "currency": "usd"}},
         "features": ["projects"]}
    ]}"#;
    let stack = Stack::shared_clock("org-perseat", Some(CATALOG), |_| {}).await;
    let order = json!({"plan": "team", "interval": "month", "quantity": 10});
    let req = acting("checkout-create.json", ADMIN, Some("org:admin"), |e| {
        e["body"] = order.to_string().into()
    });
    let (status, created) = crate::checkout::create(&stack, req).await;
    assert_eq!(status, 201, "{created}");
    let session = created["id"].as_str().unwrap().to_owned();
    crate::checkout::pay(&stack, &session, "4242424242424242").await;
    let path = format!("/checkout/{session}");
    let sync = acting("checkout-get.json", ADMIN, Some("org:admin"), |e| {
        at_path(&path, "GET")(e);
        e["pathParameters"]["session_id"] = session.clone().into();
    });
    assert_eq!(checkout::handler::handle(&stack.state, sync).await.unwrap().status(), 200);
    let access = stack.state.gate().access(&billable::org(ORG)).await.unwrap();
    assert_eq!(access.usage.get("api_calls").and_then(|a| a.limit), Some(1000), "100 per seat × 10");

    let lower = |when: Option<&str>| {
        let mut body = json!({"quantity": 2});
        if when == Some("switch") {
            body["plan"] = "basic".into();
            return acting("subscription-change.json", ADMIN, Some("org:admin"), move |e| {
                e["body"] = body.to_string().into()
            });
        }
        if let Some(when) = when {
            body["when"] = when.into();
        }
        acting("subscription-change.json", ADMIN, Some("org:admin"), move |e| {
            e["body"] = body.to_string().into()
        })
    };
    let response = subscription::handler::handle(&stack.state, lower(None)).await.unwrap();
    let problem = body(&response);
    assert_eq!(
        (response.status().as_u16(), problem["type"].as_str()),
        (409, Some("/errors/change-at-period-end")),
        "{problem}"
    );
    let response = subscription::handler::handle(&stack.state, lower(Some("switch"))).await.unwrap();
    assert_eq!(
        response.status(),
        409,
        "nor by switching to a plan without per-seat limits: {}",
        body(&response)
    );
    let response = subscription::handler::handle(&stack.state, lower(Some("period_end")))
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", body(&response));
}
