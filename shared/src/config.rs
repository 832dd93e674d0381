//! Typed configuration read once per process from the environment.
//!
//! Every variable is parsed and validated here; a missing or malformed one is a
//! [`ConfigError`] whose one-line message names the variable. Secrets are wrapped in
//! [`Secret`], whose `Debug` never prints the value.
//!
//! Configuration sits between the domain (whose defaults it applies, e.g. the access policy)
//! and the adapters that read it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::domain::access::AccessPolicy;

/// Environment variable names, in one place (the README's configuration table lists them).
pub mod vars {
    pub const TABLE_NAME: &str = "TABLE_NAME";
    pub const DYNAMODB_ENDPOINT: &str = "DYNAMODB_ENDPOINT";
    pub const STRIPE_API_BASE: &str = "STRIPE_API_BASE";
    pub const STRIPE_SECRET_KEY: &str = "STRIPE_SECRET_KEY";
    pub const STRIPE_SECRETS_ARN: &str = "STRIPE_SECRETS_ARN";
    pub const STRIPE_WEBHOOK_SECRETS: &str = "STRIPE_WEBHOOK_SECRETS";
    pub const WEBHOOK_TOLERANCE_SECONDS: &str = "WEBHOOK_TOLERANCE_SECONDS";
    pub const ALLOWED_REDIRECT_ORIGINS: &str = "ALLOWED_REDIRECT_ORIGINS";
    pub const DEFAULT_RETURN_URL: &str = "DEFAULT_RETURN_URL";
    pub const JWT_HS256_SECRET: &str = "JWT_HS256_SECRET";
    pub const JWT_ISSUER: &str = "JWT_ISSUER";
    pub const JWT_AUDIENCE: &str = "JWT_AUDIENCE";
    pub const PLANS_PATH: &str = "PLANS_PATH";
    pub const PLANS_PARAMETER: &str = "PLANS_PARAMETER";
    pub const PRICE_CACHE_SECONDS: &str = "PRICE_CACHE_SECONDS";
    pub const API_BASE_PATH: &str = "API_BASE_PATH";
    pub const METRICS_NAMESPACE: &str = "METRICS_NAMESPACE";
    pub const ALLOW_PROMOTION_CODES: &str = "ALLOW_PROMOTION_CODES";
    pub const CHECKOUT_DUPLICATE_POLICY: &str = "CHECKOUT_DUPLICATE_POLICY";
    pub const BILLING_ADDRESS_COLLECTION: &str = "BILLING_ADDRESS_COLLECTION";
    pub const AUTOMATIC_TAX: &str = "AUTOMATIC_TAX";
    pub const TAX_ID_COLLECTION: &str = "TAX_ID_COLLECTION";
    pub const PAST_DUE_GRACE_DAYS: &str = "PAST_DUE_GRACE_DAYS";
    pub const CONNECT_ACCOUNTS: &str = "CONNECT_ACCOUNTS";
    pub const STRIPE_MODE: &str = "STRIPE_MODE";
    pub const CHANGE_PRORATION: &str = "CHANGE_PRORATION";
    pub const CANCEL_PRORATE: &str = "CANCEL_PRORATE";
    pub const USAGE_CACHE_SECONDS: &str = "USAGE_CACHE_SECONDS";
    pub const JWT_JWKS_URL: &str = "JWT_JWKS_URL";
    pub const AUTHORIZER_ROUTES: &str = "AUTHORIZER_ROUTES";
    pub const REPORTER_BUDGET_SECONDS: &str = "REPORTER_BUDGET_SECONDS";
    pub const RECONCILE_BUDGET_SECONDS: &str = "RECONCILE_BUDGET_SECONDS";
    pub const RECONCILE_SETTLE_SECONDS: &str = "RECONCILE_SETTLE_SECONDS";
    pub const USER_RATE_LIMIT_PER_MINUTE: &str = "USER_RATE_LIMIT_PER_MINUTE";
    pub const LOCAL_CLOCK_FILE: &str = "LOCAL_CLOCK_FILE";
}

/// The HS256 secret of the local stack (`dev/local.env`, the README). Published: a deployment
/// that accepts it accepts tokens anyone can mint, so it is refused outside a local run.
pub const PUBLISHED_LOCAL_JWT_SECRET: &str = "local-dev-jwt-secret-not-for-production-use";

/// A configuration problem, always about one variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var} {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl ConfigError {
    fn missing(var: &'static str) -> Self {
        Self {
            var,
            problem: "is not set".into(),
        }
    }
    fn invalid(var: &'static str, why: impl fmt::Display) -> Self {
        Self {
            var,
            problem: format!("is invalid: {why}"),
        }
    }
}

/// A secret value. `Debug` and `Display` are redacted so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where the Stripe secret key and webhook secrets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripeSecrets {
    /// Given directly in the environment (local runs, tests).
    Inline {
        secret_key: Option<Secret>,
        webhook_secrets: Vec<Secret>,
    },
    /// A Secrets Manager secret (ARN or name) holding
    /// `{"secret_key": "sk_…", "webhook_secrets": ["whsec_…"]}`, read once at startup.
    SecretsManager { secret_id: String },
}

/// What a function needs beyond the common settings; checked at startup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub stripe: bool,
    pub webhook_secrets: bool,
    pub redirects: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// HS256 secret for verifying `Authorization: Bearer` tokens when no API Gateway authorizer
    /// context is present (local runs only: refused with a live key and outside a local run
    /// when it is the published one).
    pub hs256_secret: Option<Secret>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// Where the issuer's RS256/ES256 signing keys come from: `JWT_JWKS_URL`, else OpenID
    /// discovery from an `https://` `JWT_ISSUER` when no HS256 secret is set. `None`: no keys.
    pub jwks: Option<JwksSource>,
    /// A local run (DynamoDB on loopback): keys may then be fetched over plain http from
    /// loopback addresses.
    pub local: bool,
}

/// Where the issuer's signing keys come from (see [`crate::adapters::jwks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// `JWT_JWKS_URL`.
    Url(Url),
    /// OpenID Connect discovery from the issuer (`JWT_ISSUER`).
    Discovery(Url),
}

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

/// What a deployment decides about subscription changes (the subscription function).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscriptionConfig {
    /// How a change made now is billed when the request does not say (`CHANGE_PRORATION`).
    pub proration: crate::domain::invoices::Proration,
    /// Whether cancelling now credits the unused time, invoiced at once (`CANCEL_PRORATE`).
    pub cancel_prorate: bool,
}

/// What a deployment decides about the sync engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// Connected accounts (Stripe Connect) whose events are applied, fetching on their behalf.
    /// Events of any other account are acknowledged and ignored. A connected account owns its
    /// objects' metadata, so for its events only an existing link names a user.
    pub connect_accounts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    pub dynamodb_endpoint: Option<Url>,
    /// Stripe API base, always ending in `/` (async-stripe appends `v1/...`).
    pub stripe_api_base: Option<Url>,
    pub stripe_secrets: StripeSecrets,
    pub webhook_tolerance: Duration,
    pub redirects: RedirectConfig,
    pub jwt: JwtConfig,
    pub plans_path: Option<PathBuf>,
    /// SSM parameter holding the plans catalog (deployments); wins over the embedded default.
    pub plans_parameter: Option<String>,
    /// How long prices read from Stripe are trusted (`GET /plans`, lookup keys → price ids).
    pub price_cache: Duration,
    /// How long a process trusts what a user may count (plan, period) before reading it again
    /// (`USAGE_CACHE_SECONDS`, default 10; 0 reads every time).
    pub usage_cache: Duration,
    /// How long one run of the usage reporter may work before it stops and leaves the rest to
    /// the next run (`REPORTER_BUDGET_SECONDS`, default 40).
    pub reporter_budget: Duration,
    /// How long one reconcile run may work before it saves its checkpoint and stops
    /// (`RECONCILE_BUDGET_SECONDS`, default 240, at most 240: the function's timeout is 300 s and
    /// one event may still take a while past the budget).
    pub reconcile_budget: Duration,
    /// Events younger than this are left to the webhook (`RECONCILE_SETTLE_SECONDS`, default 0,
    /// at most 3600; the template sets 300).
    pub reconcile_settle: Duration,
    /// The routes of the team's own API that need a feature (`AUTHORIZER_ROUTES`, JSON; the
    /// authorizer function's). Empty: every route needs a valid token only.
    pub authorizer_routes: crate::domain::routes::RouteFeatures,
    /// The API mapping of a custom domain (`billing` for `https://api.example.com/billing/…`),
    /// stripped from request paths before routing.
    pub api_base_path: Option<String>,
    /// CloudWatch namespace of the metrics the functions emit (EMF).
    pub metrics_namespace: String,
    pub checkout: CheckoutConfig,
    /// The tunable access rules (`PAST_DUE_GRACE_DAYS`).
    pub access: AccessPolicy,
    /// The sync engine's options (`CONNECT_ACCOUNTS`).
    pub sync: SyncOptions,
    /// Subscription changes (`CHANGE_PRORATION`, `CANCEL_PRORATE`).
    pub subscription: SubscriptionConfig,
    /// Which Stripe mode this deployment is (`STRIPE_MODE`: `live` or `test`), when said. It
    /// must agree with the key; it decides for functions without a key (entitlements) whether
    /// local-only shortcuts are refused.
    pub stripe_mode: Option<StripeMode>,
    /// Requests that call Stripe, per user and minute (`USER_RATE_LIMIT_PER_MINUTE`, default
    /// 30; 0 turns the limit off).
    pub rate_limit_per_minute: u32,
    /// A local run's shared clock (`LOCAL_CLOCK_FILE`): a file holding seconds to add to the
    /// system clock, written by the Stripe emulator when its clock moves. Refused outside a local
    /// run.
    pub local_clock_file: Option<PathBuf>,
}

/// Stripe's two modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StripeMode {
    Live,
    Test,
}

impl StripeMode {
    pub fn is_live(self) -> bool {
        self == StripeMode::Live
    }
}

pub const DEFAULT_WEBHOOK_TOLERANCE: Duration = Duration::from_secs(300);
/// Prices read from Stripe are trusted this long: a moved lookup key takes effect within it.
pub const DEFAULT_PRICE_CACHE: Duration = Duration::from_secs(300);

impl Config {
    /// Reads the process environment.
    pub fn from_env(needs: Needs) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok(), needs)
    }

    /// Reads configuration through `lookup` (tests pass a map instead of touching the process
    /// environment). Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>, needs: Needs) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());

        let table_name = get(vars::TABLE_NAME).ok_or(ConfigError::missing(vars::TABLE_NAME))?;
        if !valid_table_name(&table_name) {
            return Err(ConfigError::invalid(vars::TABLE_NAME, "3-255 characters of [A-Za-z0-9_.-]"));
        }
        let dynamodb_endpoint = get(vars::DYNAMODB_ENDPOINT)
            .map(|v| parse_http_url(vars::DYNAMODB_ENDPOINT, &v))
            .transpose()?;
        let stripe_api_base = get(vars::STRIPE_API_BASE)
            .map(|v| {
                let mut url = parse_http_url(vars::STRIPE_API_BASE, &v)?;
                if !url.path().ends_with('/') {
                    let path = format!("{}/", url.path());
                    url.set_path(&path);
                }
                Ok(url)
            })
            .transpose()?;

        let stripe_secrets = match get(vars::STRIPE_SECRETS_ARN) {
            Some(secret_id) => StripeSecrets::SecretsManager { secret_id },
            None => {
                let secret_key = get(vars::STRIPE_SECRET_KEY)
                    .map(|key| validate_secret_key(&key).map(|()| Secret::new(key)))
                    .transpose()?;
                let webhook_secrets = get(vars::STRIPE_WEBHOOK_SECRETS)
                    .map(|v| parse_webhook_secrets(&v))
                    .transpose()?
                    .unwrap_or_default();
                if needs.stripe && secret_key.is_none() {
                    return Err(ConfigError {
                        var: vars::STRIPE_SECRET_KEY,
                        problem: format!("is not set (nor {})", vars::STRIPE_SECRETS_ARN),
                    });
                }
                if needs.webhook_secrets && webhook_secrets.is_empty() {
                    return Err(ConfigError {
                        var: vars::STRIPE_WEBHOOK_SECRETS,
                        problem: format!("is not set (nor {})", vars::STRIPE_SECRETS_ARN),
                    });
                }
                StripeSecrets::Inline {
                    secret_key,
                    webhook_secrets,
                }
            }
        };

        let webhook_tolerance = match get(vars::WEBHOOK_TOLERANCE_SECONDS) {
            None => DEFAULT_WEBHOOK_TOLERANCE,
            Some(v) => match v.parse::<u64>() {
                Ok(secs) if (1..=3600).contains(&secs) => Duration::from_secs(secs),
                _ => {
                    return Err(ConfigError::invalid(
                        vars::WEBHOOK_TOLERANCE_SECONDS,
                        "expected whole seconds between 1 and 3600",
                    ));
                }
            },
        };

        let allowed_origins = get(vars::ALLOWED_REDIRECT_ORIGINS)
            .map(|v| parse_origins(&v))
            .transpose()?
            .unwrap_or_default();
        let default_return_url = get(vars::DEFAULT_RETURN_URL)
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

        let local_run = dynamodb_endpoint.as_ref().is_some_and(is_loopback);
        let jwt = JwtConfig {
            hs256_secret: get(vars::JWT_HS256_SECRET)
                .map(|v| {
                    if v.len() < 32 {
                        Err(ConfigError::invalid(vars::JWT_HS256_SECRET, "must be at least 32 bytes"))
                    } else {
                        Ok(Secret::new(v))
                    }
                })
                .transpose()?,
            issuer: get(vars::JWT_ISSUER),
            audience: get(vars::JWT_AUDIENCE),
            jwks: None,
            local: local_run,
        };
        let mut jwt = jwt;
        jwt.jwks = match get(vars::JWT_JWKS_URL) {
            Some(raw) => match Url::parse(&raw) {
                Ok(url) if url.scheme() == "https" || (url.scheme() == "http" && is_loopback(&url) && local_run) => {
                    Some(JwksSource::Url(url))
                }
                _ => {
                    return Err(ConfigError::invalid(
                        vars::JWT_JWKS_URL,
                        "expected an https URL (http only on loopback, in a local run)",
                    ));
                }
            },
            None => match (&jwt.hs256_secret, jwt.issuer.as_deref().map(Url::parse)) {
                (None, Some(Ok(issuer))) if issuer.scheme() == "https" => Some(JwksSource::Discovery(issuer)),
                _ => None,
            },
        };
        if jwt.jwks.is_some() && (jwt.issuer.is_none() || jwt.audience.is_none()) {
            return Err(ConfigError {
                var: if jwt.issuer.is_none() {
                    vars::JWT_ISSUER
                } else {
                    vars::JWT_AUDIENCE
                },
                problem: "is not set (required to verify tokens against the issuer's keys)".into(),
            });
        }
        if jwt.hs256_secret.is_some() && !local_run {
            return Err(ConfigError::invalid(
                vars::JWT_HS256_SECRET,
                format!(
                    "is accepted only for a local run ({} on loopback); deployed stacks verify tokens against the issuer's keys",
                    vars::DYNAMODB_ENDPOINT
                ),
            ));
        }
        if jwt.hs256_secret.is_some() && jwt.jwks.is_some() {
            return Err(ConfigError::invalid(
                vars::JWT_HS256_SECRET,
                format!(
                    "set it or {}, not both: a token must not choose how it is verified",
                    vars::JWT_JWKS_URL
                ),
            ));
        }
        if jwt.hs256_secret.is_some() && jwt.issuer.is_none() {
            return Err(ConfigError {
                var: vars::JWT_ISSUER,
                problem: format!("is not set (required with {})", vars::JWT_HS256_SECRET),
            });
        }
        if jwt.hs256_secret.is_some() && jwt.audience.is_none() {
            return Err(ConfigError {
                var: vars::JWT_AUDIENCE,
                problem: format!("is not set (required with {})", vars::JWT_HS256_SECRET),
            });
        }

        let plans_path = get(vars::PLANS_PATH).map(PathBuf::from);
        let plans_parameter = get(vars::PLANS_PARAMETER);
        if plans_path.is_some() && plans_parameter.is_some() {
            return Err(ConfigError::invalid(
                vars::PLANS_PARAMETER,
                format!("names a second catalog; set it or {}, not both", vars::PLANS_PATH),
            ));
        }
        let api_base_path = get(vars::API_BASE_PATH)
            .map(|v| {
                let trimmed = v.trim_matches('/').to_owned();
                if trimmed
                    .split('/')
                    .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b)))
                {
                    Ok(trimmed)
                } else {
                    Err(ConfigError::invalid(
                        vars::API_BASE_PATH,
                        "expected path segments such as `billing` or `v1/billing`",
                    ))
                }
            })
            .transpose()?;
        let seconds = |var: &'static str, default: u64, max: u64| -> Result<Duration, ConfigError> {
            match get(var) {
                None => Ok(Duration::from_secs(default)),
                Some(v) => match v.parse::<u64>() {
                    Ok(n) if n <= max => Ok(Duration::from_secs(n)),
                    _ => Err(ConfigError::invalid(var, format!("expected whole seconds from 0 to {max}"))),
                },
            }
        };
        let usage_cache = seconds(vars::USAGE_CACHE_SECONDS, 10, 300)?;
        let rate_limit_per_minute =
            match get(vars::USER_RATE_LIMIT_PER_MINUTE) {
                None => DEFAULT_RATE_LIMIT_PER_MINUTE,
                Some(v) => v.parse::<u32>().ok().filter(|n| *n <= 10_000).ok_or_else(|| {
                    ConfigError::invalid(vars::USER_RATE_LIMIT_PER_MINUTE, "expected a whole number from 0 (off) to 10000")
                })?,
            };
        let local_clock_file = local_clock_file(get(vars::LOCAL_CLOCK_FILE), dynamodb_endpoint.as_ref())?;
        // The reporter's Lambda timeout is 60 s: one send may still run past the budget.
        let reporter_budget = seconds(vars::REPORTER_BUDGET_SECONDS, 40, 45)?;
        let reconcile_budget = seconds(vars::RECONCILE_BUDGET_SECONDS, 240, 240)?;
        let reconcile_settle = seconds(vars::RECONCILE_SETTLE_SECONDS, 0, 3600)?;
        let authorizer_routes = match get(vars::AUTHORIZER_ROUTES) {
            None => crate::domain::routes::RouteFeatures::default(),
            Some(json) => {
                crate::domain::routes::RouteFeatures::parse(&json).map_err(|e| ConfigError::invalid(vars::AUTHORIZER_ROUTES, e))?
            }
        };
        let price_cache = match get(vars::PRICE_CACHE_SECONDS) {
            None => DEFAULT_PRICE_CACHE,
            Some(v) => match v.parse::<u64>() {
                Ok(secs) if secs <= 3600 => Duration::from_secs(secs),
                _ => {
                    return Err(ConfigError::invalid(
                        vars::PRICE_CACHE_SECONDS,
                        "expected whole seconds between 0 and 3600",
                    ));
                }
            },
        };

        let allow_promotion_codes = flag(get(vars::ALLOW_PROMOTION_CODES).as_deref(), vars::ALLOW_PROMOTION_CODES)?;
        let duplicate_policy = match get(vars::CHECKOUT_DUPLICATE_POLICY).as_deref() {
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
        let billing_address = match get(vars::BILLING_ADDRESS_COLLECTION).as_deref() {
            None => None,
            Some("auto") => Some(AddressCollection::Auto),
            Some("required") => Some(AddressCollection::Required),
            Some(_) => return Err(ConfigError::invalid(vars::BILLING_ADDRESS_COLLECTION, "expected auto or required")),
        };
        let collection = Collection {
            billing_address,
            automatic_tax: flag(get(vars::AUTOMATIC_TAX).as_deref(), vars::AUTOMATIC_TAX)?,
            tax_id: flag(get(vars::TAX_ID_COLLECTION).as_deref(), vars::TAX_ID_COLLECTION)?,
        };
        let checkout = CheckoutConfig {
            allow_promotion_codes,
            duplicate_policy,
            collection,
        };
        let access = match get(vars::PAST_DUE_GRACE_DAYS) {
            None => AccessPolicy::default(),
            Some(v) => match v.parse::<u64>() {
                Ok(days) if days <= 60 => AccessPolicy {
                    past_due_grace: Duration::from_secs(days * 86_400),
                },
                _ => {
                    return Err(ConfigError::invalid(
                        vars::PAST_DUE_GRACE_DAYS,
                        "expected whole days between 0 and 60",
                    ));
                }
            },
        };

        let subscription = SubscriptionConfig {
            proration: match get(vars::CHANGE_PRORATION).as_deref() {
                None => Default::default(),
                Some(v) => crate::domain::invoices::Proration::parse(v)
                    .ok_or_else(|| ConfigError::invalid(vars::CHANGE_PRORATION, "expected create_prorations, always_invoice or none"))?,
            },
            cancel_prorate: flag(get(vars::CANCEL_PRORATE).as_deref(), vars::CANCEL_PRORATE)?,
        };

        let sync = SyncOptions {
            connect_accounts: get(vars::CONNECT_ACCOUNTS)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|a| !a.is_empty())
                        .map(|a| {
                            if a.starts_with("acct_") && a.len() > 5 && a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                                Ok(a.to_owned())
                            } else {
                                Err(ConfigError::invalid(vars::CONNECT_ACCOUNTS, "expected comma-separated acct_… ids"))
                            }
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?
                .unwrap_or_default(),
        };

        let stripe_mode = match get(vars::STRIPE_MODE).as_deref() {
            None => None,
            Some("live") => Some(StripeMode::Live),
            Some("test") => Some(StripeMode::Test),
            Some(_) => return Err(ConfigError::invalid(vars::STRIPE_MODE, "expected live or test")),
        };
        if stripe_mode.is_some_and(StripeMode::is_live) && jwt.hs256_secret.is_some() {
            // The HS256 fallback exists for local runs; with live money it would let anyone who
            // holds that one shared secret act as any user.
            return Err(ConfigError::invalid(
                vars::JWT_HS256_SECRET,
                "must not be set in live mode (verify tokens with the API Gateway JWT authorizer)",
            ));
        }

        Ok(Self {
            table_name,
            dynamodb_endpoint,
            stripe_api_base,
            stripe_secrets,
            webhook_tolerance,
            redirects,
            jwt,
            plans_path,
            plans_parameter,
            price_cache,
            usage_cache,
            reporter_budget,
            reconcile_budget,
            reconcile_settle,
            authorizer_routes,
            api_base_path,
            metrics_namespace: get(vars::METRICS_NAMESPACE).unwrap_or_else(|| "StripeLambda".to_owned()),
            checkout,
            access,
            sync,
            subscription,
            stripe_mode,
            rate_limit_per_minute,
            local_clock_file,
        })
    }
}

/// The default of `USER_RATE_LIMIT_PER_MINUTE`.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 30;

/// `LOCAL_CLOCK_FILE`, only in a local run (DynamoDB on loopback): a deployed stack always
/// keeps the system's time.
fn local_clock_file(value: Option<String>, dynamodb_endpoint: Option<&Url>) -> Result<Option<PathBuf>, ConfigError> {
    match value {
        None => Ok(None),
        Some(_) if !dynamodb_endpoint.is_some_and(is_loopback) => Err(ConfigError::invalid(
            vars::LOCAL_CLOCK_FILE,
            "is accepted only for a local run (DYNAMODB_ENDPOINT on loopback)",
        )),
        Some(path) => Ok(Some(PathBuf::from(path))),
    }
}

/// `true`/`false`, default `false`.
fn flag(value: Option<&str>, var: &'static str) -> Result<bool, ConfigError> {
    match value {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ConfigError::invalid(var, "expected true or false")),
    }
}

fn valid_table_name(name: &str) -> bool {
    (3..=255).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// Whether `url` points at this machine (a local stand-in, not AWS).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn parse_http_url(var: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError::invalid(var, e))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::invalid(var, "expected an http(s) URL"));
    }
    Ok(url)
}

fn validate_secret_key(key: &str) -> Result<(), ConfigError> {
    let known = ["sk_test_", "sk_live_", "rk_test_", "rk_live_"];
    if known.iter().any(|p| key.starts_with(p)) && key.len() > 8 && key.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            vars::STRIPE_SECRET_KEY,
            "expected a Stripe secret or restricted key (sk_… / rk_…)",
        ))
    }
}

/// Comma-separated `whsec_…` secrets; several are allowed while a secret is rolled.
pub fn parse_webhook_secrets(value: &str) -> Result<Vec<Secret>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.starts_with("whsec_") && s.len() > 6 {
                Ok(Secret::new(s))
            } else {
                Err(ConfigError::invalid(
                    vars::STRIPE_WEBHOOK_SECRETS,
                    "expected comma-separated whsec_… values",
                ))
            }
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(pairs: &[(&str, &str)], needs: Needs) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned(), needs)
    }

    const FULL: &[(&str, &str)] = &[
        ("TABLE_NAME", "billing"),
        ("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000"),
        ("STRIPE_API_BASE", "http://127.0.0.1:12111"),
        ("STRIPE_SECRET_KEY", "sk_test_local"),
        ("STRIPE_WEBHOOK_SECRETS", "whsec_one, whsec_two"),
        ("ALLOWED_REDIRECT_ORIGINS", "http://localhost:3000,https://app.example.com"),
        ("DEFAULT_RETURN_URL", "http://localhost:3000/billing"),
        ("JWT_HS256_SECRET", "local-dev-secret-local-dev-secret!"),
        ("JWT_ISSUER", "stripe-lambda-local"),
        ("JWT_AUDIENCE", "stripe-lambda"),
    ];

    #[test]
    fn full_config_parses() {
        let all = Needs {
            stripe: true,
            webhook_secrets: true,
            redirects: true,
        };
        let config = load(FULL, all).unwrap();
        assert_eq!(config.table_name, "billing");
        assert_eq!(config.stripe_api_base.unwrap().as_str(), "http://127.0.0.1:12111/");
        let StripeSecrets::Inline {
            webhook_secrets,
            secret_key,
        } = config.stripe_secrets
        else {
            panic!("inline")
        };
        assert_eq!(webhook_secrets.len(), 2);
        assert_eq!(secret_key.unwrap().expose(), "sk_test_local");
        assert_eq!(config.webhook_tolerance, Duration::from_secs(300));
        assert!(config.redirects.allows(&Url::parse("https://app.example.com/x?y=1").unwrap()));
        assert!(!config.redirects.allows(&Url::parse("https://evil.example.com/").unwrap()));
        assert!(
            !config.redirects.allows(&Url::parse("http://app.example.com/").unwrap()),
            "scheme is part of the origin"
        );
    }

    #[test]
    fn each_problem_names_its_variable() {
        let needs = Needs {
            stripe: true,
            webhook_secrets: true,
            redirects: true,
        };
        let cases: &[(&str, Option<&str>)] = &[
            ("TABLE_NAME", None),
            ("TABLE_NAME", Some("a b")),
            ("DYNAMODB_ENDPOINT", Some("not a url")),
            ("STRIPE_API_BASE", Some("ftp://x")),
            ("STRIPE_SECRET_KEY", None),
            ("STRIPE_SECRET_KEY", Some("pk_test_publishable")),
            ("STRIPE_WEBHOOK_SECRETS", Some("whsec_ok,nope")),
            ("STRIPE_WEBHOOK_SECRETS", None),
            ("WEBHOOK_TOLERANCE_SECONDS", Some("-1")),
            ("ALLOWED_REDIRECT_ORIGINS", Some("https://app.example.com/path")),
            ("ALLOWED_REDIRECT_ORIGINS", None),
            ("DEFAULT_RETURN_URL", Some("https://elsewhere.example.com/")),
            ("JWT_HS256_SECRET", Some("short")),
            ("JWT_ISSUER", None),
            ("ALLOW_PROMOTION_CODES", Some("yes")),
            ("CONNECT_ACCOUNTS", Some("everyone")),
            ("PRICE_CACHE_SECONDS", Some("a day")),
            ("API_BASE_PATH", Some("a b")),
            ("CHECKOUT_DUPLICATE_POLICY", Some("never")),
            ("PAST_DUE_GRACE_DAYS", Some("-3")),
        ];
        for (var, value) in cases {
            let pairs: Vec<(&str, &str)> = FULL
                .iter()
                .copied()
                .filter(|(k, _)| k != var)
                .chain(value.map(|v| (*var, v)))
                .collect();
            let err = load(&pairs, needs).expect_err(var);
            assert_eq!(err.var, *var, "{err}");
            assert!(err.to_string().starts_with(var), "one line naming the variable: {err}");
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn needs_decide_what_is_required() {
        let config = load(&[("TABLE_NAME", "billing")], Needs::default()).unwrap();
        assert_eq!(
            config.stripe_secrets,
            StripeSecrets::Inline {
                secret_key: None,
                webhook_secrets: vec![]
            }
        );
        assert!(config.jwt.hs256_secret.is_none());
    }

    #[test]
    fn secrets_manager_replaces_inline_secrets() {
        let config = load(
            &[
                ("TABLE_NAME", "billing"),
                ("STRIPE_SECRETS_ARN", "arn:aws:secretsmanager:eu-west-1:1:secret:s"),
            ],
            Needs {
                stripe: true,
                webhook_secrets: true,
                redirects: false,
            },
        )
        .unwrap();
        assert!(matches!(config.stripe_secrets, StripeSecrets::SecretsManager { .. }));
    }

    #[test]
    fn a_shared_local_clock_and_the_rate_limit() {
        let base = [("TABLE_NAME", "billing"), ("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000")];
        let config = load(&base, Needs::default()).unwrap();
        assert_eq!((config.rate_limit_per_minute, config.local_clock_file), (30, None));
        let clock = load(&[base[0], base[1], ("LOCAL_CLOCK_FILE", "/tmp/clock")], Needs::default()).unwrap();
        assert_eq!(clock.local_clock_file.as_deref(), Some(std::path::Path::new("/tmp/clock")));
        let deployed = load(&[base[0], ("LOCAL_CLOCK_FILE", "/tmp/clock")], Needs::default()).unwrap_err();
        assert_eq!(deployed.var, "LOCAL_CLOCK_FILE", "a deployed stack keeps the system's time");
        assert_eq!(
            load(&[base[0], ("USER_RATE_LIMIT_PER_MINUTE", "0")], Needs::default())
                .unwrap()
                .rate_limit_per_minute,
            0
        );
        assert!(load(&[base[0], ("USER_RATE_LIMIT_PER_MINUTE", "-1")], Needs::default()).is_err());
    }

    #[test]
    fn hs256_secrets_are_refused_outside_a_local_run() {
        let with = |endpoint: Option<&str>| {
            let mut pairs: Vec<(&str, &str)> = vec![
                ("TABLE_NAME", "billing"),
                ("JWT_HS256_SECRET", "a-private-secret-of-at-least-32-bytes!!"),
                ("JWT_ISSUER", "i"),
                ("JWT_AUDIENCE", "a"),
            ];
            pairs.extend(endpoint.map(|e| ("DYNAMODB_ENDPOINT", e)));
            load(&pairs, Needs::default())
        };
        assert!(with(Some("http://127.0.0.1:8000")).is_ok());
        assert!(with(Some("http://localhost:8000")).is_ok());
        let err = with(None).unwrap_err();
        assert_eq!(err.var, "JWT_HS256_SECRET", "{err}");
        assert!(err.to_string().contains("only for a local run"), "{err}");
        assert_eq!(
            with(Some("https://dynamodb.eu-west-1.amazonaws.com")).unwrap_err().var,
            "JWT_HS256_SECRET"
        );
    }

    #[test]
    fn token_keys_come_from_a_url_or_discovery_never_beside_a_secret() {
        let base = [("TABLE_NAME", "billing"), ("JWT_AUDIENCE", "a")];
        let load_with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            load(&pairs, Needs::default())
        };
        let discovered = load_with(&[("JWT_ISSUER", "https://issuer.example.com/pool")]).unwrap();
        assert_eq!(
            discovered.jwt.jwks,
            Some(JwksSource::Discovery(Url::parse("https://issuer.example.com/pool").unwrap()))
        );
        let listed = load_with(&[
            ("JWT_ISSUER", "https://i.example.com"),
            ("JWT_JWKS_URL", "https://keys.example.com/jwks"),
        ])
        .unwrap();
        assert!(matches!(listed.jwt.jwks, Some(JwksSource::Url(_))));
        // Plain http only to loopback, in a local run.
        let deployed_http = load_with(&[
            ("JWT_ISSUER", "https://i.example.com"),
            ("JWT_JWKS_URL", "http://127.0.0.1:9001/jwks"),
        ]);
        assert_eq!(deployed_http.unwrap_err().var, "JWT_JWKS_URL");
        let local_http = load_with(&[
            ("JWT_ISSUER", "https://i.example.com"),
            ("JWT_JWKS_URL", "http://127.0.0.1:9001/jwks"),
            ("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000"),
        ]);
        assert!(local_http.is_ok());
        let both = load_with(&[
            ("JWT_ISSUER", "https://i.example.com"),
            ("JWT_JWKS_URL", "https://keys.example.com/jwks"),
            ("JWT_HS256_SECRET", "a-private-secret-of-at-least-32-bytes!!"),
            ("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000"),
        ]);
        assert_eq!(both.unwrap_err().var, "JWT_HS256_SECRET");
        let no_audience = load(
            &[("TABLE_NAME", "billing"), ("JWT_ISSUER", "https://i.example.com")],
            Needs::default(),
        );
        assert_eq!(no_audience.unwrap_err().var, "JWT_AUDIENCE");
        // A local issuer name is no URL: no keys, bearer tokens need the local secret.
        assert_eq!(load_with(&[("JWT_ISSUER", "stripe-lambda-local")]).unwrap().jwt.jwks, None);
    }

    #[test]
    fn checkout_collects_what_the_deployment_says() {
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = vec![("TABLE_NAME", "billing")];
            pairs.extend_from_slice(extra);
            load(&pairs, Needs::default())
        };
        assert_eq!(with(&[]).unwrap().checkout.collection, Collection::default());
        let all = with(&[
            ("BILLING_ADDRESS_COLLECTION", "required"),
            ("AUTOMATIC_TAX", "true"),
            ("TAX_ID_COLLECTION", "true"),
        ])
        .unwrap();
        assert_eq!(
            all.checkout.collection,
            Collection {
                billing_address: Some(AddressCollection::Required),
                automatic_tax: true,
                tax_id: true
            }
        );
        assert_eq!(
            with(&[("BILLING_ADDRESS_COLLECTION", "always")]).unwrap_err().var,
            "BILLING_ADDRESS_COLLECTION"
        );
        assert_eq!(with(&[("AUTOMATIC_TAX", "yes please")]).unwrap_err().var, "AUTOMATIC_TAX");
    }

    #[test]
    fn one_catalog_source_at_a_time() {
        let err = load(
            &[
                ("TABLE_NAME", "billing"),
                ("PLANS_PATH", "/tmp/p.json"),
                ("PLANS_PARAMETER", "stripe-lambda/plans"),
            ],
            Needs::default(),
        )
        .unwrap_err();
        assert_eq!(err.var, "PLANS_PARAMETER");
        let config = load(
            &[("TABLE_NAME", "billing"), ("PLANS_PARAMETER", "stripe-lambda/plans")],
            Needs::default(),
        )
        .unwrap();
        assert_eq!(config.plans_parameter.as_deref(), Some("stripe-lambda/plans"));
        assert_eq!(config.price_cache, DEFAULT_PRICE_CACHE);
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(format!("{:?}", Secret::new("sk_test_123")), "Secret(***)");
    }

    #[test]
    fn live_mode_refuses_the_hs256_fallback_even_without_a_key() {
        // The entitlements function holds no Stripe key: STRIPE_MODE says what the deployment is.
        let vars = [
            ("TABLE_NAME", "billing"),
            ("STRIPE_MODE", "live"),
            ("JWT_HS256_SECRET", "a-deployment-secret-of-32-bytes-min!"),
            ("JWT_ISSUER", "i"),
            ("JWT_AUDIENCE", "a"),
            ("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000"),
        ];
        let lookup = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned());
        let err = Config::from_lookup(lookup, Needs::default()).unwrap_err();
        assert_eq!(err.var, "JWT_HS256_SECRET", "{err}");
        assert!(err.to_string().contains("live mode"), "{err}");
        let test = |k: &str| if k == "STRIPE_MODE" { Some("test".to_owned()) } else { lookup(k) };
        assert_eq!(
            Config::from_lookup(test, Needs::default()).unwrap().stripe_mode,
            Some(StripeMode::Test)
        );
        let bad = |k: &str| if k == "STRIPE_MODE" { Some("prod".to_owned()) } else { lookup(k) };
        assert_eq!(Config::from_lookup(bad, Needs::default()).unwrap_err().var, "STRIPE_MODE");
    }
}
