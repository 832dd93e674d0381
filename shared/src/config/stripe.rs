//! The Stripe section: where the secret key and webhook secrets come from, the API base (the
//! emulator in local runs), and which mode (`live`/`test`) the deployment says it is.

use url::Url;

use super::{ConfigError, Env, Needs, Secret, parse_http_url, vars};

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

impl StripeSecrets {
    /// `STRIPE_SECRETS_ARN`, else the inline `STRIPE_SECRET_KEY` / `STRIPE_WEBHOOK_SECRETS`, as
    /// far as the function `needs` them.
    pub(super) fn read(env: &Env<'_>, needs: Needs) -> Result<Self, ConfigError> {
        if let Some(secret_id) = env.get(vars::STRIPE_SECRETS_ARN) {
            return Ok(StripeSecrets::SecretsManager { secret_id });
        }
        let secret_key = env
            .get(vars::STRIPE_SECRET_KEY)
            .map(|key| validate_secret_key(&key).map(|()| Secret::new(key)))
            .transpose()?;
        let webhook_secrets = env
            .get(vars::STRIPE_WEBHOOK_SECRETS)
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
        Ok(StripeSecrets::Inline {
            secret_key,
            webhook_secrets,
        })
    }
}

/// `STRIPE_API_BASE`, always ending in `/` (async-stripe appends `v1/...`).
pub(super) fn read_api_base(env: &Env<'_>) -> Result<Option<Url>, ConfigError> {
    env.get(vars::STRIPE_API_BASE)
        .map(|v| {
            let mut url = parse_http_url(vars::STRIPE_API_BASE, &v)?;
            if !url.path().ends_with('/') {
                let path = format!("{}/", url.path());
                url.set_path(&path);
            }
            Ok(url)
        })
        .transpose()
}

impl StripeMode {
    /// `STRIPE_MODE`: `live`, `test` or unset.
    pub(super) fn read(env: &Env<'_>) -> Result<Option<Self>, ConfigError> {
        match env.get(vars::STRIPE_MODE).as_deref() {
            None => Ok(None),
            Some("live") => Ok(Some(StripeMode::Live)),
            Some("test") => Ok(Some(StripeMode::Test)),
            Some(_) => Err(ConfigError::invalid(vars::STRIPE_MODE, "expected live or test")),
        }
    }
}
