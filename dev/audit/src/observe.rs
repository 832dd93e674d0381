//! One look at a customer: Stripe's state through the emulator's API (as any client reads it),
//! the table's, and the access the API answers.

use std::collections::BTreeMap;

use billing::domain::plans::Catalog;
use serde_json::Value;

use crate::client::{Client, Result};
use crate::model::{Invoice, Observation, PendingItem, Purchase, StripeSub, TableCounter, TableSub};

/// What the observer learns once: prices (id → catalog plan, metered or not) and the meter.
pub struct Prices {
    /// Price id → (catalog plan, metered).
    pub plans: BTreeMap<String, (Option<String>, bool)>,
    /// Price id → (unit amount by currency, days per interval).
    pub amounts: BTreeMap<String, (BTreeMap<String, i64>, i64)>,
    pub meter: Option<String>,
}

impl Prices {
    pub async fn load(client: &Client, catalog: &Catalog) -> Result<Self> {
        let mut plans = BTreeMap::new();
        let mut amounts = BTreeMap::new();
        for price in client.stripe_list("/prices", &[("expand[]", "data.currency_options")]).await? {
            let id = price["id"].as_str().unwrap_or_default().to_owned();
            let lookup = price["lookup_key"].as_str();
            let metered = price.pointer("/recurring/usage_type").and_then(Value::as_str) == Some("metered");
            let plan = catalog
                .find_price(Some(&id), lookup)
                .map(|(p, _)| p.id.clone())
                .or_else(|| catalog.find_metered_price(Some(&id), lookup).map(|(p, _)| p.id.clone()));
            plans.insert(id.clone(), (plan, metered));
            let days = match price.pointer("/recurring/interval").and_then(Value::as_str) {
                Some("year") => 365,
                Some("week") => 7,
                Some("day") => 1,
                _ => 30,
            };
            let mut by_currency: BTreeMap<String, i64> = price["currency_options"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter_map(|(c, v)| Some((c.clone(), v["unit_amount"].as_i64()?)))
                        .collect()
                })
                .unwrap_or_default();
            if let (Some(currency), Some(amount)) = (price["currency"].as_str(), price["unit_amount"].as_i64()) {
                by_currency.insert(currency.to_owned(), amount);
            }
            amounts.insert(id, (by_currency, days));
        }
        let meter = client
            .stripe_list("/billing/meters", &[])
            .await?
            .into_iter()
            .find(|m| m["event_name"] == "api_calls")
            .and_then(|m| m["id"].as_str().map(str::to_owned));
        Ok(Self { plans, amounts, meter })
    }

    /// What `quantity` of `price` costs per day in `currency`, in thousandths of a minor unit.
    pub fn daily(&self, price: &str, currency: &str, quantity: u64) -> Option<i128> {
        let (amounts, days) = self.amounts.get(price)?;
        Some(i128::from(*amounts.get(currency)?) * i128::from(quantity) * 1000 / i128::from(*days))
    }
}

/// A subscription object read into the checker's shape.
pub fn subscription(prices: &Prices, object: &Value) -> StripeSub {
    let items = object.pointer("/items/data").and_then(Value::as_array).cloned().unwrap_or_default();
    let licensed = items
        .iter()
        .find(|i| i.pointer("/price/recurring/usage_type").and_then(Value::as_str) != Some("metered"));
    let price = licensed
        .and_then(|i| i.pointer("/price/id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let plan = price.as_ref().and_then(|p| prices.plans.get(p)).and_then(|(plan, _)| plan.clone());
    StripeSub {
        id: object["id"].as_str().unwrap_or_default().to_owned(),
        status: object["status"].as_str().unwrap_or_default().to_owned(),
        plan: if object.pointer("/metadata/custom_amount").is_some() {
            None
        } else {
            plan
        },
        price,
        quantity: licensed.and_then(|i| i["quantity"].as_u64()).unwrap_or(0),
        period_start: object["current_period_start"].as_i64().unwrap_or(0),
        period_end: object["current_period_end"].as_i64().unwrap_or(0),
        cancel_at_period_end: object["cancel_at_period_end"].as_bool().unwrap_or(false),
        cancel_at: object["cancel_at"].as_i64(),
        past_due_since: None,
        metered: items.len() > 1 || licensed.is_none(),
        pause: object["pause_collection"]["behavior"]
            .as_str()
            .map(|behavior| billing::domain::pause::PauseCollection {
                behavior: behavior.to_owned(),
                resumes_at: object["pause_collection"]["resumes_at"].as_i64(),
            }),
        latest_invoice: object["latest_invoice"].as_str().map(str::to_owned),
        discounts: object["discounts"].as_array().map_or(0, Vec::len),
    }
}

/// Every price on a subscription object's items.
pub fn item_prices(object: &Value) -> Vec<String> {
    object
        .pointer("/items/data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| i.pointer("/price/id").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// Looks at `user` (whose Stripe customer is `customer`, when known).
pub async fn observe(client: &Client, prices: &Prices, user: &str, customer: Option<&str>) -> Result<(Observation, Vec<String>)> {
    let at = client.now().await?;
    let items = client.table(user).await?;
    let customer = customer
        .map(str::to_owned)
        .or_else(|| items.customer.as_ref().map(|c| c.customer_id.clone()));
    let mut o = Observation {
        user: user.to_owned(),
        at,
        customer: customer.clone(),
        customer_since: items.customer.as_ref().map(|c| c.created_at),
        ..Observation::default()
    };
    let mut held = Vec::new();
    if let Some(customer) = customer.as_deref() {
        let invoices = client.stripe_list("/invoices", &[("customer", customer)]).await?;
        for object in client
            .stripe_list("/subscriptions", &[("customer", customer), ("status", "all")])
            .await?
        {
            let mut sub = subscription(prices, &object);
            held.extend(item_prices(&object));
            if sub.status == "past_due" {
                sub.past_due_since = invoices
                    .iter()
                    .filter(|i| {
                        i.pointer("/parent/subscription_details/subscription").and_then(Value::as_str) == Some(sub.id.as_str())
                            && i["status"] == "open"
                            && i["attempt_count"].as_u64() >= Some(1)
                    })
                    .filter_map(|i| i["created"].as_i64())
                    .min();
            }
            o.subscriptions.push(sub);
        }
        o.invoices = invoices
            .iter()
            .map(|i| Invoice {
                id: i["id"].as_str().unwrap_or_default().to_owned(),
                prices: i
                    .pointer("/lines/data")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|l| l.pointer("/pricing/price_details/price").and_then(Value::as_str).map(str::to_owned))
                    .collect(),
                status: i["status"].as_str().unwrap_or_default().to_owned(),
                created: i["created"].as_i64().unwrap_or(0),
                subtotal: i["subtotal"].as_i64().unwrap_or(0),
                charged: i
                    .pointer("/lines/data")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|l| l["amount"].as_i64())
                    .filter(|amount| *amount > 0)
                    .sum(),
                discounted: i["total_discount_amounts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d["amount"].as_i64())
                    .sum(),
                discounts: i["discounts"].as_array().map_or(0, Vec::len),
            })
            .collect();
        o.pending = client
            .stripe_list("/invoiceitems", &[("customer", customer), ("pending", "true")])
            .await?
            .iter()
            .map(|i| PendingItem {
                id: i["id"].as_str().unwrap_or_default().to_owned(),
                subscription: i
                    .pointer("/parent/subscription_details/subscription")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                amount: i["amount"].as_i64().unwrap_or(0),
            })
            .collect();
        for session in client.stripe_list("/checkout/sessions", &[("customer", customer)]).await? {
            if session["mode"] != "payment" || session["status"] != "complete" {
                continue;
            }
            let plan = session.pointer("/metadata/plan").or(session.pointer("/metadata/custom_amount"));
            let (Some(plan), Some(intent)) = (plan.and_then(Value::as_str), session["payment_intent"].as_str()) else {
                continue;
            };
            let mut purchase = Purchase {
                id: session["id"].as_str().unwrap_or_default().to_owned(),
                plan: plan.to_owned(),
                ..Purchase::default()
            };
            if let Some(charge) = client.stripe_list("/charges", &[("payment_intent", intent)]).await?.first() {
                purchase.refunded = charge["amount_refunded"].as_i64() >= charge["amount"].as_i64();
                let id = charge["id"].as_str().unwrap_or_default();
                for dispute in client.stripe_list("/disputes", &[("charge", id)]).await? {
                    match dispute["status"].as_str() {
                        Some("lost") => purchase.refunded = true,
                        Some("won") => {}
                        _ => purchase.disputed = true,
                    }
                }
            }
            o.purchases.push(purchase);
        }
        if let Some(meter) = &prices.meter {
            let end = (at.div_euclid(60) + 2) * 60;
            let summary = client
                .stripe_get(
                    &format!("/billing/meters/{meter}/event_summaries"),
                    &[("customer", customer), ("start_time", "0"), ("end_time", &end.to_string())],
                )
                .await?;
            o.metered_in_stripe = summary.pointer("/data/0/aggregated_value").and_then(Value::as_i64).unwrap_or(0);
        }
    }
    o.table_subscriptions = items
        .subscriptions
        .iter()
        .map(|s| TableSub {
            id: s.subscription_id.clone(),
            status: s.status.to_string(),
            price: s.price_id.clone(),
            quantity: s.quantity,
            period_end: s.current_period_end,
            cancel_at_period_end: s.cancel_at_period_end,
        })
        .collect();
    o.counters = items
        .usage
        .iter()
        .map(|c| TableCounter {
            feature: c.feature.clone(),
            period_start: c.period_start,
            period_end: c.period_end,
            used: c.used,
            limited: c.limited,
            metered: c.metered,
            reported: c.reported,
            customer: c.customer_id.clone(),
        })
        .collect();
    let (status, access) = client.api(reqwest::Method::GET, "/entitlements", user, None, None).await?;
    if status != 200 {
        return Err(crate::client::CallError(format!("GET /entitlements for {user}: {status} {access}")));
    }
    o.allowed = access["features"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_owned))
        .collect();
    Ok((o, held))
}
