//! Where the plans catalog comes from, once per process: an SSM parameter (`PLANS_PARAMETER`,
//! what a deployment uses), a file (`PLANS_PATH`, local runs), or the embedded demo catalog.
//! Whatever the source, the document is validated as a whole before the process serves.

use crate::domain::plans::{Catalog, CatalogError};

/// The SSM client, pointed at `endpoint` when given (moto in tests).
pub fn ssm_client(sdk: &aws_config::SdkConfig, endpoint: Option<&url::Url>) -> aws_sdk_ssm::Client {
    let mut builder = aws_sdk_ssm::config::Builder::from(sdk);
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint.as_str().trim_end_matches('/'));
    }
    aws_sdk_ssm::Client::from_conf(builder.build())
}

/// The catalog stored in SSM parameter `name` (a String or SecureString holding the JSON
/// document).
pub async fn from_parameter(client: &aws_sdk_ssm::Client, name: &str) -> Result<Catalog, CatalogError> {
    let source_name = format!("SSM parameter {name}");
    let out = client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| CatalogError::Read {
            source_name: source_name.clone(),
            message: crate::adapters::cause_chain(&e),
        })?;
    let text = out.parameter.and_then(|p| p.value).ok_or_else(|| CatalogError::Read {
        source_name: source_name.clone(),
        message: "the parameter has no value".into(),
    })?;
    Catalog::from_json(&source_name, &text)
}
