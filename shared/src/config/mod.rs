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

mod checkout;
mod events;
mod jwt;
pub mod rules;
mod stripe;

pub use self::checkout::{AddressCollection, CheckoutConfig, Collection, DuplicatePolicy, RedirectConfig, TrialEndWithoutCard};
pub use self::events::{DEFAULT_EVENT_BUS_NAME, DEFAULT_EVENT_SOURCE, EventsConfig, STRIPE_PARTNER_PREFIX};
pub use self::jwt::{JwksSource, JwtConfig, OrgClaims};
pub use self::rules::{SubscriptionConfig, SyncOptions};
pub use self::stripe::{StripeMode, StripeSecrets, parse_webhook_secrets};

/// Environment variable names, in one place (`docs/configuration.md` lists them).
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
    pub const ORG_ID_CLAIM: &str = "ORG_ID_CLAIM";
    pub const ORG_ROLE_CLAIM: &str = "ORG_ROLE_CLAIM";
    pub const ORG_ADMIN_ROLES: &str = "ORG_ADMIN_ROLES";
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
    pub const PAUSE_BEHAVIOR: &str = "PAUSE_BEHAVIOR";
    pub const PAUSED_ACCESS: &str = "PAUSED_ACCESS";
    pub const TRIAL_END_WITHOUT_CARD: &str = "TRIAL_END_WITHOUT_CARD";
    pub const USAGE_CACHE_SECONDS: &str = "USAGE_CACHE_SECONDS";
    pub const JWT_JWKS_URL: &str = "JWT_JWKS_URL";
    pub const AUTHORIZER_ROUTES: &str = "AUTHORIZER_ROUTES";
    pub const REPORTER_BUDGET_SECONDS: &str = "REPORTER_BUDGET_SECONDS";
    pub const RECONCILE_BUDGET_SECONDS: &str = "RECONCILE_BUDGET_SECONDS";
    pub const RECONCILE_SETTLE_SECONDS: &str = "RECONCILE_SETTLE_SECONDS";
    pub const USER_RATE_LIMIT_PER_MINUTE: &str = "USER_RATE_LIMIT_PER_MINUTE";
    pub const LOCAL_CLOCK_FILE: &str = "LOCAL_CLOCK_FILE";
    pub const EVENT_BUS_NAME: &str = "EVENT_BUS_NAME";
    pub const EVENT_SOURCE: &str = "EVENT_SOURCE";
    pub const EVENTBRIDGE_ENDPOINT: &str = "EVENTBRIDGE_ENDPOINT";
    pub const SES_ENDPOINT: &str = "SES_ENDPOINT";
    pub const EMAIL_SENDER: &str = "EMAIL_SENDER";
    pub const BILLING_PORTAL_LINK: &str = "BILLING_PORTAL_LINK";
    pub const STRIPE_PARTNER_EVENT_SOURCE: &str = "STRIPE_PARTNER_EVENT_SOURCE";
    pub const PUBLISHER_BUDGET_SECONDS: &str = "PUBLISHER_BUDGET_SECONDS";
}

/// The HS256 secret of the local stack (`dev/local.env`, `docs/local-development.md`). Published: a deployment
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

/// What a function needs beyond the common settings; checked at startup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub stripe: bool,
    pub webhook_secrets: bool,
    pub redirects: bool,
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
    /// Domain events: the bus, the source, the optional emails.
    pub events: EventsConfig,
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
    /// environment). Empty values count as unset. Each section reads and checks its own
    /// variables; this only wires them, in the order their problems are reported.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>, needs: Needs) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let table_name = env.get(vars::TABLE_NAME).ok_or(ConfigError::missing(vars::TABLE_NAME))?;
        if !valid_table_name(&table_name) {
            return Err(ConfigError::invalid(vars::TABLE_NAME, "3-255 characters of [A-Za-z0-9_.-]"));
        }
        let dynamodb_endpoint = env
            .get(vars::DYNAMODB_ENDPOINT)
            .map(|v| parse_http_url(vars::DYNAMODB_ENDPOINT, &v))
            .transpose()?;
        let local_run = dynamodb_endpoint.as_ref().is_some_and(is_loopback);
        let stripe_api_base = stripe::read_api_base(&env)?;
        let stripe_secrets = StripeSecrets::read(&env, needs)?;
        let webhook_tolerance = match env.get(vars::WEBHOOK_TOLERANCE_SECONDS) {
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
        let redirects = RedirectConfig::read(&env, needs)?;
        let jwt = JwtConfig::read(&env, local_run)?;
        let plans_path = env.get(vars::PLANS_PATH).map(PathBuf::from);
        let plans_parameter = env.get(vars::PLANS_PARAMETER);
        if plans_path.is_some() && plans_parameter.is_some() {
            return Err(ConfigError::invalid(
                vars::PLANS_PARAMETER,
                format!("names a second catalog; set it or {}, not both", vars::PLANS_PATH),
            ));
        }
        let api_base_path = read_api_base_path(&env)?;
        let usage_cache = env.seconds(vars::USAGE_CACHE_SECONDS, 10, 300)?;
        let rate_limit_per_minute =
            match env.get(vars::USER_RATE_LIMIT_PER_MINUTE) {
                None => DEFAULT_RATE_LIMIT_PER_MINUTE,
                Some(v) => v.parse::<u32>().ok().filter(|n| *n <= 10_000).ok_or_else(|| {
                    ConfigError::invalid(vars::USER_RATE_LIMIT_PER_MINUTE, "expected a whole number from 0 (off) to 10000")
                })?,
            };
        let local_clock_file = local_clock_file(env.get(vars::LOCAL_CLOCK_FILE), dynamodb_endpoint.as_ref())?;
        // The reporter's Lambda timeout is 60 s: one send may still run past the budget.
        let reporter_budget = env.seconds(vars::REPORTER_BUDGET_SECONDS, 40, 45)?;
        let reconcile_budget = env.seconds(vars::RECONCILE_BUDGET_SECONDS, 240, 240)?;
        let reconcile_settle = env.seconds(vars::RECONCILE_SETTLE_SECONDS, 0, 3600)?;
        let authorizer_routes = match env.get(vars::AUTHORIZER_ROUTES) {
            None => crate::domain::routes::RouteFeatures::default(),
            Some(json) => {
                crate::domain::routes::RouteFeatures::parse(&json).map_err(|e| ConfigError::invalid(vars::AUTHORIZER_ROUTES, e))?
            }
        };
        let price_cache = match env.get(vars::PRICE_CACHE_SECONDS) {
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
        let checkout = CheckoutConfig::read(&env)?;
        let access = rules::read_access(&env)?;
        let subscription = SubscriptionConfig::read(&env)?;
        let sync = SyncOptions::read(&env)?;
        let events = EventsConfig::read(&env)?;
        let stripe_mode = StripeMode::read(&env)?;
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
            metrics_namespace: env.get(vars::METRICS_NAMESPACE).unwrap_or_else(|| "StripeLambda".to_owned()),
            checkout,
            access,
            sync,
            subscription,
            stripe_mode,
            rate_limit_per_minute,
            local_clock_file,
            events,
        })
    }
}

/// The environment as configuration reads it: trimmed values, empty ones unset.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// Whole seconds from 0 to `max`; unset: `default`.
    fn seconds(&self, var: &'static str, default: u64, max: u64) -> Result<Duration, ConfigError> {
        match self.get(var) {
            None => Ok(Duration::from_secs(default)),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n <= max => Ok(Duration::from_secs(n)),
                _ => Err(ConfigError::invalid(var, format!("expected whole seconds from 0 to {max}"))),
            },
        }
    }

    /// `true`/`false`, default `false`.
    fn flag(&self, var: &'static str) -> Result<bool, ConfigError> {
        match self.get(var).as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(ConfigError::invalid(var, "expected true or false")),
        }
    }
}

/// `API_BASE_PATH`: path segments such as `billing` or `v1/billing`, slashes trimmed.
fn read_api_base_path(env: &Env<'_>) -> Result<Option<String>, ConfigError> {
    env.get(vars::API_BASE_PATH)
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
        .transpose()
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
