//! What a Checkout Session asks Stripe for: the request, its idempotency key, and the
//! duplicate-subscription guard. No I/O.

use billing::Identity;
use billing::adapters::stripe::{CheckoutMode, NewCheckoutSession, Payer, idempotency_key};
use billing::config::{CheckoutConfig, DuplicatePolicy};
use billing::domain::plans::{Plan, PlanMode};
use billing::domain::records::{SubscriptionRecord, UserItems};

use crate::input::CheckoutInput;

/// The live subscription that stops a new Checkout under `policy`, if any.
pub fn blocking_subscription<'a>(policy: DuplicatePolicy, items: &'a UserItems, plan: &Plan) -> Option<&'a SubscriptionRecord> {
    if plan.mode != PlanMode::Subscription {
        return None;
    }
    let mut live = items.live_subscriptions();
    match policy {
        DuplicatePolicy::Allow => None,
        DuplicatePolicy::Any => live.next(),
        DuplicatePolicy::SamePlan => live.find(|s| s.plan.as_deref() == Some(plan.id.as_str())),
    }
}

/// The session to create for `identity`. Sets `client_reference_id` and `metadata` (`user_id`,
/// `plan`, `interval`) on the session and the subscription; trial days for users who never had
/// a subscription.
pub fn new_session(
    config: &CheckoutConfig,
    identity: &Identity,
    input: &CheckoutInput<'_>,
    items: &UserItems,
    price: String,
) -> NewCheckoutSession {
    let metadata = vec![
        ("user_id".to_owned(), identity.user_id.clone()),
        ("plan".to_owned(), input.plan.id.clone()),
        ("interval".to_owned(), input.interval.as_str().to_owned()),
    ];
    let payer = match (&items.customer, &identity.email) {
        (Some(customer), _) => Payer::Customer(customer.customer_id.clone()),
        (None, Some(email)) => Payer::Email(email.clone()),
        (None, None) => Payer::Anonymous,
    };
    let (mode, trial_days) = match input.plan.mode {
        // A trial is for first-time subscribers only.
        PlanMode::Subscription => (
            CheckoutMode::Subscription,
            (input.plan.trial_days > 0 && items.subscriptions.is_empty()).then_some(input.plan.trial_days),
        ),
        PlanMode::OneTime => (CheckoutMode::Payment, None),
    };
    NewCheckoutSession {
        mode,
        price,
        quantity: input.quantity,
        payer,
        success_url: input.success_url.clone(),
        cancel_url: input.cancel_url.clone(),
        metadata,
        client_reference_id: (identity.user_id.len() <= 200).then(|| identity.user_id.clone()),
        trial_days,
        allow_promotion_codes: config.allow_promotion_codes,
    }
}

/// The idempotency key of a session: the same request (user, plan, interval, quantity, URLs,
/// customer, email and the client's `Idempotency-Key`) gets the same session.
pub fn key(identity: &Identity, input: &CheckoutInput<'_>, new: &NewCheckoutSession, client_key: Option<&str>) -> String {
    let quantity = input.quantity.to_string();
    let customer = match &new.payer {
        Payer::Customer(customer) => customer.as_str(),
        _ => "",
    };
    idempotency_key(
        "checkout",
        &[
            &identity.user_id,
            &input.plan.id,
            input.interval.as_str(),
            &quantity,
            &input.success_url,
            &input.cancel_url,
            customer,
            identity.email.as_deref().unwrap_or_default(),
            client_key.unwrap_or_default(),
        ],
    )
}
