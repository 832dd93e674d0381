//! The checkout section: where redirects may go, which subscriptions stop a new Checkout, and
//! what the Checkout page collects.

use url::Url;

use super::{ConfigError, Env, Needs, parse_http_url, vars};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectConfig {
    /// Origins (`scheme://host[:port]`) that success, cancel and return URLs may point to.
    pub allowed_origins: Vec<url::Origin>,
    /// Where users go back to when the client gives no URL.
    pub default_return_url: Option<Url>,
}

impl RedirectConfig {
    pub fn allows(&self, url: &Url) -> bool {
        let origin = url.origin();
        origin.is_tuple() && self.allowed_origins.contains(&origin)
    }
}

/// Which existing subscriptions stop a new Checkout (409 with a pointer to the portal).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DuplicatePolicy {
    /// A live subscription to the same plan blocks a new one (default).
    #[default]
    SamePlan,
    /// Any live subscription blocks a new one: plan changes go through the portal.
    Any,
    /// Never block (several subscriptions per user are intended).
    Allow,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckoutConfig {
    /// Lets customers enter promotion codes on the Checkout page.
    pub allow_promotion_codes: bool,
    pub duplicate_policy: DuplicatePolicy,
    /// Address and tax collection on the Checkout page.
    pub collection: Collection,
    /// How a trial taken without a card ends (`TRIAL_END_WITHOUT_CARD`): `cancel` (the
    /// default) or `pause`; plans with `"trial_card": "if_required"` only.
    pub trial_end_without_card: TrialEndWithoutCard,
}

/// `TRIAL_END_WITHOUT_CARD`: Stripe's `trial_settings.end_behavior.missing_payment_method`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TrialEndWithoutCard {
    #[default]
    Cancel,
    Pause,
}

impl TrialEndWithoutCard {
    pub fn as_str(self) -> &'static str {
        match self {
            TrialEndWithoutCard::Cancel => "cancel",
            TrialEndWithoutCard::Pause => "pause",
        }
    }
}

/// What Checkout collects (`BILLING_ADDRESS_COLLECTION`, `AUTOMATIC_TAX`, `TAX_ID_COLLECTION`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collection {
    /// `auto` (only when needed, e.g. for tax) or `required`; `None`: Stripe's default (`auto`).
    pub billing_address: Option<AddressCollection>,
    /// Stripe Tax computes tax from the customer's location (returning customers' addresses are
    /// saved with `customer_update[address]=auto`).
    pub automatic_tax: bool,
    /// Business customers may enter a tax ID.
    pub tax_id: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressCollection {
    Auto,
    Required,
}

impl AddressCollection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Required => "required",
        }
    }
}

fn parse_origins(value: &str) -> Result<Vec<url::Origin>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let url = parse_http_url(vars::ALLOWED_REDIRECT_ORIGINS, s)?;
            if url.path() != "/" || url.query().is_some() {
                return Err(ConfigError::invalid(
                    vars::ALLOWED_REDIRECT_ORIGINS,
                    format!("`{s}` is not a bare origin (scheme://host[:port])"),
                ));
            }
            Ok(url.origin())
        })
        .collect()
}

impl RedirectConfig {
    /// `ALLOWED_REDIRECT_ORIGINS`, `DEFAULT_RETURN_URL`; both required when the function
    /// `needs` redirects, and the default must be allowed.
    pub(super) fn read(env: &Env<'_>, needs: Needs) -> Result<Self, ConfigError> {
        let allowed_origins = env
            .get(vars::ALLOWED_REDIRECT_ORIGINS)
            .map(|v| parse_origins(&v))
            .transpose()?
            .unwrap_or_default();
        let default_return_url = env
            .get(vars::DEFAULT_RETURN_URL)
            .map(|v| parse_http_url(vars::DEFAULT_RETURN_URL, &v))
            .transpose()?;
        let redirects = RedirectConfig {
            allowed_origins,
            default_return_url,
        };
        if needs.redirects {
            if redirects.allowed_origins.is_empty() {
                return Err(ConfigError::missing(vars::ALLOWED_REDIRECT_ORIGINS));
            }
            match &redirects.default_return_url {
                None => return Err(ConfigError::missing(vars::DEFAULT_RETURN_URL)),
                Some(url) if !redirects.allows(url) => {
                    return Err(ConfigError::invalid(
                        vars::DEFAULT_RETURN_URL,
                        format!("origin is not in {}", vars::ALLOWED_REDIRECT_ORIGINS),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(redirects)
    }
}

impl CheckoutConfig {
    /// `ALLOW_PROMOTION_CODES`, `CHECKOUT_DUPLICATE_POLICY`, `BILLING_ADDRESS_COLLECTION`,
    /// `AUTOMATIC_TAX`, `TAX_ID_COLLECTION`.
    pub(super) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        let allow_promotion_codes = env.flag(vars::ALLOW_PROMOTION_CODES)?;
        let duplicate_policy = match env.get(vars::CHECKOUT_DUPLICATE_POLICY).as_deref() {
            None | Some("same_plan") => DuplicatePolicy::SamePlan,
            Some("any") => DuplicatePolicy::Any,
            Some("allow") => DuplicatePolicy::Allow,
            Some(_) => {
                return Err(ConfigError::invalid(
                    vars::CHECKOUT_DUPLICATE_POLICY,
                    "expected same_plan, any or allow",
                ));
            }
        };
        let billing_address = match env.get(vars::BILLING_ADDRESS_COLLECTION).as_deref() {
            None => None,
            Some("auto") => Some(AddressCollection::Auto),
            Some("required") => Some(AddressCollection::Required),
            Some(_) => return Err(ConfigError::invalid(vars::BILLING_ADDRESS_COLLECTION, "expected auto or required")),
        };
        Ok(CheckoutConfig {
            allow_promotion_codes,
            duplicate_policy,
            collection: Collection {
                billing_address,
                automatic_tax: env.flag(vars::AUTOMATIC_TAX)?,
                tax_id: env.flag(vars::TAX_ID_COLLECTION)?,
            },
            trial_end_without_card: match env.get(vars::TRIAL_END_WITHOUT_CARD).as_deref() {
                None | Some("cancel") => TrialEndWithoutCard::Cancel,
                Some("pause") => TrialEndWithoutCard::Pause,
                Some(_) => return Err(ConfigError::invalid(vars::TRIAL_END_WITHOUT_CARD, "expected cancel or pause")),
            },
        })
    }
}
