//! The optional email notifications: `payment.failed`, `payment.action_required` and
//! `trial.will_end` domain events, sent to the user's email through SES.
//!
//! The templates live in the repository (`templates/email/<detail-type>.txt`: a `Subject:`
//! line, a blank line, the body; `{{name}}` placeholders). Every email carries a link: the
//! hosted invoice for a payment, the billing portal link (`BILLING_PORTAL_LINK`) otherwise.
//!
//! EventBridge delivers at least once: an email already sent for a domain event's `id` is not
//! sent again (a marker `NOTIFIED#<id>`, written after the send; only a crash between the two
//! sends twice).

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::adapters::mail::{Email, MailError, Mailer};
use crate::adapters::store::{Store, StoreError};
use crate::domain::plans::Catalog;

/// The templates, by detail type.
pub const TEMPLATES: [(&str, &str); 3] = [
    ("payment.failed", include_str!("../../../templates/email/payment.failed.txt")),
    (
        "payment.action_required",
        include_str!("../../../templates/email/payment.action_required.txt"),
    ),
    ("trial.will_end", include_str!("../../../templates/email/trial.will_end.txt")),
];

/// Currencies without minor units (Stripe's list).
const ZERO_DECIMAL: [&str; 16] = [
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
];

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("the store failed")]
    Store(#[from] StoreError),
    #[error("the email could not be sent")]
    Mail(#[from] MailError),
    #[error("the event's detail is not a domain event")]
    Detail(#[source] serde_json::Error),
}

/// What happened to one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notified {
    Sent {
        to: String,
        message_id: String,
    },
    /// Nothing sent, and why: `not_notified` (another detail type), `no_email` (the user's
    /// customer has none), `already_sent`, `no_link` (no invoice and no portal link).
    Skipped(&'static str),
}

/// The detail fields the templates use.
#[derive(Debug, Deserialize)]
struct Detail {
    id: String,
    user_id: String,
    plan: Option<String>,
    amount: Option<i64>,
    currency: Option<String>,
    attempt: Option<u64>,
    next_attempt: Option<i64>,
    hosted_invoice_url: Option<String>,
    trial_end: Option<i64>,
    has_payment_method: Option<bool>,
}

pub struct Notifier<'a> {
    store: &'a Store,
    mailer: &'a Mailer,
    catalog: &'a Catalog,
    portal_link: Option<&'a Url>,
    /// Where a hosted invoice may live: Stripe's invoice pages, or a local emulator's origin.
    invoice_origins: Vec<String>,
}

/// The origin of Stripe's hosted invoice pages.
pub const STRIPE_INVOICE_ORIGIN: &str = "https://invoice.stripe.com/";

impl<'a> Notifier<'a> {
    /// `local_stripe`: the Stripe API base of a local run (the emulator), whose invoice pages
    /// are trusted too; never set in AWS.
    pub fn new(
        store: &'a Store,
        mailer: &'a Mailer,
        catalog: &'a Catalog,
        portal_link: Option<&'a Url>,
        local_stripe: Option<&Url>,
    ) -> Self {
        let mut invoice_origins = vec![STRIPE_INVOICE_ORIGIN.to_owned()];
        invoice_origins.extend(
            local_stripe
                .filter(|u| crate::config::is_loopback(u))
                .map(|u| u.origin().ascii_serialization() + "/"),
        );
        Self {
            store,
            mailer,
            catalog,
            portal_link,
            invoice_origins,
        }
    }

    /// Sends the email of one domain event, once.
    pub async fn notify(&self, detail_type: &str, detail: Value, now: i64) -> Result<Notified, NotifyError> {
        let Some((_, template)) = TEMPLATES.iter().find(|(t, _)| *t == detail_type) else {
            return Ok(Notified::Skipped("not_notified"));
        };
        let mut detail: Detail = serde_json::from_value(detail).map_err(NotifyError::Detail)?;
        // A link in an email from the company's sender goes to Stripe's invoice page or the
        // portal, whatever an event claims.
        if let Some(url) = detail.hosted_invoice_url.take() {
            if self.invoice_origins.iter().any(|o| url.starts_with(o.as_str())) {
                detail.hosted_invoice_url = Some(url);
            } else {
                tracing::warn!(id = %detail.id, "hosted invoice link outside Stripe's invoice pages; the portal link is used");
            }
        }
        if self.store.email_sent(&detail.id).await? {
            return Ok(Notified::Skipped("already_sent"));
        }
        let Some(to) = self.store.customer_link(&detail.user_id).await?.and_then(|l| l.email) else {
            return Ok(Notified::Skipped("no_email"));
        };
        let Some(email) = render(template, &detail, &to, self.catalog, self.portal_link) else {
            return Ok(Notified::Skipped("no_link"));
        };
        let message_id = self.mailer.send(&email).await?;
        self.store.mark_email_sent(&detail.id, now).await?;
        Ok(Notified::Sent { to, message_id })
    }
}

/// `amount` in `currency` as people read it: `12.50 USD`, `1200 JPY`.
pub fn format_amount(amount: i64, currency: &str) -> String {
    let code = currency.to_uppercase();
    if ZERO_DECIMAL.contains(&currency.to_lowercase().as_str()) {
        return format!("{amount} {code}");
    }
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    format!("{sign}{}.{:02} {code}", abs / 100, abs % 100)
}

fn date(epoch: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch).map_or_else(|_| epoch.to_string(), |d| d.date().to_string())
}

/// The email of `template` for `detail`; `None` without a link to put in it.
fn render(template: &str, detail: &Detail, to: &str, catalog: &Catalog, portal: Option<&Url>) -> Option<Email> {
    let link = detail.hosted_invoice_url.clone().or_else(|| portal.map(|u| u.to_string()))?;
    let plan = detail
        .plan
        .as_deref()
        .map(|id| catalog.get(id).map_or(id, |p| p.name.as_str()))
        .unwrap_or("your");
    let amount = match (detail.amount, detail.currency.as_deref()) {
        (Some(amount), Some(currency)) => format_amount(amount, currency),
        _ => String::new(),
    };
    let next = match detail.next_attempt {
        Some(at) => format!("We will try again on {}.", date(at)),
        None => "We will not try again automatically.".to_owned(),
    };
    let card = match detail.has_payment_method {
        Some(false) => "Add a payment method before then to keep your subscription.",
        _ => "Your payment method on file will be charged when the trial ends.",
    };
    let filled = [
        ("{{amount}}", amount),
        ("{{plan}}", plan.to_owned()),
        ("{{attempt}}", detail.attempt.unwrap_or(1).to_string()),
        ("{{next_attempt_line}}", next),
        ("{{trial_end}}", detail.trial_end.map(date).unwrap_or_default()),
        ("{{payment_method_line}}", card.to_owned()),
        ("{{link}}", link),
    ]
    .iter()
    .fold(template.to_owned(), |text, (name, value)| text.replace(name, value));
    let (subject, body) = filled.split_once("\n\n").unwrap_or(("", &filled));
    Some(Email {
        to: to.to_owned(),
        subject: subject.trim_start_matches("Subject:").trim().to_owned(),
        text: body.trim_start().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_people_read_them() {
        assert_eq!(format_amount(1250, "usd"), "12.50 USD");
        assert_eq!(format_amount(1200, "jpy"), "1200 JPY");
        assert_eq!(format_amount(-5, "eur"), "-0.05 EUR");
    }

    #[test]
    fn every_email_has_a_link_and_no_placeholder_left() {
        let catalog = Catalog::embedded().unwrap();
        let detail = Detail {
            id: "e1".into(),
            user_id: "u1".into(),
            plan: Some("pro".into()),
            amount: Some(2900),
            currency: Some("usd".into()),
            attempt: Some(2),
            next_attempt: Some(1_900_000_000),
            hosted_invoice_url: Some("https://invoice.stripe.com/i/1".into()),
            trial_end: Some(1_900_000_000),
            has_payment_method: Some(false),
        };
        let portal = Url::parse("https://billing.stripe.com/p/login/test").unwrap();
        for (kind, template) in TEMPLATES {
            let email = render(template, &detail, "a@example.com", &catalog, Some(&portal)).unwrap();
            assert!(!email.subject.is_empty(), "{kind}");
            assert!(email.text.contains("https://"), "{kind}: {}", email.text);
            assert!(!email.text.contains("{{") && !email.subject.contains("{{"), "{kind}");
        }
        let no_link = Detail {
            hosted_invoice_url: None,
            ..detail
        };
        assert!(render(TEMPLATES[2].1, &no_link, "a@example.com", &catalog, None).is_none());
    }
}
