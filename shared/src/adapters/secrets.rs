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

pub async fn resolve(config: &Config, sdk: &aws_config::SdkConfig) -> Result<ResolvedSecrets, SecretsError> {
    let StripeSecrets::SecretsManager { secret_id } = &config.stripe_secrets else {
        return Ok(inline(config).unwrap_or_default());
    };
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| SecretsError::Fetch(Box::new(e)))?;
    parse_secret_document(out.secret_string().ok_or(SecretsError::Shape)?)
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
