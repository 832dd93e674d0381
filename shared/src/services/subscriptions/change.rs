//! A change of plan, interval or seats: what it resolves to on Stripe's current state, how it is
//! billed, and the Stripe calls that make it (now, or at the period end through a schedule).

use std::collections::BTreeMap;

use super::target::{Keys, Target, invalid};
use super::{ChangeRequest, Refusal, SubscriptionError, Subscriptions, When};
use crate::adapters::stripe::{ItemChange, MeteredChange, PhasePlan, PriceName, Proration, Stripe, SubscriptionUpdate};
use crate::domain::invoices::InvoicePreview;
use crate::domain::objects::SubscriptionSnapshot;
use crate::domain::plans::{Interval, Plan, PlanMode};
use crate::domain::records::SubscriptionRecord;
use crate::domain::schedules::ScheduleSnapshot;

/// The plan and interval of a price of the catalog.
fn plan_of<'a>(state: &'a Subscriptions<'a>, price_id: Option<&str>, lookup_key: Option<&str>) -> Option<(&'a Plan, Interval)> {
    state
        .catalog
        .find_price(price_id, lookup_key)
        .filter(|(p, _)| p.mode == PlanMode::Subscription && !p.free)
}

/// The plan, interval and quantity a change asks for, given the subscription's plan, interval
/// and quantity now: the plan defaults to the current one, the interval to the current one
/// when the plan has it (else the plan's only one), the quantity to the current one, within the
/// plan's maximum. Used before any Stripe call (on the stored record) and again on Stripe's state.
pub fn target_of<'a>(
    request: &ChangeRequest<'a>,
    current: Option<(&'a Plan, Interval)>,
    quantity: u64,
) -> Result<(&'a Plan, Interval, u64), SubscriptionError> {
    let plan = request.plan.or(current.map(|(p, _)| p)).ok_or_else(|| {
        invalid(
            "/errors/missing-field",
            "plan",
            "the current plan is not in the catalog: say which `plan` to change to",
        )
    })?;
    let recurring: Vec<Interval> = plan.prices.keys().copied().filter(|i| *i != Interval::OneTime).collect();
    let interval = match request.interval {
        Some(interval) => interval,
        None => match current.map(|(_, i)| i).filter(|i| recurring.contains(i)) {
            Some(interval) => interval,
            None => match recurring.as_slice() {
                [only] => *only,
                _ => {
                    return Err(invalid(
                        "/errors/missing-field",
                        "interval",
                        "say which `interval` (`month` or `year`)",
                    ));
                }
            },
        },
    };
    if plan.price(interval).is_none() {
        return Err(invalid(
            "/errors/unknown-interval",
            "interval",
            "the plan has no price for this interval",
        ));
    }
    let quantity = request.quantity.unwrap_or(quantity);
    if quantity == 0 || quantity > u64::from(plan.max_quantity) {
        return Err(SubscriptionError::Invalid(Refusal::quantity(Some(plan.max_quantity))));
    }
    Ok((plan, interval, quantity))
}

/// The stored record's plan and interval.
pub fn stored_plan<'a>(state: &'a Subscriptions<'a>, record: &SubscriptionRecord) -> Option<(&'a Plan, Interval)> {
    let plan = record.plan.as_deref().and_then(|id| state.catalog.get(id))?;
    (plan.mode == PlanMode::Subscription && !plan.free).then_some((plan, record.interval?))
}

/// What a change request resolves to for this subscription.
pub struct Resolved {
    pub item: ItemChange,
    pub plan: String,
    pub interval: Interval,
    /// The new price × quantity costs more per day than the current one (or either is unknown).
    pub upgrade: bool,
    /// The subscription's metered prices after the change.
    pub metered_prices: Vec<String>,
    /// The change moves the subscription to another billing interval.
    pub interval_changes: bool,
}

/// Resolves a change on Stripe's current state of the subscription.
pub async fn resolve(
    state: &Subscriptions<'_>,
    stripe: &Stripe,
    target: &Target,
    request: &ChangeRequest<'_>,
) -> Result<Resolved, SubscriptionError> {
    let current = &target.current;
    let now = plan_of(state, current.price_id.as_deref(), current.lookup_key.as_deref());
    let (plan, interval, quantity) = target_of(request, now, current.quantity)?;
    let price = plan.price(interval).ok_or(SubscriptionError::Incomplete("a price"))?;
    let price_id = match (&price.price, &price.lookup_key) {
        (Some(id), _) => id.clone(),
        (None, Some(key)) => stripe.price_id(key).await?,
        (None, None) => return Err(SubscriptionError::Incomplete("a price reference")),
    };
    let item_id = current
        .item_id
        .clone()
        .ok_or(SubscriptionError::Incomplete("a subscription item"))?;
    // The new plan's metered prices at the interval: added when missing, others removed.
    let mut metered_prices = Vec::new();
    for rule in plan.usage.values().filter(|r| r.meter.is_some()) {
        let price = rule.prices.get(&interval).ok_or(SubscriptionError::Incomplete("a metered price"))?;
        metered_prices.push(match (&price.price, &price.lookup_key) {
            (Some(id), _) => id.clone(),
            (None, Some(key)) => stripe.price_id(key).await?,
            (None, None) => return Err(SubscriptionError::Incomplete("a metered price reference")),
        });
    }
    // Metered items are added, never removed on a change of plan: Stripe (classic billing)
    // drops the period's usage of a deleted metered item. A change of interval must remove them
    // (one interval per subscription), so it waits for the period end (see the handler).
    let interval_changes = now.map(|(_, i)| i) != Some(interval);
    let mut metered: Vec<MeteredChange> = metered_prices
        .iter()
        .filter(|p| !current.other_items.iter().any(|(_, price)| price == *p))
        .map(|p| MeteredChange::Add { price: p.clone() })
        .collect();
    if interval_changes {
        metered.extend(
            current
                .other_items
                .iter()
                .filter(|(_, price)| !metered_prices.contains(price))
                .map(|(item_id, _)| MeteredChange::Remove { item_id: item_id.clone() }),
        );
    }
    // What the subscription's metered items are after the change.
    let mut metered_after = metered_prices.clone();
    if !interval_changes {
        metered_after.extend(
            current
                .other_items
                .iter()
                .map(|(_, price)| price.clone())
                .filter(|p| !metered_prices.contains(p)),
        );
    }
    // Compared in the subscription's currency (a price sold in several currencies charges each
    // its own amount); what cannot be compared counts as an upgrade.
    let upgrade = match (&current.price_id, &current.currency) {
        (Some(old), Some(currency)) => {
            let names = [PriceName::Id(old), PriceName::Id(&price_id)];
            let prices = stripe.prices(&names).await?;
            if prices
                .get(&names[1].key())
                .is_some_and(|p| p.unit_amount.is_some() && p.amount_in(currency).is_none())
            {
                return Err(invalid(
                    "/errors/unknown-currency",
                    "plan",
                    &format!("this plan's price is not sold in {currency}, the subscription's currency"),
                ));
            }
            let cost = |name: &PriceName<'_>, quantity| prices.get(&name.key()).and_then(|p| p.daily_cost_in(currency, quantity));
            match (cost(&names[0], current.quantity), cost(&names[1], quantity)) {
                (Some(old), Some(new)) => new > old,
                _ => true,
            }
        }
        _ => true,
    };
    Ok(Resolved {
        item: ItemChange {
            item_id,
            price: price_id,
            quantity,
            metered,
        },
        metered_prices: metered_after,
        interval_changes,
        plan: plan.id.clone(),
        interval,
        upgrade,
    })
}

/// How a change made now is billed: as asked, else the deployment's default. An upgrade is
/// always prorated (no free upgrade by asking `none`): a request for `none` is refused, a
/// default of `none` becomes `create_prorations`.
pub fn proration(requested: Option<Proration>, default: Proration, upgrade: bool) -> Result<Proration, SubscriptionError> {
    match (requested, upgrade) {
        (Some(Proration::None), true) => Err(invalid(
            "/errors/invalid-field",
            "proration",
            "an upgrade is prorated: use `create_prorations` or `always_invoice`",
        )),
        (Some(asked), _) => Ok(asked),
        (None, true) if default == Proration::None => Ok(Proration::CreateProrations),
        (None, _) => Ok(default),
    }
}

/// Previews the invoice of a change.
pub async fn preview(
    stripe: &Stripe,
    target: &Target,
    resolved: &Resolved,
    request: &ChangeRequest<'_>,
    proration: Proration,
    now: i64,
) -> Result<InvoicePreview, SubscriptionError> {
    let proration = match request.when {
        When::Now => proration,
        When::PeriodEnd => Proration::None,
    };
    Ok(stripe
        .preview_change(&target.customer, target.id(), &resolved.item, proration, now)
        .await?)
}

/// Schedules the change for the end of the current period: the schedule's first phase is the
/// phase in effect, carried over as Stripe has it (items, trial, discounts, tax rates, payment
/// settings, metadata), until the period end; the second has the new price for one period, with
/// the same terms, after which the schedule releases the subscription. A pending change is
/// replaced.
pub async fn schedule_change(
    stripe: &Stripe,
    user: &str,
    target: &Target,
    resolved: &Resolved,
    keys: &Keys,
) -> Result<ScheduleSnapshot, SubscriptionError> {
    let current = &target.current;
    let schedule = match &current.schedule_id {
        Some(id) => stripe.retrieve_schedule(id).await?.ok_or(SubscriptionError::ChangedMeanwhile)?,
        None => stripe.schedule_subscription(target.id(), &keys.step("schedule")).await?,
    };
    let phase = schedule.current().cloned().ok_or(SubscriptionError::ChangedMeanwhile)?;
    let end = phase
        .end_date
        .or(current.current_period_end)
        .ok_or(SubscriptionError::Incomplete("a period end"))?;
    let interval = |i: Interval| if i == Interval::Year { "year" } else { "month" };
    let mut metadata: BTreeMap<String, String> = phase.metadata.clone();
    let (key, value) = crate::domain::billable::metadata_pair(user);
    metadata.insert(key, value);
    let trial_end = phase.trial_end.or(current.trial_end.filter(|_| current.status == "trialing"));
    let first = PhasePlan {
        start: phase.start_date,
        end: Some(end),
        items: phase.items.clone(),
        interval: interval(target.record.interval.unwrap_or(Interval::Month)),
        trial_end,
        discounts: phase.discounts.clone(),
        default_tax_rates: phase.default_tax_rates.clone(),
        default_payment_method: phase.default_payment_method.clone(),
        collection_method: phase.collection_method.clone(),
        metadata: metadata.clone(),
    };
    metadata.insert("plan".into(), resolved.plan.clone());
    metadata.insert("interval".into(), interval(resolved.interval).into());
    let second = PhasePlan {
        start: end,
        end: None,
        items: std::iter::once((resolved.item.price.clone(), Some(resolved.item.quantity)))
            .chain(resolved.metered_prices.iter().map(|p| (p.clone(), None)))
            .collect(),
        interval: interval(resolved.interval),
        trial_end: None,
        metadata,
        ..first.clone()
    };
    Ok(stripe
        .set_schedule_phases(&schedule.id, user, &[first, second], &keys.step("phases"))
        .await?)
}

/// The change made now: the item's price and quantity, billed as `proration` says. An upgrade
/// invoiced now is refused by Stripe when its invoice cannot be paid (no upgrade on an unpaid
/// invoice).
pub async fn change_now(
    stripe: &Stripe,
    target: &Target,
    resolved: &Resolved,
    proration: Proration,
    keys: &Keys,
) -> Result<SubscriptionSnapshot, SubscriptionError> {
    let update = SubscriptionUpdate {
        item: Some(resolved.item.clone()),
        proration: Some(proration),
        error_if_incomplete: resolved.upgrade && proration == Proration::AlwaysInvoice,
        ..SubscriptionUpdate::default()
    };
    Ok(stripe.update_subscription(target.id(), &update, &keys.step("update")).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upgrade_is_never_free() {
        use Proration::*;
        assert!(proration(Some(None), CreateProrations, true).is_err());
        assert_eq!(proration(Some(None), CreateProrations, false).unwrap(), None);
        assert_eq!(proration(Option::None, None, true).unwrap(), CreateProrations);
        assert_eq!(proration(Option::None, None, false).unwrap(), None);
        assert_eq!(proration(Some(AlwaysInvoice), None, true).unwrap(), AlwaysInvoice);
    }
}
