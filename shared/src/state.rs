//! Per-process state: built once in `main` (or by a test against local endpoints), borrowed by
//! every invocation.

use crate::config::{Config, ConfigError, Needs, Secret, vars};
use crate::identity::IdentityVerifier;
use crate::plans::{Catalog, CatalogError};
use crate::secrets::{self, SecretsError};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("plans catalog (PLANS_PATH): {0}")]
    Catalog(#[from] CatalogError),
    #[error("secrets: {0}")]
    Secrets(#[from] SecretsError),
    #[error("STRIPE_API_BASE: stripe client: {0}")]
    Stripe(#[from] stripe::StripeError),
}

/// Everything a function needs, built once per process.
pub struct AppState {
    pub config: Config,
    pub catalog: Catalog,
    pub store: Store,
    pub identity: IdentityVerifier,
    /// Present when the function declared [`Needs::stripe`].
    pub stripe: Option<stripe::Client>,
    /// Present (non-empty) when the function declared [`Needs::webhook_secrets`].
    pub webhook_secrets: Vec<Secret>,
    /// Whether the configured Stripe key is a live-mode key (`sk_live_…`/`rk_live_…`).
    pub livemode: bool,
    /// Stripe price ids by lookup key, resolved on first use.
    pub prices: crate::gateway::PriceCache,
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
    /// Reads the environment, loads the catalog, resolves secrets and builds the clients.
    pub async fn from_env(needs: Needs) -> Result<Self, StartupError> {
        let config = Config::from_env(needs)?;
        let sdk = crate::aws::sdk_config().await;
        let dynamodb = crate::aws::dynamodb_client(&sdk, &config);
        let resolved = secrets::resolve(&config, &sdk).await?;
        Self::build(config, needs, dynamodb, resolved)
    }

    /// Assembles the state from parts (tests pass a DynamoDB client for moto).
    pub fn build(
        config: Config,
        needs: Needs,
        dynamodb: aws_sdk_dynamodb::Client,
        secrets: secrets::ResolvedSecrets,
    ) -> Result<Self, StartupError> {
        let catalog = Catalog::load(config.plans_path.as_deref())?;
        let stripe = match (&secrets.secret_key, needs.stripe) {
            (Some(key), true) => Some(crate::stripe_client::client(&config, key)?),
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
        Ok(Self {
            store: Store::new(dynamodb, config.table_name.clone()),
            identity: IdentityVerifier::new(&config.jwt),
            catalog,
            stripe,
            webhook_secrets: secrets.webhook_secrets,
            prices: Default::default(),
            livemode: secrets
                .secret_key
                .as_ref()
                .is_some_and(|k| k.expose().starts_with("sk_live_") || k.expose().starts_with("rk_live_")),
            config,
        })
    }
}

/// Logs one line naming what is wrong and ends the process: a Lambda that cannot start must
/// fail its init, not limp along.
pub fn exit_on_startup_error(err: StartupError) -> ! {
    tracing::error!(error = %err, "startup failed");
    eprintln!("startup error: {err}");
    std::process::exit(1)
}
