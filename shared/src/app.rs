//! The composition root: per-process state, built once in `main` (or by a test against local
//! endpoints) and borrowed by every invocation. It wires the layers together and hands out the
//! services: [`AppState::stripe`], [`AppState::sync`], [`AppState::gate`].

use std::sync::Arc;
use std::time::Duration;

use crate::adapters::secrets::{self, SecretsError, WebhookSecrets};
use crate::adapters::store::Store;
use crate::adapters::stripe::{CallError, GatewayError, Stripe};
use crate::config::{Config, ConfigError, Needs, StripeMode, vars};
use crate::domain::clock::{Clock, SystemClock};
use crate::domain::plans::{Catalog, CatalogError};
use crate::edge::identity::IdentityVerifier;
use crate::services::gate::Gate;
use crate::services::reconcile::Reconciler;
use crate::services::reporter::Reporter;
use crate::services::sync::Engine;
use crate::services::usage::{AllowanceCache, Usage};

/// How long `main` waits for the connections it opens during init.
pub const WARM_UP_BUDGET: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("plans catalog: {0}")]
    Catalog(#[from] CatalogError),
    #[error("secrets: {0}")]
    Secrets(#[from] SecretsError),
    #[error("STRIPE_API_BASE: stripe client: {0}")]
    Stripe(#[from] CallError),
    #[error("token signing keys (JWT_JWKS_URL / JWT_ISSUER): {0}")]
    Jwks(#[from] crate::adapters::jwks::JwksError),
}

/// Everything a function needs, built once per process.
pub struct AppState {
    pub config: Config,
    pub catalog: Catalog,
    pub store: Store,
    pub identity: IdentityVerifier,
    /// Present when the function declared [`Needs::stripe`]; see [`AppState::stripe`].
    stripe: Option<Stripe>,
    /// Present (non-empty) when the function declared [`Needs::webhook_secrets`].
    pub webhook_secrets: WebhookSecrets,
    /// Whether the configured Stripe key is a live-mode key (`sk_live_…`/`rk_live_…`).
    pub livemode: bool,
    /// The time the sync engine and the services read.
    pub clock: Arc<dyn Clock>,
    /// What users may count, kept briefly (see [`crate::services::usage`]).
    pub usage_cache: AllowanceCache,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("table", &self.store.table())
            .field("stripe", &self.stripe.is_some())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Reads the environment, loads the catalog, resolves secrets, builds the clients and opens
    /// their connections ([`AppState::warm_up`]).
    pub async fn from_env(needs: Needs) -> Result<Self, StartupError> {
        let config = Config::from_env(needs)?;
        let sdk = crate::adapters::aws::sdk_config().await;
        let dynamodb = crate::adapters::aws::dynamodb_client(&sdk, &config);
        let (resolved, source) = secrets::resolve(&config, &sdk).await?;
        let parameter = config.plans_parameter.clone();
        let mut state = Self::build(config, needs, dynamodb, resolved)?;
        if source.is_some() {
            state.webhook_secrets = WebhookSecrets::new(state.webhook_secrets.current(), source, state.clock.now());
        }
        if let Some(name) = parameter {
            let ssm = crate::adapters::catalog::ssm_client(&sdk, None);
            state.catalog = crate::adapters::catalog::from_parameter(&ssm, &name).await?;
        }
        crate::config::rules::check_paused_access(&state.config.access, &state.catalog)?;
        // The issuer's keys are fetched on the first bearer token (most functions sit behind the
        // HTTP API's JWT authorizer and never see one); the authorizer fetches them at init
        // (`require_keys`).
        state.warm_up().await;
        Ok(state)
    }

    /// Assembles the state from parts (tests pass a DynamoDB client for moto).
    pub fn build(
        config: Config,
        needs: Needs,
        dynamodb: aws_sdk_dynamodb::Client,
        secrets: secrets::ResolvedSecrets,
    ) -> Result<Self, StartupError> {
        let catalog = Catalog::load(config.plans_path.as_deref())?;
        crate::config::rules::check_paused_access(&config.access, &catalog)?;
        let stripe = match (&secrets.secret_key, needs.stripe) {
            (Some(key), true) => Some(Stripe::new(
                config.stripe_api_base.as_ref().map(|u| u.as_str()),
                key,
                config.price_cache,
            )?),
            (None, true) => {
                return Err(ConfigError {
                    var: vars::STRIPE_SECRET_KEY,
                    problem: "is not set".into(),
                }
                .into());
            }
            (_, false) => None,
        };
        if needs.webhook_secrets && secrets.webhook_secrets.is_empty() {
            return Err(ConfigError {
                var: vars::STRIPE_WEBHOOK_SECRETS,
                problem: "is empty".into(),
            }
            .into());
        }
        let key_mode = secrets.secret_key.as_ref().map(|k| {
            if k.expose().starts_with("sk_live_") || k.expose().starts_with("rk_live_") {
                StripeMode::Live
            } else {
                StripeMode::Test
            }
        });
        if let (Some(said), Some(key)) = (config.stripe_mode, key_mode)
            && said != key
        {
            return Err(ConfigError {
                var: vars::STRIPE_MODE,
                problem: format!("is {said:?} but the Stripe key is a {key:?} key").to_lowercase(),
            }
            .into());
        }
        let livemode = key_mode.or(config.stripe_mode).is_some_and(StripeMode::is_live);
        if livemode && config.jwt.hs256_secret.is_some() {
            // The HS256 fallback exists for local runs; with live money it would let anyone who
            // holds that one shared secret act as any user.
            return Err(ConfigError {
                var: vars::JWT_HS256_SECRET,
                problem: "must not be set with a live Stripe key (verify tokens with the API Gateway JWT authorizer)".into(),
            }
            .into());
        }
        if livemode && config.stripe_api_base.as_ref().is_some_and(|u| u.scheme() != "https") {
            return Err(ConfigError {
                var: vars::STRIPE_API_BASE,
                problem: "must be https with a live Stripe key".into(),
            }
            .into());
        }
        Ok(Self {
            store: Store::new(dynamodb, config.table_name.clone()),
            identity: IdentityVerifier::new(&config.jwt)?,
            catalog,
            stripe,
            webhook_secrets: WebhookSecrets::new(secrets.webhook_secrets, None, crate::domain::clock::now_epoch()),
            livemode,
            clock: match &config.local_clock_file {
                Some(path) => Arc::new(crate::adapters::local_clock::FileOffsetClock::new(path.clone())),
                None => Arc::new(SystemClock),
            },
            usage_cache: AllowanceCache::new(config.usage_cache),
            config,
        })
    }

    /// For a function that cannot work without the issuer's keys (the authorizer): fetches
    /// them now, an error when keys are configured and cannot be fetched.
    pub async fn require_keys(&self) -> Result<(), StartupError> {
        self.identity.load_keys().await?;
        Ok(())
    }

    /// The same state reading time from `clock` (tests place events and fetches in time).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The path of `req` a function routes on (see [`crate::edge::http::path_segments`]).
    pub fn path<'r>(&self, req: &'r lambda_http::Request) -> Vec<&'r str> {
        crate::edge::http::path_segments(req, self.config.api_base_path.as_deref())
    }

    /// The Stripe port, for functions that declared [`Needs::stripe`].
    pub fn stripe(&self) -> Result<&Stripe, GatewayError> {
        self.stripe.as_ref().ok_or(GatewayError::NotConfigured)
    }

    /// The process's parts, borrowed for one request (what the services build on).
    pub fn context(&self) -> crate::services::context::Context<'_> {
        crate::services::context::Context::new(&self.store, self.stripe.as_ref(), &self.catalog, self.clock.as_ref(), &self.config)
    }

    /// The publisher of domain events to `bus`.
    pub fn publisher<'s>(&'s self, bus: &'s crate::adapters::bus::Bus) -> crate::services::publisher::Publisher<'s> {
        crate::services::publisher::Publisher::new(
            &self.store,
            bus,
            &self.catalog,
            &self.config.access,
            self.clock.as_ref(),
            self.config.events.publisher_budget,
        )
    }

    /// The sync engine: the one path by which Stripe state reaches the table.
    pub fn sync(&self) -> Result<Engine<'_>, GatewayError> {
        self.context().sync()
    }

    /// Feature gating (one Query, no Stripe call).
    pub fn gate(&self) -> Gate<'_> {
        Gate::new(&self.store, &self.catalog, self.config.access, self.clock.as_ref())
    }

    /// Support's lookups, grants and resyncs (the `admin` function).
    pub fn support(&self) -> crate::services::support::Support<'_> {
        crate::services::support::Support::new(self.context())
    }

    /// An organization's seats: list, assign, release.
    pub fn seats(&self) -> crate::services::seats::Seats<'_> {
        crate::services::seats::Seats::new(&self.store, &self.catalog, self.clock.as_ref(), self.config.access)
    }

    /// Reconcile: missed webhooks repaired through the sync engine, with this process's budget,
    /// settle time and the key's mode (for functions with a Stripe key).
    pub fn reconciler(&self) -> Result<Reconciler<'_>, GatewayError> {
        Ok(Reconciler::new(
            self.sync()?,
            &self.store,
            self.stripe()?,
            self.clock.as_ref(),
            self.config.reconcile_budget,
        )
        .with_settle(self.config.reconcile_settle.as_secs())
        .with_livemode(self.livemode))
    }

    /// The usage reporter: metered units to Stripe's meters (for functions with a Stripe key).
    pub fn reporter(&self) -> Result<Reporter<'_>, GatewayError> {
        self.context().reporter()
    }

    /// Checkout: sessions for plans and custom amounts, the eager sync after Checkout.
    pub fn checkouts(&self) -> crate::services::checkout::Checkouts<'_> {
        crate::services::checkout::Checkouts::new(self.context())
    }

    /// Subscriptions: list, cancel, resume, change, invoices.
    pub fn subscriptions(&self) -> crate::services::subscriptions::Subscriptions<'_> {
        crate::services::subscriptions::Subscriptions::new(self.context())
    }

    /// The per-user rate of requests that call Stripe (`USER_RATE_LIMIT_PER_MINUTE`).
    pub fn rate_limiter(&self) -> crate::services::ratelimit::RateLimiter<'_> {
        self.context().rate_limiter()
    }

    /// Usage metering: count units against the user's quota, keep metered units for Stripe.
    pub fn usage(&self) -> Usage<'_> {
        Usage::new(
            &self.store,
            &self.catalog,
            self.clock.as_ref(),
            self.config.access,
            &self.usage_cache,
        )
    }

    /// Opens the DynamoDB and Stripe connections during init, which Lambda runs before the
    /// first request, within [`WARM_UP_BUDGET`]. A failure is logged, not fatal: the first
    /// request then connects itself.
    pub async fn warm_up(&self) {
        let store = async {
            if let Err(err) = self.store.warm_up().await {
                tracing::warn!(error = %crate::edge::problem::cause_chain(&err), "dynamodb warm-up failed");
            }
        };
        let stripe = async {
            if let Some(stripe) = &self.stripe
                && let Err(err) = stripe.warm_up().await
            {
                tracing::warn!(error = %crate::edge::problem::cause_chain(&err), "stripe warm-up failed");
            }
        };
        if tokio::time::timeout(WARM_UP_BUDGET, async { tokio::join!(store, stripe) })
            .await
            .is_err()
        {
            tracing::warn!(budget = ?WARM_UP_BUDGET, "warm-up did not finish in time; continuing");
        }
    }
}

/// Logs one line naming what is wrong and ends the process: a Lambda that cannot start must
/// fail its init, not limp along.
pub fn exit_on_startup_error(err: StartupError) -> ! {
    tracing::error!(error = %err, "startup failed");
    eprintln!("startup error: {err}");
    std::process::exit(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::secrets::ResolvedSecrets;
    use crate::config::Secret;

    fn dynamodb() -> aws_sdk_dynamodb::Client {
        let conf = aws_sdk_dynamodb::config::Builder::new()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }

    fn build(pairs: &[(&str, &str)], key: &str) -> Result<AppState, StartupError> {
        let map: std::collections::HashMap<&str, &str> = pairs.iter().copied().collect();
        let needs = Needs {
            stripe: true,
            ..Needs::default()
        };
        let config = Config::from_lookup(|k| map.get(k).map(|v| v.to_string()), needs).unwrap();
        let secrets = ResolvedSecrets {
            secret_key: Some(Secret::new(key)),
            webhook_secrets: vec![],
        };
        AppState::build(config, needs, dynamodb(), secrets)
    }

    const BASE: &[(&str, &str)] = &[
        ("TABLE_NAME", "billing"),
        ("STRIPE_SECRETS_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:s"),
    ];

    #[test]
    fn a_live_key_refuses_the_hs256_fallback_and_plain_http() {
        let hs256 = [
            BASE,
            &[
                ("JWT_HS256_SECRET", "a-deployment-secret-of-32-bytes-min!"),
                ("JWT_ISSUER", "i"),
                ("JWT_AUDIENCE", "a"),
                // A local run: the only place an HS256 secret is accepted at all.
                ("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000"),
            ],
        ]
        .concat();
        assert!(build(&hs256, "sk_test_x").is_ok(), "test keys may use it");
        let err = build(&hs256, "sk_live_x").unwrap_err();
        assert!(
            err.to_string().contains("JWT_HS256_SECRET must not be set with a live Stripe key"),
            "{err}"
        );
        let err = build(&hs256, "rk_live_x").unwrap_err();
        assert!(err.to_string().contains("JWT_HS256_SECRET"), "{err}");

        let http = [BASE, &[("STRIPE_API_BASE", "http://stripe.internal.example/")]].concat();
        assert!(build(&http, "sk_test_x").is_ok());
        let err = build(&http, "sk_live_x").unwrap_err();
        assert!(err.to_string().contains("STRIPE_API_BASE must be https"), "{err}");
        assert!(build(BASE, "sk_live_x").unwrap().livemode);
    }

    #[test]
    fn stripe_mode_must_agree_with_the_key() {
        let live = [BASE, &[("STRIPE_MODE", "live")]].concat();
        assert!(build(&live, "sk_live_x").unwrap().livemode);
        let err = build(&live, "sk_test_x").unwrap_err();
        assert!(
            err.to_string().contains("STRIPE_MODE is live but the stripe key is a test key"),
            "{err}"
        );
        let test = [BASE, &[("STRIPE_MODE", "test")]].concat();
        assert!(!build(&test, "sk_test_x").unwrap().livemode);
        assert!(build(&test, "rk_live_x").unwrap_err().to_string().contains("STRIPE_MODE"));
    }
}
