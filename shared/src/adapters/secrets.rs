//! Resolution of the Stripe secret key and webhook secrets, once per process: from the
//! environment locally, from one Secrets Manager secret in AWS (the template passes only its
//! ARN, never the value).

use serde::Deserialize;

use crate::config::{Config, ConfigError, Secret, StripeSecrets, parse_webhook_secrets, vars};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedSecrets {
    pub secret_key: Option<Secret>,
    pub webhook_secrets: Vec<Secret>,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("{} could not be read from Secrets Manager", vars::STRIPE_SECRETS_ARN)]
    Fetch(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error(
        "{} secret is not JSON of the form {{\"secret_key\": \"sk_…\", \"webhook_secrets\": [\"whsec_…\"]}}",
        vars::STRIPE_SECRETS_ARN
    )]
    Shape,
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

#[derive(Deserialize)]
struct SecretDocument {
    #[serde(default)]
    secret_key: Option<String>,
    #[serde(default)]
    webhook_secrets: Vec<String>,
}

/// Parses the Secrets Manager document (kept apart from the fetch so it is unit-tested).
pub fn parse_secret_document(text: &str) -> Result<ResolvedSecrets, SecretsError> {
    let doc: SecretDocument = serde_json::from_str(text).map_err(|_| SecretsError::Shape)?;
    let webhook_secrets = parse_webhook_secrets(&doc.webhook_secrets.join(","))?;
    let secret_key = doc.secret_key.filter(|k| !k.is_empty()).map(Secret::new);
    Ok(ResolvedSecrets {
        secret_key,
        webhook_secrets,
    })
}

/// The secrets given directly in the environment; `None` when they live in Secrets Manager.
pub fn inline(config: &Config) -> Option<ResolvedSecrets> {
    match &config.stripe_secrets {
        StripeSecrets::Inline {
            secret_key,
            webhook_secrets,
        } => Some(ResolvedSecrets {
            secret_key: secret_key.clone(),
            webhook_secrets: webhook_secrets.clone(),
        }),
        StripeSecrets::SecretsManager { .. } => None,
    }
}

/// Where the secrets live when they are not inline: one Secrets Manager secret.
#[derive(Debug, Clone)]
pub struct SecretSource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretSource {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
        }
    }

    /// Reads and parses the secret.
    pub async fn read(&self) -> Result<ResolvedSecrets, SecretsError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| SecretsError::Fetch(Box::new(e)))?;
        parse_secret_document(out.secret_string().ok_or(SecretsError::Shape)?)
    }
}

/// The secrets at startup, and where they came from (`None`: the environment).
pub async fn resolve(config: &Config, sdk: &aws_config::SdkConfig) -> Result<(ResolvedSecrets, Option<SecretSource>), SecretsError> {
    let StripeSecrets::SecretsManager { secret_id } = &config.stripe_secrets else {
        return Ok((inline(config).unwrap_or_default(), None));
    };
    let source = SecretSource::new(aws_sdk_secretsmanager::Client::new(sdk), secret_id.clone());
    Ok((source.read().await?, Some(source)))
}

/// How often a signature mismatch may re-read the webhook secrets.
pub const REFRESH_EVERY_SECS: i64 = 60;

/// The webhook signing secrets. Rolling a secret in the Dashboard (and in the stored secret)
/// must not need a cold start: when no signature matches, the secrets are read again from their
/// source, at most once every [`REFRESH_EVERY_SECS`], before the request is refused.
#[derive(Debug)]
pub struct WebhookSecrets {
    current: std::sync::RwLock<Vec<Secret>>,
    source: Option<SecretSource>,
    /// When the secrets were last read (Unix seconds).
    read_at: std::sync::atomic::AtomicI64,
}

impl WebhookSecrets {
    /// `secrets`, read at `read_at` from `source` (`None`: fixed, from the environment).
    pub fn new(secrets: Vec<Secret>, source: Option<SecretSource>, read_at: i64) -> Self {
        Self {
            current: std::sync::RwLock::new(secrets),
            source,
            read_at: std::sync::atomic::AtomicI64::new(read_at),
        }
    }

    /// The secrets now.
    pub fn current(&self) -> Vec<Secret> {
        self.current.read().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.current.read().map(|s| s.is_empty()).unwrap_or(true)
    }

    /// Reads the secrets again when they come from a source and were last read at least
    /// [`REFRESH_EVERY_SECS`] before `now`. `Ok(true)`: they changed.
    pub async fn refresh(&self, now: i64) -> Result<bool, SecretsError> {
        use std::sync::atomic::Ordering;
        let Some(source) = &self.source else {
            return Ok(false);
        };
        let last = self.read_at.load(Ordering::SeqCst);
        if now - last < REFRESH_EVERY_SECS
            || self
                .read_at
                .compare_exchange(last, now, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
        {
            return Ok(false);
        }
        let fresh = source.read().await?.webhook_secrets;
        if fresh.is_empty() {
            return Ok(false);
        }
        let mut current = self.current.write().map_err(|_| SecretsError::Shape)?;
        let changed = *current != fresh;
        *current = fresh;
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_document_parses_and_validates() {
        let ok = parse_secret_document(r#"{"secret_key": "sk_test_x", "webhook_secrets": ["whsec_a", "whsec_b"]}"#).unwrap();
        assert_eq!(ok.webhook_secrets.len(), 2);
        assert!(matches!(parse_secret_document("sk_test_plain"), Err(SecretsError::Shape)));
        assert!(matches!(
            parse_secret_document(r#"{"webhook_secrets": ["nope"]}"#),
            Err(SecretsError::Invalid(_))
        ));
    }
}
