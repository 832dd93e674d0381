//! What a simulated customer does: the operations of the audit, each through the same door a
//! real client uses (the API with the user's token, the usage function's direct invocation,
//! the emulator's hosted-checkout payment and test controls). Each one logs what it asked and
//! what it got into the customer's history.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Client, Result};
use crate::model::{History, Record, Upgrade};
use crate::observe::{Prices, subscription};
use crate::rng::Rng;

const GOOD_CARD: &str = "4242424242424242";
/// Pays now, fails every later charge (renewals go past_due, then dunning ends them).
const FAILING_CARD: &str = "4000000000000341";

/// One simulated customer.
pub struct Actor {
    pub user: String,
    pub customer: Option<String>,
    pub history: History,
    /// Usage records sent with a key today, and their first answer (a retry must repeat it;
    /// a key counts once for a day).
    keyed: Vec<(String, Value, Value)>,
    keyed_at: i64,
    /// The charge of the one-time purchase, and its open dispute.
    charge: Option<String>,
    dispute: Option<String>,
    /// Operations made.
    pub operations: u64,
}

impl Actor {
    /// Whether this customer is an organization (its admin buys and manages; members hold seats).
    pub fn is_org(&self) -> bool {
        billing::domain::billable::Billable::of(&self.user).org_id().is_some()
    }

    pub fn new(user: String) -> Self {
        Self {
            history: History::new(&user),
            user,
            customer: None,
            keyed: Vec::new(),
            keyed_at: 0,
            charge: None,
            dispute: None,
            operations: 0,
        }
    }

    /// One random operation, chosen for where the customer stands; then the billing periods
    /// Stripe shows are learned (a restart within one day is seen).
    pub async fn act(&mut self, client: &Client, prices: &Prices, rng: &mut Rng, at: i64) -> Result<()> {
        self.operations += 1;
        self.operate(client, prices, rng, at).await?;
        for (sub, _) in self.subscriptions(client, prices).await? {
            self.history.held_prices.extend(sub.price.iter().cloned());
            if sub.period_end > sub.period_start {
                self.history.periods.insert((sub.id.clone(), sub.period_start, sub.period_end));
            }
        }
        Ok(())
    }

    async fn operate(&mut self, client: &Client, prices: &Prices, rng: &mut Rng, at: i64) -> Result<()> {
        let subscriptions = self.subscriptions(client, prices).await?;
        let live: Vec<&(crate::model::StripeSub, String)> = subscriptions.iter().filter(|(s, _)| s.live() && s.plan.is_some()).collect();
        let roll = rng.below(100);
        if live.is_empty() {
            return match roll {
                0..45 => self.checkout(client, rng, at).await,
                45..75 => self.record(client, rng, at).await,
                75..85 if self.charge.is_some() => self.purchase_event(client, rng, at).await,
                // Support comps a free customer too.
                85..90 => self.support(client, rng, at).await,
                _ => Ok(()),
            };
        }
        let (sub, currency) = live[rng.below(live.len() as u64) as usize];
        let (sub, currency) = (sub.clone(), currency.clone());
        if self.is_org() && rng.chance(40) {
            return self.seat_op(client, rng, at).await;
        }
        if rng.chance(12) {
            // Retention and support: a pause, a code, a grant.
            return match rng.below(3) {
                0 => self.pause(client, rng, at, &sub.id).await,
                1 => self.discount(client, rng, at, &sub.id).await,
                _ => self.support(client, rng, at).await,
            };
        }
        match roll {
            0..40 => self.record(client, rng, at).await,
            40..62 => self.change(client, prices, rng, at, &sub, &currency).await,
            62..72 => self.cancel(client, rng, at, &sub.id).await,
            72..78 => self.resume(client, rng, at, &sub.id).await,
            78..82 => self.fail_card(client, at, &sub.id).await,
            82..88 if self.charge.is_some() => self.purchase_event(client, rng, at).await,
            88..92 => self.checkout(client, rng, at).await,
            _ => Ok(()),
        }
    }

    /// The customer's subscriptions as Stripe has them, with their currency.
    async fn subscriptions(&self, client: &Client, prices: &Prices) -> Result<Vec<(crate::model::StripeSub, String)>> {
        let Some(customer) = &self.customer else {
            return Ok(Vec::new());
        };
        let list = client.stripe_list("/subscriptions", &[("customer", customer)]).await?;
        Ok(list
            .iter()
            .map(|o| (subscription(prices, o), o["currency"].as_str().unwrap_or("usd").to_owned()))
            .collect())
    }

    async fn checkout(&mut self, client: &Client, rng: &mut Rng, at: i64) -> Result<()> {
        let body = match rng.below(100) {
            0..38 => json!({"plan": "starter", "interval": *rng.pick(&["month", "month", "year"]), "quantity": rng.between(1, 3)}),
            38..76 => {
                let mut body = json!({"plan": "pro", "interval": *rng.pick(&["month", "month", "year"]), "quantity": rng.between(1, 3)});
                if rng.chance(30) {
                    body["currency"] = "eur".into();
                }
                body
            }
            76..88 => json!({"plan": "lifetime"}),
            _ => json!({"plan": "donation", "amount": rng.between(1, 50) * 100, "currency": *rng.pick(&["usd", "eur"]),
                        "interval": *rng.pick(&["one_time", "month"])}),
        };
        let (status, created) = client.api(Method::POST, "/checkout", &self.user, Some(&body), None).await?;
        self.history
            .note(at, format!("POST /checkout {body} → {status} {}", short(&created)));
        if status != 201 || rng.chance(8) {
            return Ok(());
        }
        let session = created["id"].as_str().unwrap_or_default().to_owned();
        let card = if rng.chance(15) { FAILING_CARD } else { GOOD_CARD };
        let (status, paid) = client
            .control(&format!("/checkout/sessions/{session}/pay"), &json!({"card": card}))
            .await?;
        self.history.note(at, format!("  paid {session} with {card} → {status}"));
        if status != 200 {
            return Ok(());
        }
        if let Some(customer) = paid.pointer("/session/customer").and_then(Value::as_str) {
            self.customer = Some(customer.to_owned());
        }
        if body["plan"] == "lifetime"
            && let Some(intent) = paid.pointer("/session/payment_intent").and_then(Value::as_str)
        {
            let charges = client.stripe_list("/charges", &[("payment_intent", intent)]).await?;
            self.charge = charges.first().and_then(|c| c["id"].as_str()).map(str::to_owned);
        }
        if rng.chance(50) {
            // The return page's eager sync.
            let (status, _) = client
                .api(Method::GET, &format!("/checkout/{session}"), &self.user, None, None)
                .await?;
            self.history.note(at, format!("  GET /checkout/{session} → {status}"));
        }
        Ok(())
    }

    /// A trusted record, sometimes under a key, sometimes a retry of an earlier keyed one.
    async fn record(&mut self, client: &Client, rng: &mut Rng, at: i64) -> Result<()> {
        if self.keyed_at != at {
            self.keyed.clear();
            self.keyed_at = at;
        }
        if !self.keyed.is_empty() && rng.chance(30) {
            let (key, payload, first) = self.keyed[rng.below(self.keyed.len() as u64) as usize].clone();
            let again = client.invoke("usage", &payload).await?;
            self.history.note(at, format!("usage retry {key} → {}", short(&again)));
            if again != first {
                self.history
                    .anomalies
                    .push(format!("a retried record ({key}) answered {again}, its first answer was {first}"));
            }
            return Ok(());
        }
        let quantity = match rng.below(100) {
            0..70 => rng.between(1, 150),
            70..90 => rng.between(151, 900),
            _ => rng.between(1000, 3000),
        };
        let mut payload = match billing::domain::billable::Billable::of(&self.user) {
            billing::domain::billable::Billable::Org(org) => json!({"org_id": org, "feature": "api_calls", "quantity": quantity}),
            billing::domain::billable::Billable::User(user) => json!({"user_id": user, "feature": "api_calls", "quantity": quantity}),
        };
        let key = rng.chance(30).then(|| format!("rec-{}-{}", self.user, rng.next_u64()));
        if let Some(key) = &key {
            payload["idempotency_key"] = key.clone().into();
        }
        let mut answer = client.invoke("usage", &payload).await?;
        // A keyed record answered 503 is retried with its key until the answer is definite.
        for _ in 0..3 {
            if key.is_none() || answer.pointer("/problem/status").and_then(Value::as_u64) != Some(503) {
                break;
            }
            self.history.note(at, format!("usage +{quantity} → 503, retried with its key"));
            answer = client.invoke("usage", &payload).await?;
        }
        let allowed = answer["allowed"] == true;
        self.history.note(at, format!("usage +{quantity} → {}", short(&answer)));
        self.history.records.push(Record {
            at,
            feature: "api_calls".into(),
            quantity,
            allowed,
            limit: answer["limit"].as_u64(),
            period_end: answer["period_end"].as_i64(),
            ambiguous: answer.pointer("/problem/status").and_then(Value::as_u64) == Some(503),
        });
        if let (Some(key), true) = (key, allowed) {
            self.keyed.push((key, payload, answer));
        }
        Ok(())
    }

    /// A change of plan, interval or seats: now or at period end, any proration, sometimes a
    /// preview. An upgrade made now is followed by a look at what Stripe charged for it.
    async fn change(
        &mut self,
        client: &Client,
        prices: &Prices,
        rng: &mut Rng,
        at: i64,
        before: &crate::model::StripeSub,
        currency: &str,
    ) -> Result<()> {
        let mut body = match rng.below(3) {
            0 => json!({"quantity": rng.between(1, 4)}),
            1 => json!({"plan": if before.plan.as_deref() == Some("pro") { "starter" } else { "pro" }}),
            _ => json!({"interval": *rng.pick(&["month", "year"])}),
        };
        body["subscription"] = before.id.clone().into();
        if rng.chance(30) {
            body["when"] = "period_end".into();
        }
        if rng.chance(60) {
            body["proration"] = (*rng.pick(&["create_prorations", "always_invoice", "none"])).into();
        }
        let preview = rng.chance(15);
        if preview {
            body["preview"] = true.into();
        }
        let key = rng.chance(30).then(|| format!("chg-{}", rng.next_u64()));
        let customer = self.customer.clone().unwrap_or_default();
        let seen = charges(client, &customer).await?;
        let (status, answer) = client
            .api(Method::POST, "/subscription/change", &self.user, Some(&body), key.as_deref())
            .await?;
        self.history
            .note(at, format!("POST /subscription/change {body} → {status} {}", short(&answer)));
        if let Some(key) = key.as_deref().filter(|_| rng.chance(30)) {
            let (again, answer) = client
                .api(Method::POST, "/subscription/change", &self.user, Some(&body), Some(key))
                .await?;
            self.history.note(at, format!("  the same again → {again} {}", short(&answer)));
        }
        if status != 200 || preview || body["when"] == "period_end" {
            return Ok(());
        }
        let after = client.stripe_get(&format!("/subscriptions/{}", before.id), &[]).await?;
        let after = subscription(prices, &after);
        let cost = |s: &crate::model::StripeSub| s.price.as_deref().and_then(|p| prices.daily(p, currency, s.quantity));
        if let (Some(old), Some(new)) = (cost(before), cost(&after))
            && new > old
        {
            let charged = charges(client, &customer)
                .await?
                .difference(&seen)
                .map(|(_, amount)| amount.max(&0))
                .sum();
            self.history
                .note(at, format!("  an upgrade ({old} → {new} per day in {currency}); charged {charged}"));
            self.history.upgrades.push(Upgrade {
                at,
                subscription: before.id.clone(),
                trialing: before.status == "trialing",
                charged,
            });
        }
        Ok(())
    }

    async fn cancel(&mut self, client: &Client, rng: &mut Rng, at: i64, subscription: &str) -> Result<()> {
        let mut body = json!({"at_period_end": rng.chance(60)});
        if rng.chance(70) {
            body["subscription"] = subscription.into();
        }
        if rng.chance(30) {
            body["feedback"] = "too_expensive".into();
        }
        let (status, answer) = client
            .api(Method::POST, "/subscription/cancel", &self.user, Some(&body), None)
            .await?;
        self.history
            .note(at, format!("POST /subscription/cancel {body} → {status} {}", short(&answer)));
        Ok(())
    }

    async fn resume(&mut self, client: &Client, rng: &mut Rng, at: i64, subscription: &str) -> Result<()> {
        let body = if rng.chance(70) {
            json!({"subscription": subscription})
        } else {
            json!({})
        };
        let (status, answer) = client
            .api(Method::POST, "/subscription/resume", &self.user, Some(&body), None)
            .await?;
        self.history
            .note(at, format!("POST /subscription/resume → {status} {}", short(&answer)));
        Ok(())
    }

    /// The card on file starts failing: the next renewal goes past_due.
    async fn fail_card(&mut self, client: &Client, at: i64, subscription: &str) -> Result<()> {
        let (status, _) = client
            .control(&format!("/subscriptions/{subscription}/card"), &json!({"card": FAILING_CARD}))
            .await?;
        self.history
            .note(at, format!("the card of {subscription} starts failing → {status}"));
        Ok(())
    }

    /// A refund, a dispute opened, or a dispute decided, of the one-time purchase.
    async fn purchase_event(&mut self, client: &Client, rng: &mut Rng, at: i64) -> Result<()> {
        let Some(charge) = self.charge.clone() else {
            return Ok(());
        };
        if let Some(dispute) = self.dispute.take() {
            let status = *rng.pick(&["won", "lost"]);
            let (code, _) = client
                .control(&format!("/disputes/{dispute}/close"), &json!({"status": status}))
                .await?;
            self.history.note(at, format!("dispute {dispute} {status} → {code}"));
        } else if rng.chance(50) {
            let (code, answer) = client.control(&format!("/charges/{charge}/dispute"), &json!({})).await?;
            self.dispute = answer["id"].as_str().map(str::to_owned);
            self.history.note(at, format!("dispute of {charge} opened → {code}"));
        } else {
            let (code, _) = client.stripe_post("/refunds", &[("charge", &charge)]).await?;
            self.history.note(at, format!("refund of {charge} → {code}"));
        }
        Ok(())
    }
}

/// Every positive amount Stripe has charged the customer so far, by id: invoice items, and the
/// lines of invoices that are not items.
async fn charges(client: &Client, customer: &str) -> Result<BTreeSet<(String, i64)>> {
    if customer.is_empty() {
        return Ok(BTreeSet::new());
    }
    let mut out = BTreeSet::new();
    for item in client.stripe_list("/invoiceitems", &[("customer", customer)]).await? {
        out.insert((
            item["id"].as_str().unwrap_or_default().to_owned(),
            item["amount"].as_i64().unwrap_or(0),
        ));
    }
    for invoice in client.stripe_list("/invoices", &[("customer", customer)]).await? {
        for line in invoice.pointer("/lines/data").and_then(Value::as_array).into_iter().flatten() {
            let from_item = line.pointer("/parent/invoice_item_details").is_some_and(|d| !d.is_null())
                || line
                    .pointer("/parent/subscription_item_details/invoice_item")
                    .is_some_and(|i| !i.is_null());
            if !from_item {
                out.insert((
                    line["id"].as_str().unwrap_or_default().to_owned(),
                    line["amount"].as_i64().unwrap_or(0),
                ));
            }
        }
    }
    Ok(out)
}

/// An answer, shortened for the log.
fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 200 {
        format!("{}…", text.chars().take(200).collect::<String>())
    } else {
        text
    }
}
