//! Applying verified Stripe events to the store: exactly once and order-safe.
//!
//! **Exactly once.** Every applied event commits ONE DynamoDB transaction holding the dedupe
//! marker `EVENT#<id>` (condition: absent), the audit row and the state change. Either all of
//! it lands or none: a crash at any point leaves nothing marked done that is not done, and
//! Stripe's retry completes the work. A second delivery fails the marker's condition and is
//! answered 200 as a duplicate.
//!
//! **Order-safe.** Stored subscription and entitlement items carry a `version`; a write only
//! lands when its version is higher (condition in the same transaction). The version is the
//! event's `created` second shifted left by 20 bits; the low bits count writes of fetched state
//! within that second. An event from an older second than the stored state is stale. Two writes
//! of the same second cannot be ordered from payloads: on such a tie the current object is
//! fetched from Stripe and written one version above the stored one, so the truth wins. Invoice
//! events carry no subscription state: they fetch the subscription the same way, versioned at
//! the later of the event's second and now.
//!
//! **Store round trips** on the common path: one read (BatchGetItem of the customer mapping and
//! the stored subscription, or GetItem of the mapping) and one TransactWriteItems.

use aws_sdk_dynamodb::types::AttributeValue;
use billing::AppState;
use billing::gateway::{GatewayError, with_retries};
use billing::store::{
    AuditRecord, Condition, CustomerOwner, EntitlementsRecord, EventRecord, StoreError, SubscriptionRecord, TransactOutcome, keys,
};
use billing::sync::{SubscriptionSnapshot, above, fetched_version, parse_subscription, payload_version, purchase_record};
use billing::webhook::envelope::Envelope;
use serde_json::Value;
use stripe_client_core::StripeRequest;

use crate::handler::WebhookError;

/// What happened to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The state change committed.
    Applied,
    /// This event was processed before.
    Duplicate,
    /// Newer state is stored; only the marker and audit row were written.
    Stale,
    /// A type this function does not handle, or an object that is not ours.
    Ignored,
    /// No user could be found for an old event; marked done without a change.
    Unmatched,
    /// The event would link a customer already linked to another user; marked, not applied.
    Conflict,
}

/// Event types that carry a subscription object.
pub const SUBSCRIPTION_EVENTS: &[&str] = &[
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.trial_will_end",
    "customer.subscription.pending_update_applied",
    "customer.subscription.pending_update_expired",
];

/// Events this young whose user cannot be resolved yet get a 500: Stripe retries for up to three
/// days, and the mapping may still be on its way (shuffled deliveries, or a backlog after an
/// outage). Older ones are marked `unmatched`.
const RESOLVE_GRACE_SECS: i64 = 3 * 86_400;

pub async fn process(state: &AppState, event: &Envelope) -> Result<Outcome, WebhookError> {
    match event.event_type.as_str() {
        t if SUBSCRIPTION_EVENTS.contains(&t) => match parse_subscription(&event.object) {
            Some(snapshot) => apply_subscription(state, event, snapshot, false).await,
            // A shape this version cannot read (another API version): the current object is.
            None => {
                let id = event
                    .object_id()
                    .filter(|id| id.starts_with("sub_"))
                    .ok_or_else(|| shape(event, "subscription"))?
                    .to_owned();
                match fetch_subscription(state, event, &id).await? {
                    Some(snapshot) => apply_subscription(state, event, snapshot, true).await,
                    None => Ok(Outcome::Ignored),
                }
            }
        },
        "invoice.paid" | "invoice.payment_failed" | "invoice.payment_action_required" => invoice_event(state, event).await,
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => checkout_completed(state, event).await,
        "entitlements.active_entitlement_summary.updated" => entitlements_event(state, event).await,
        "customer.deleted" => customer_deleted(state, event).await,
        other => {
            tracing::info!(event = %event.id, event_type = other, "event type not handled; ignored");
            Ok(Outcome::Ignored)
        }
    }
}

fn shape(event: &Envelope, what: &'static str) -> WebhookError {
    WebhookError::Shape {
        event_type: event.event_type.clone(),
        what,
    }
}

fn id_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        Value::Object(map) => map.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

fn describe(record: Option<&SubscriptionRecord>) -> String {
    match record {
        None => "none".into(),
        Some(r) => format!(
            "status={} plan={} qty={} period_end={} cancel_at_period_end={}",
            r.status,
            r.plan.as_deref().unwrap_or("?"),
            r.quantity,
            r.current_period_end.map_or("-".into(), |t| t.to_string()),
            r.cancel_at_period_end
        ),
    }
}

enum Committed {
    Yes,
    Duplicate,
    /// A state write's condition failed (newer state stored, or a link conflict).
    Refused,
}

/// One transaction: marker (absent) + audit row (when the user is known) + `writes`.
/// Retries on transaction conflicts with concurrent deliveries.
async fn commit(
    state: &AppState,
    event: &Envelope,
    user: Option<&str>,
    outcome: Outcome,
    audit: (String, String),
    writes: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
) -> Result<Committed, WebhookError> {
    let now = billing::now_epoch();
    let store = &state.store;
    let outcome_name = outcome.as_str();
    let mut attempt = 0;
    loop {
        let mut items = vec![store.tx_put(
            &EventRecord::new(&event.id, &event.event_type, outcome_name, event.created, now),
            Condition::Absent,
        )?];
        if let Some(user) = user {
            let row = AuditRecord::new(user, &event.id, &event.event_type, event.created, outcome_name, audit.clone(), now);
            items.push(store.tx_put(&row, Condition::None)?);
        }
        let first_write = items.len();
        items.extend(writes.iter().cloned());
        match store.transact(items).await {
            Ok(TransactOutcome::Committed) => return Ok(Committed::Yes),
            Ok(TransactOutcome::ConditionFailed { failed }) if failed.contains(&0) => return Ok(Committed::Duplicate),
            Ok(TransactOutcome::ConditionFailed { failed }) => {
                debug_assert!(failed.iter().all(|i| *i >= first_write));
                return Ok(Committed::Refused);
            }
            Err(StoreError::Conflict) if attempt < 5 => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// Marks the event done without a state change.
async fn mark(
    state: &AppState,
    event: &Envelope,
    user: Option<&str>,
    outcome: Outcome,
    audit: (String, String),
) -> Result<Outcome, WebhookError> {
    match commit(state, event, user, outcome, audit, Vec::new()).await? {
        Committed::Duplicate => Ok(Outcome::Duplicate),
        _ => Ok(outcome),
    }
}

/// No user for `customer` (yet): 500 while the event is young, `unmatched` after.
async fn unresolved(state: &AppState, event: &Envelope, customer: &str) -> Result<Outcome, WebhookError> {
    if event.created > billing::now_epoch() - RESOLVE_GRACE_SECS {
        return Err(WebhookError::Unresolved {
            customer: customer.to_owned(),
        });
    }
    tracing::warn!(event = %event.id, %customer, "no user for this customer; marked unmatched");
    mark(state, event, None, Outcome::Unmatched, (String::new(), String::new())).await
}

/// The user a subscription belongs to, and the stored record, in one BatchGetItem when the
/// subscription's metadata names the user (it does for subscriptions made by this service).
async fn resolve_subscription(
    state: &AppState,
    snapshot: &SubscriptionSnapshot,
) -> Result<(Option<String>, Option<SubscriptionRecord>), WebhookError> {
    let owner_key = (keys::customer(&snapshot.customer_id), keys::SK_USER.to_owned());
    let record_key = |user: &str| (keys::user(user), keys::subscription(&snapshot.subscription_id));
    let decode_owner = |item| billing::store::Store::decode::<CustomerOwner>(item).map(|o| o.user_id);
    let (owner, guess) = match &snapshot.metadata_user_id {
        Some(user) => {
            let mut found = state.store.get_many(&[owner_key, record_key(user)]).await?.into_iter();
            let owner = found.next().flatten().map(decode_owner).transpose()?;
            let record = found
                .next()
                .flatten()
                .map(billing::store::Store::decode::<SubscriptionRecord>)
                .transpose()?;
            (owner, Some((user.clone(), record)))
        }
        None => (state.store.customer_owner(&snapshot.customer_id).await?, None),
    };
    match (owner, guess) {
        // The stored mapping is the authority; metadata agrees (common path): one read.
        (Some(owner), Some((user, record))) if owner == user => Ok((Some(user), record)),
        (None, Some((user, record))) => Ok((Some(user), record)),
        (Some(owner), _) => {
            let (pk, sk) = record_key(&owner);
            let record = state.store.get_as::<SubscriptionRecord>(&pk, &sk).await?;
            Ok((Some(owner), record))
        }
        (None, None) => Ok((None, None)),
    }
}

async fn fetch_subscription(
    state: &AppState,
    event: &Envelope,
    subscription_id: &str,
) -> Result<Option<SubscriptionSnapshot>, WebhookError> {
    let stripe = state.stripe.as_ref().ok_or(WebhookError::NoStripeClient)?;
    let fetched = with_retries("retrieve_subscription", "subscription", None, |strategy| {
        stripe_billing::subscription::RetrieveSubscription::new(subscription_id)
            .customize()
            .request_strategy(strategy)
            .send(stripe)
    })
    .await;
    let subscription = match fetched {
        Ok(subscription) => subscription,
        Err(GatewayError::NotFound { .. }) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    let value = serde_json::to_value(&subscription).map_err(|_| shape(event, "subscription (fetched)"))?;
    parse_subscription(&value)
        .map(Some)
        .ok_or_else(|| shape(event, "subscription (fetched)"))
}

/// Writes a subscription's state unless newer state is stored. `fetched`: the snapshot is the
/// current object from Stripe rather than the event's payload.
async fn apply_subscription(
    state: &AppState,
    event: &Envelope,
    mut snapshot: SubscriptionSnapshot,
    mut fetched: bool,
) -> Result<Outcome, WebhookError> {
    for _ in 0..3 {
        let (user, previous) = resolve_subscription(state, &snapshot).await?;
        let Some(user) = user else {
            return unresolved(state, event, &snapshot.customer_id).await;
        };
        let mut version = if fetched {
            fetched_version(event.created)
        } else {
            payload_version(event.created)
        };
        if let Some(prev) = previous.as_ref().filter(|p| p.version >= version) {
            let same_second = prev.version >> 20 == version >> 20;
            match above(prev.version).filter(|_| same_second) {
                Some(next) => {
                    // Same second as the stored state: the payloads cannot say which is newer.
                    match fetch_subscription(state, event, &snapshot.subscription_id).await? {
                        Some(current) => snapshot = current,
                        None => {
                            let audit = (describe(previous.as_ref()), "not found in stripe".into());
                            return mark(state, event, Some(&user), Outcome::Stale, audit).await;
                        }
                    }
                    fetched = true;
                    version = next;
                }
                None => {
                    let audit = (describe(previous.as_ref()), describe(previous.as_ref()));
                    return mark(state, event, Some(&user), Outcome::Stale, audit).await;
                }
            }
        }
        let record = snapshot.to_record(&user, &state.catalog, version, event.created, previous.as_ref());
        let audit = (describe(previous.as_ref()), describe(Some(&record)));
        let write = state.store.tx_put(&record, Condition::OlderVersion(version))?;
        match commit(state, event, Some(&user), Outcome::Applied, audit, vec![write]).await? {
            Committed::Yes => return Ok(Outcome::Applied),
            Committed::Duplicate => return Ok(Outcome::Duplicate),
            // A concurrent writer stored a version >= ours after our read: decide again.
            Committed::Refused => continue,
        }
    }
    mark(state, event, None, Outcome::Stale, (String::new(), String::new())).await
}

/// `invoice.*`: the invoice carries no subscription state, so the subscription is fetched.
async fn invoice_event(state: &AppState, event: &Envelope) -> Result<Outcome, WebhookError> {
    let object = &event.object;
    let subscription = id_of(object.pointer("/parent/subscription_details/subscription")).or_else(|| id_of(object.get("subscription")));
    let Some(subscription) = subscription else {
        return Ok(Outcome::Ignored);
    };
    match fetch_subscription(state, event, &subscription).await? {
        Some(snapshot) => apply_subscription(state, event, snapshot, true).await,
        None => Ok(Outcome::Ignored),
    }
}

/// `checkout.session.completed`: links the user and the customer (both directions) and stores
/// the session's subscription (fetched from Stripe: the session carries only its id), or, for a
/// paid one-time purchase, its never-ending record. One transaction.
async fn checkout_completed(state: &AppState, event: &Envelope) -> Result<Outcome, WebhookError> {
    let object = &event.object;
    // `metadata.user_id` is set by this service. `client_reference_id` is accepted only for
    // sessions not made from a Payment Link, where the buyer could choose it.
    let from_payment_link = object.get("payment_link").is_some_and(|v| !v.is_null());
    let user = object
        .pointer("/metadata/user_id")
        .and_then(Value::as_str)
        .or_else(|| {
            if from_payment_link {
                None
            } else {
                object.get("client_reference_id").and_then(Value::as_str)
            }
        })
        .filter(|u| !u.is_empty())
        .map(str::to_owned);
    let (Some(user), Some(customer)) = (user, id_of(object.get("customer"))) else {
        tracing::info!(event = %event.id, "checkout session without user or customer; ignored");
        return Ok(Outcome::Ignored);
    };
    let email = object.pointer("/customer_details/email").and_then(Value::as_str);
    let now = billing::now_epoch();
    let store = &state.store;
    let link = store.link_writes(&user, &customer, email, now)?;
    let mut state_write = None;
    let mut after = format!("customer={customer}");
    if let Some(subscription) = id_of(object.get("subscription")) {
        if let Some(snapshot) = fetch_subscription(state, event, &subscription).await? {
            let previous = store
                .get_as::<SubscriptionRecord>(&keys::user(&user), &keys::subscription(&subscription))
                .await?;
            let mut version = fetched_version(event.created);
            if let Some(prev) = previous.as_ref().filter(|p| p.version >= version) {
                version = above(prev.version).filter(|_| prev.version >> 20 == version >> 20).unwrap_or(0);
            }
            if version > 0 {
                let record = snapshot.to_record(&user, &state.catalog, version, event.created, previous.as_ref());
                after.push_str(&format!(" {}", describe(Some(&record))));
                state_write = Some(store.tx_put(&record, Condition::OlderVersion(version))?);
            }
        }
    } else if object.get("mode").and_then(Value::as_str) == Some("payment")
        && object.get("payment_status").and_then(Value::as_str) == Some("paid")
    {
        let plan = object.pointer("/metadata/plan").and_then(Value::as_str);
        let session_id = object.get("id").and_then(Value::as_str).unwrap_or_default();
        let version = payload_version(event.created);
        if let Some(record) = plan.and_then(|plan| purchase_record(&user, session_id, &customer, plan, &state.catalog, version)) {
            after.push_str(&format!(" purchase={}", record.plan.as_deref().unwrap_or("?")));
            state_write = Some(store.tx_put(&record, Condition::OlderVersion(version))?);
        }
    }
    let mut writes = link.clone();
    writes.extend(state_write.clone());
    match commit(state, event, Some(&user), Outcome::Applied, (String::new(), after.clone()), writes).await? {
        Committed::Yes => return Ok(Outcome::Applied),
        Committed::Duplicate => return Ok(Outcome::Duplicate),
        Committed::Refused if state_write.is_some() => {}
        Committed::Refused => return link_conflict(state, event, &user, &customer, after).await,
    }
    // Refused with a state write: newer state may be stored already; try the link alone.
    match commit(
        state,
        event,
        Some(&user),
        Outcome::Applied,
        (String::new(), format!("customer={customer}")),
        link,
    )
    .await?
    {
        Committed::Yes => Ok(Outcome::Applied),
        Committed::Duplicate => Ok(Outcome::Duplicate),
        Committed::Refused => link_conflict(state, event, &user, &customer, after).await,
    }
}

async fn link_conflict(state: &AppState, event: &Envelope, user: &str, customer: &str, after: String) -> Result<Outcome, WebhookError> {
    tracing::error!(event = %event.id, %user, %customer, "customer already linked to another user, or user to another customer");
    mark(state, event, Some(user), Outcome::Conflict, (String::new(), after)).await
}

/// `entitlements.active_entitlement_summary.updated`: the customer's feature lookup keys,
/// paging past the (at most 10) embedded ones through the Active Entitlements API.
async fn entitlements_event(state: &AppState, event: &Envelope) -> Result<Outcome, WebhookError> {
    let object = &event.object;
    let customer = id_of(object.get("customer")).ok_or_else(|| shape(event, "entitlement summary"))?;
    let Some(user) = state.store.customer_owner(&customer).await? else {
        return unresolved(state, event, &customer).await;
    };
    let embedded = object
        .pointer("/entitlements/data")
        .and_then(Value::as_array)
        .ok_or_else(|| shape(event, "entitlement summary"))?;
    let has_more = object.pointer("/entitlements/has_more").and_then(Value::as_bool).unwrap_or(false);
    let (mut features, mut version) = if has_more {
        (list_entitlements(state, &customer).await?, fetched_version(event.created))
    } else {
        let keys = embedded
            .iter()
            .map(|e| e.get("lookup_key").and_then(Value::as_str).map(str::to_owned))
            .collect::<Option<Vec<_>>>();
        (keys.ok_or_else(|| shape(event, "entitlement"))?, payload_version(event.created))
    };
    for _ in 0..3 {
        features.sort();
        features.dedup();
        let record = EntitlementsRecord {
            pk: keys::user(&user),
            sk: keys::SK_ENTITLEMENTS.into(),
            customer_id: customer.clone(),
            features: features.clone(),
            version,
            updated_at: billing::now_epoch(),
        };
        let write = state.store.tx_put(&record, Condition::OlderVersion(version))?;
        match commit(
            state,
            event,
            Some(&user),
            Outcome::Applied,
            (String::new(), features.join(",")),
            vec![write],
        )
        .await?
        {
            Committed::Yes => return Ok(Outcome::Applied),
            Committed::Duplicate => return Ok(Outcome::Duplicate),
            Committed::Refused => {
                let stored = state
                    .store
                    .get_as::<EntitlementsRecord>(&keys::user(&user), keys::SK_ENTITLEMENTS)
                    .await?;
                if let Some(next) = stored
                    .as_ref()
                    .filter(|s| s.version >> 20 == version >> 20)
                    .and_then(|s| above(s.version))
                {
                    // Same second: the payload cannot be ordered; the current list is the truth.
                    features = list_entitlements(state, &customer).await?;
                    version = next;
                    continue;
                }
                let before = stored.map(|s| s.features.join(",")).unwrap_or_default();
                return mark(state, event, Some(&user), Outcome::Stale, (before, features.join(","))).await;
            }
        }
    }
    mark(state, event, Some(&user), Outcome::Stale, (String::new(), String::new())).await
}

async fn list_entitlements(state: &AppState, customer: &str) -> Result<Vec<String>, WebhookError> {
    let stripe = state.stripe.as_ref().ok_or(WebhookError::NoStripeClient)?;
    let mut features = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..100 {
        let page = with_retries("list_active_entitlements", "customer", None, |strategy| {
            let mut request = stripe_misc::entitlements_active_entitlement::ListEntitlementsActiveEntitlement::new(customer).limit(100);
            if let Some(after) = &after {
                request = request.starting_after(after.as_str());
            }
            request.customize().request_strategy(strategy).send(stripe)
        })
        .await?;
        features.extend(page.data.iter().map(|e| e.lookup_key.clone()));
        match (page.has_more, page.data.last()) {
            (true, Some(last)) => after = Some(last.id.to_string()),
            _ => return Ok(features),
        }
    }
    Ok(features)
}

/// `customer.deleted`: removes the mapping in both directions (subscriptions end through their
/// own events).
async fn customer_deleted(state: &AppState, event: &Envelope) -> Result<Outcome, WebhookError> {
    let customer = event.object_id().ok_or_else(|| shape(event, "customer"))?.to_owned();
    let Some(user) = state.store.customer_owner(&customer).await? else {
        return Ok(Outcome::Ignored);
    };
    let store = &state.store;
    let writes = vec![
        store.tx_delete(
            &keys::customer(&customer),
            keys::SK_USER,
            Condition::Expr("user_id = :user", vec![(":user", AttributeValue::S(user.clone()))]),
        )?,
        store.tx_delete(
            &keys::user(&user),
            keys::SK_CUSTOMER,
            Condition::Expr("customer_id = :customer", vec![(":customer", AttributeValue::S(customer.clone()))]),
        )?,
    ];
    match commit(
        state,
        event,
        Some(&user),
        Outcome::Applied,
        (format!("customer={customer}"), "customer=none".into()),
        writes,
    )
    .await?
    {
        Committed::Yes => Ok(Outcome::Applied),
        Committed::Duplicate => Ok(Outcome::Duplicate),
        Committed::Refused => mark(state, event, Some(&user), Outcome::Stale, (String::new(), String::new())).await,
    }
}
