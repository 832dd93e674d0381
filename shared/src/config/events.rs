//! The domain-events section: where events are published, and who sends the optional emails.

use std::time::Duration;

use url::Url;

use super::{ConfigError, Env, parse_http_url, vars};

/// The bus name the template creates, and the default.
pub const DEFAULT_EVENT_BUS_NAME: &str = "billing-events";
/// How the `source` of every event from Stripe's EventBridge event destination starts.
pub const STRIPE_PARTNER_PREFIX: &str = "aws.partner/stripe.com";
/// The `source` of every domain event, unless `EVENT_SOURCE` says otherwise.
pub const DEFAULT_EVENT_SOURCE: &str = "billing";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    /// `EVENT_BUS_NAME` (name or ARN).
    pub bus_name: String,
    /// `EVENT_SOURCE`.
    pub source: String,
    /// `EVENTBRIDGE_ENDPOINT`: a local EventBridge (moto); unset in AWS.
    pub eventbridge_endpoint: Option<Url>,
    /// `SES_ENDPOINT`: a local SES (moto); unset in AWS.
    pub ses_endpoint: Option<Url>,
    /// `EMAIL_SENDER`: the verified SES identity the notifications come from.
    pub email_sender: Option<String>,
    /// `BILLING_PORTAL_LINK`: where a user manages billing (Stripe's no-code portal login link,
    /// or the team's own billing page); in every email without a hosted invoice.
    pub portal_link: Option<Url>,
    /// `STRIPE_PARTNER_EVENT_SOURCE`: the one partner event source (`aws.partner/stripe.com/…`)
    /// whose events the webhook function takes from EventBridge; unset: any Stripe partner source.
    pub stripe_partner_source: Option<String>,
    /// `PUBLISHER_BUDGET_SECONDS`: how long one publisher run may work (default 50, at most 50:
    /// the function's timeout is 60 s).
    pub publisher_budget: Duration,
}

impl EventsConfig {
    pub(super) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        let url = |var: &'static str| env.get(var).map(|v| parse_http_url(var, &v)).transpose();
        let source = env.get(vars::EVENT_SOURCE).unwrap_or_else(|| DEFAULT_EVENT_SOURCE.into());
        if source.starts_with("aws.") {
            return Err(ConfigError::invalid(
                vars::EVENT_SOURCE,
                "must not start with `aws.` (EventBridge reserves it)",
            ));
        }
        Ok(Self {
            bus_name: env.get(vars::EVENT_BUS_NAME).unwrap_or_else(|| DEFAULT_EVENT_BUS_NAME.into()),
            source,
            eventbridge_endpoint: url(vars::EVENTBRIDGE_ENDPOINT)?,
            ses_endpoint: url(vars::SES_ENDPOINT)?,
            email_sender: env.get(vars::EMAIL_SENDER),
            portal_link: url(vars::BILLING_PORTAL_LINK)?,
            stripe_partner_source: match env.get(vars::STRIPE_PARTNER_EVENT_SOURCE) {
                Some(name) if !name.starts_with(STRIPE_PARTNER_PREFIX) => {
                    return Err(ConfigError::invalid(
                        vars::STRIPE_PARTNER_EVENT_SOURCE,
                        format!("must start with {STRIPE_PARTNER_PREFIX}"),
                    ));
                }
                other => other,
            },
            publisher_budget: env.seconds(vars::PUBLISHER_BUDGET_SECONDS, 50, 50)?,
        })
    }
}
