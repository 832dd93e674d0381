//! Retention and support in the audit: pausing collection, promotion codes on live
//! subscriptions, and support grants through the admin function (an IAM caller's event, as API
//! Gateway hands it on).
//!
//! - The codes are made once per run in the emulator ([`offer_codes`]): two usable ones
//!   (20 % forever, 50 % once), an inactive one, one used up after one redemption, and one no
//!   promotion code has. An inactive or unknown code accepted is an anomaly.
//! - A pause sets `resumes_at` sometimes; I1 then holds paused and unpaid periods to the free
//!   plan ([`crate::invariants::grants`]).
//! - Grants are noted in the history with their end ([`crate::model::GrantSpan`]); I1 accepts a
//!   granted feature only until then, so a grant that does not end by itself is a violation.

use reqwest::Method;
use serde_json::{Value, json};

use crate::actions::Actor;
use crate::client::{Client, Result};
use crate::model::GrantSpan;
use crate::rng::Rng;

/// The largest percentage off of the codes offered.
pub const MAX_PERCENT_OFF: i64 = 50;

/// Codes and whether they are usable (`USEDUP` until its one redemption).
const CODES: [(&str, bool); 5] = [
    ("AUDIT20", true),
    ("AUDIT50", true),
    ("AUDITGONE", false),
    ("AUDITUSEDUP", true),
    ("AUDITNOPE", false),
];

/// Features support may grant in the audit.
const GRANTABLE: [&str; 3] = ["exports", "api_access", "priority_support"];

/// Form fields of a Stripe request.
type Form<'a> = &'a [(&'a str, &'a str)];

/// Makes the run's coupons and promotion codes (once; an existing code is kept).
pub async fn offer_codes(client: &Client, seed: u64) -> Result<()> {
    let offers: [(&str, Form<'_>, Form<'_>); 4] = [
        ("AUDIT20", &[("percent_off", "20"), ("duration", "forever")], &[]),
        ("AUDIT50", &[("percent_off", "50"), ("duration", "once")], &[]),
        (
            "AUDITGONE",
            &[("percent_off", "50"), ("duration", "forever")],
            &[("active", "false")],
        ),
        (
            "AUDITUSEDUP",
            &[("percent_off", "10"), ("duration", "once")],
            &[("max_redemptions", "1")],
        ),
    ];
    for (code, coupon, extra) in offers {
        if !client.stripe_list("/promotion_codes", &[("code", code)]).await?.is_empty() {
            continue;
        }
        let id = format!("audit-{seed}-{}", code.to_ascii_lowercase());
        let mut form: Vec<(&str, &str)> = vec![("id", &id)];
        form.extend_from_slice(coupon);
        let (status, made) = client.stripe_post("/coupons", &form).await?;
        if status != 200 {
            return Err(crate::client::CallError(format!("coupon {code}: {status} {made}")));
        }
        let mut form: Vec<(&str, &str)> = vec![("code", code), ("promotion[type]", "coupon"), ("promotion[coupon]", &id)];
        form.extend_from_slice(extra);
        let (status, made) = client.stripe_post("/promotion_codes", &form).await?;
        if status != 200 {
            return Err(crate::client::CallError(format!("promotion code {code}: {status} {made}")));
        }
    }
    Ok(())
}

impl Actor {
    /// Pauses collection of `subscription`, until resumed or for some days.
    pub async fn pause(&mut self, client: &Client, rng: &mut Rng, at: i64, subscription: &str) -> Result<()> {
        let mut body = json!({"subscription": subscription});
        if rng.chance(50) {
            body["resumes_at"] = (at + i64::try_from(rng.between(2, 45)).unwrap_or(2) * 86_400).into();
        }
        let (status, answer) = client
            .api(Method::POST, "/subscription/pause", &self.user, Some(&body), None)
            .await?;
        self.history
            .note(at, format!("POST /subscription/pause {body} → {status} {}", short(&answer)));
        Ok(())
    }

    /// Applies one of the codes (or one that is no code) to `subscription`.
    pub async fn discount(&mut self, client: &Client, rng: &mut Rng, at: i64, subscription: &str) -> Result<()> {
        let (code, usable) = *rng.pick(&CODES);
        let body = json!({"subscription": subscription, "promotion_code": code});
        let (status, answer) = client
            .api(Method::POST, "/subscription/discount", &self.user, Some(&body), None)
            .await?;
        self.history
            .note(at, format!("POST /subscription/discount {code} → {status} {}", short(&answer)));
        if status == 200 && !usable {
            self.history
                .anomalies
                .push(format!("the invalid code {code} was accepted: {answer}"));
        }
        Ok(())
    }

    /// Support grants a feature for some days, or removes a grant made before.
    pub async fn support(&mut self, client: &Client, rng: &mut Rng, at: i64) -> Result<()> {
        if self.is_org() {
            return Ok(());
        }
        let open: Vec<usize> = (0..self.history.grants.len())
            .filter(|i| self.history.grants[*i].until > at)
            .collect();
        if !open.is_empty() && rng.chance(30) {
            let i = open[rng.below(open.len() as u64) as usize];
            let feature = self.history.grants[i].feature.clone();
            let (status, answer) = client
                .admin(Method::DELETE, &format!("/admin/users/{}/grants/{feature}", self.user), None)
                .await?;
            self.history
                .note(at, format!("support removes the grant of {feature} → {status} {}", short(&answer)));
            if status == 204 {
                for grant in self.history.grants.iter_mut().filter(|g| g.feature == feature && g.until > at) {
                    grant.until = at;
                }
            }
            return Ok(());
        }
        let feature = *rng.pick(&GRANTABLE);
        let until = at + i64::try_from(rng.between(1, 20)).unwrap_or(1) * 86_400 + i64::try_from(rng.between(0, 86_399)).unwrap_or(0);
        let body = json!({"feature": feature, "until": until, "reason": format!("audit {}", self.user)});
        let (status, answer) = client
            .admin(Method::POST, &format!("/admin/users/{}/grants", self.user), Some(&body))
            .await?;
        self.history
            .note(at, format!("support grants {feature} until {until} → {status} {}", short(&answer)));
        if status == 201 {
            // A new grant of a feature replaces the one before.
            for grant in self.history.grants.iter_mut().filter(|g| g.feature == feature && g.until > at) {
                grant.until = at;
            }
            self.history.grants.push(GrantSpan {
                feature: feature.to_owned(),
                from: at,
                until,
            });
        }
        Ok(())
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    text.chars().take(160).collect()
}
