//! What a Checkout Session asks Stripe for: the request, its idempotency key, and the
//! duplicate-subscription guard. No I/O.
//!
//! The key covers [`CHECKOUT_KEY_WINDOW_SECS`]: a retried request inside it gets the same
//! session; later, a fresh one. (Stripe keeps an answer under a key for a day, a 500 included,
//! and replays a completed session as well as an open one.)

use crate::adapters::stripe::{CheckoutMode, CustomPrice, NewCheckoutSession, Payer, idempotency_key};
use crate::config::{CheckoutConfig, DuplicatePolicy};
use crate::domain::objects::SubscriptionSnapshot;
use crate::domain::plans::{Catalog, Plan, PlanMode};
use crate::domain::records::{UserItems, is_live_status};

use super::{Buyer, CheckoutInput, CustomInput};

/// How long one checkout key lasts.
pub const CHECKOUT_KEY_WINDOW_SECS: i64 = 15 * 60;

/// The plan of a live subscription that stops a new Checkout of `plan` under `policy`, if any:
/// from the table, or from Stripe's own list of the customer's subscriptions (the table is
/// eventually consistent and the webhook may not have arrived yet).
pub fn blocking_plan(
    policy: DuplicatePolicy,
    catalog: &Catalog,
    items: &UserItems,
    in_stripe: &[SubscriptionSnapshot],
    plan: &Plan,
) -> Option<String> {
    if plan.mode != PlanMode::Subscription || policy == DuplicatePolicy::Allow {
        return None;
    }
    // Custom amounts (donations) are no plans: they never block a plan's checkout.
    let stored = items
        .live_subscriptions()
        .filter(|s| !crate::domain::access::is_custom_amount(catalog, s))
        .map(|s| s.plan.clone());
    let stripe = in_stripe
        .iter()
        .filter(|s| is_live_status(&s.status) && s.metadata_custom_amount.is_none())
        .map(|s| {
            catalog
                .find_price(s.price_id.as_deref(), s.lookup_key.as_deref())
                .map(|(p, _)| p.id.clone())
        });
    let mut live = stored.chain(stripe);
    match policy {
        DuplicatePolicy::Allow => None,
        DuplicatePolicy::Any => live.next().map(|p| p.unwrap_or_else(|| plan.id.clone())),
        DuplicatePolicy::SamePlan => live.flatten().find(|p| *p == plan.id),
    }
}

/// The session to create for `identity`. Sets `client_reference_id` and `metadata` (`user_id`,
/// `plan`, `interval`) on the session and the subscription; trial days for users who never had
/// a subscription.
pub fn new_session(
    config: &CheckoutConfig,
    identity: &Buyer,
    input: &CheckoutInput<'_>,
    customer: &str,
    first_time: bool,
    price: String,
    metered_prices: Vec<String>,
) -> NewCheckoutSession {
    let metadata = vec![
        crate::domain::billable::metadata_pair(&identity.user_id),
        ("plan".to_owned(), input.plan.id.clone()),
        ("interval".to_owned(), input.interval.as_str().to_owned()),
    ];
    let (mode, trial_days) = match input.plan.mode {
        // A trial is for first-time subscribers only.
        PlanMode::Subscription => (
            CheckoutMode::Subscription,
            (input.plan.trial_days > 0 && first_time).then_some(input.plan.trial_days),
        ),
        PlanMode::OneTime => (CheckoutMode::Payment, None),
    };
    NewCheckoutSession {
        mode,
        price,
        quantity: input.quantity,
        payer: Payer::Customer(customer.to_owned()),
        success_url: input.success_url.clone(),
        cancel_url: input.cancel_url.clone(),
        metadata,
        client_reference_id: (identity.user_id.len() <= 200).then(|| identity.user_id.clone()),
        trial_days,
        trial_without_card: (trial_days.is_some() && input.plan.trial_card == crate::domain::plans::TrialCard::IfRequired)
            .then_some(config.trial_end_without_card),
        allow_promotion_codes: config.allow_promotion_codes,
        metered_prices,
        custom: None,
        currency: input.currency.clone(),
        collection: config.collection,
    }
}

/// The session for a custom amount: `price_data` on the entry's product (`metadata.custom_amount`),
/// in payment mode for `one_time`, else a subscription at the chosen interval. The session and
/// the subscription carry `user_id` and the entry (`plan`) in their metadata; no trial.
pub fn new_custom_session(config: &CheckoutConfig, identity: &Buyer, input: &CustomInput<'_>, customer: &str) -> NewCheckoutSession {
    let metadata = vec![
        crate::domain::billable::metadata_pair(&identity.user_id),
        // Not `plan`: a custom amount pays for no plan (and a one-time payment writes no purchase).
        ("custom_amount".to_owned(), input.entry.id.clone()),
        ("interval".to_owned(), input.interval.as_str().to_owned()),
        ("amount".to_owned(), input.amount.to_string()),
        ("currency".to_owned(), input.currency.clone()),
    ];
    let mode = match input.interval.recurring() {
        Some(_) => CheckoutMode::Subscription,
        None => CheckoutMode::Payment,
    };
    NewCheckoutSession {
        mode,
        price: String::new(),
        quantity: 1,
        payer: Payer::Customer(customer.to_owned()),
        success_url: input.success_url.clone(),
        cancel_url: input.cancel_url.clone(),
        metadata,
        client_reference_id: (identity.user_id.len() <= 200).then(|| identity.user_id.clone()),
        trial_days: None,
        trial_without_card: None,
        // A promotion code would take the amount below the entry's minimum.
        allow_promotion_codes: false,
        metered_prices: Vec::new(),
        custom: Some(CustomPrice {
            currency: input.currency.clone(),
            amount: input.amount,
            interval: input.interval.recurring(),
            product_name: input.entry.name.clone(),
            product_description: input.entry.description.clone(),
            entry: input.entry.id.clone(),
        }),
        currency: None,
        collection: config.collection,
    }
}

/// The idempotency key of a custom-amount session (as [`key`]: everything the session depends
/// on, within one window).
pub fn custom_key(identity: &Buyer, input: &CustomInput<'_>, new: &NewCheckoutSession, client_key: Option<&str>, now: i64) -> String {
    let window = (now / CHECKOUT_KEY_WINDOW_SECS).to_string();
    let amount = input.amount.to_string();
    let customer = payer_part(new);
    idempotency_key(
        "checkout-custom",
        &[
            &identity.user_id,
            &input.entry.id,
            &amount,
            &input.currency,
            input.interval.as_str(),
            &input.success_url,
            &input.cancel_url,
            customer,
            &collection_part(new),
            if new.allow_promotion_codes { "promo" } else { "" },
            client_key.unwrap_or_default(),
            &window,
        ],
    )
}

/// Who pays, as part of a key.
fn payer_part(new: &NewCheckoutSession) -> &str {
    match &new.payer {
        Payer::Customer(id) => id.as_str(),
        Payer::Email(email) => email.as_str(),
        Payer::Anonymous => "",
    }
}

/// The collection settings as part of a key (they change the session).
fn collection_part(new: &NewCheckoutSession) -> String {
    let c = &new.collection;
    format!("{}:{}:{}", c.billing_address.map_or("", |a| a.as_str()), c.automatic_tax, c.tax_id)
}

/// The idempotency key of a session: the same request (user, plan, interval, quantity, URLs,
/// customer, price, trial and the client's `Idempotency-Key`) within one window of
/// [`CHECKOUT_KEY_WINDOW_SECS`] gets the same session. Everything the session's parameters
/// depend on is in the key: a key reused with other parameters is a 400 from Stripe.
pub fn key(identity: &Buyer, input: &CheckoutInput<'_>, new: &NewCheckoutSession, client_key: Option<&str>, now: i64) -> String {
    let quantity = input.quantity.to_string();
    let window = (now / CHECKOUT_KEY_WINDOW_SECS).to_string();
    let trial = new.trial_days.unwrap_or_default().to_string();
    let customer = payer_part(new);
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
            &new.price,
            &new.metered_prices.join(","),
            new.currency.as_deref().unwrap_or_default(),
            &collection_part(new),
            &trial,
            if new.allow_promotion_codes { "promo" } else { "" },
            client_key.unwrap_or_default(),
            &window,
        ],
    )
}

/// The key for a second attempt when the first answered a session that is no longer open (a
/// replay of one completed or expired inside the window).
pub fn fresh_key(key: &str, stale_session: &str) -> String {
    idempotency_key("checkout-fresh", &[key, stale_session])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CheckoutConfig;
    use crate::domain::plans::{Catalog, Interval};

    #[test]
    fn a_key_lasts_one_window_and_a_replayed_session_gets_another() {
        let catalog = Catalog::embedded().unwrap();
        let config = CheckoutConfig::default();
        let input = CheckoutInput {
            plan: catalog.get("pro").unwrap(),
            interval: Interval::Month,
            quantity: 1,
            success_url: "https://app.example.com/ok".into(),
            cancel_url: "https://app.example.com/back".into(),
            currency: None,
        };
        let identity = Buyer {
            user_id: "u1".into(),
            email: None,
            name: None,
        };
        let t = 1_800_000_000 - 1_800_000_000 % CHECKOUT_KEY_WINDOW_SECS;
        let new = new_session(&config, &identity, &input, "cus_1", true, "price_1".into(), vec![]);
        let key = key(&identity, &input, &new, None, t);
        assert_eq!(key, super::key(&identity, &input, &new, None, t + CHECKOUT_KEY_WINDOW_SECS - 1));
        assert_ne!(key, super::key(&identity, &input, &new, None, t + CHECKOUT_KEY_WINDOW_SECS));
        assert_ne!(key, super::key(&identity, &input, &new, Some("attempt-2"), t));
        // Parameters that change the session change the key (Stripe refuses a key reused with others).
        let other_price = NewCheckoutSession {
            price: "price_2".into(),
            ..new.clone()
        };
        assert_ne!(key, super::key(&identity, &input, &other_price, None, t));
        let no_trial = NewCheckoutSession {
            trial_days: None,
            ..new.clone()
        };
        let with_trial = NewCheckoutSession {
            trial_days: Some(14),
            ..new.clone()
        };
        assert_ne!(
            super::key(&identity, &input, &no_trial, None, t),
            super::key(&identity, &input, &with_trial, None, t)
        );
        let other_customer = new_session(&config, &identity, &input, "cus_2", true, "price_1".into(), vec![]);
        assert_ne!(key, super::key(&identity, &input, &other_customer, None, t));
        assert_ne!(fresh_key(&key, "cs_1"), key);
        assert_ne!(fresh_key(&key, "cs_1"), fresh_key(&key, "cs_2"));
    }
}
