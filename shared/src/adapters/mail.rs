//! Email through Amazon SES (v2 `SendEmail`), for the optional notifications.

use aws_config::SdkConfig;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use crate::config::EventsConfig;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("ses send_email failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the email could not be built")]
    Build(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A plain-text email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// The SES client and the sender. Cheap to clone; one per process.
#[derive(Debug, Clone)]
pub struct Mailer {
    client: Client,
    sender: String,
}

impl Mailer {
    pub fn new(client: Client, sender: impl Into<String>) -> Self {
        Self {
            client,
            sender: sender.into(),
        }
    }

    /// The mailer of `config`, pointed at `SES_ENDPOINT` when set (moto locally).
    pub fn from_config(sdk: &SdkConfig, config: &EventsConfig, sender: &str) -> Self {
        let mut builder = aws_sdk_sesv2::config::Builder::from(sdk);
        if let Some(endpoint) = &config.ses_endpoint {
            builder = builder.endpoint_url(endpoint.as_str().trim_end_matches('/'));
        }
        Self::new(Client::from_conf(builder.build()), sender)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends `email`; the SES message id.
    pub async fn send(&self, email: &Email) -> Result<String, MailError> {
        let content = |text: &str| {
            Content::builder()
                .data(text)
                .charset("UTF-8")
                .build()
                .map_err(|e| MailError::Build(Box::new(e)))
        };
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(Body::builder().text(content(&email.text)?).build())
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&self.sender)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| MailError::Backend(Box::new(e)))?;
        Ok(out.message_id.unwrap_or_default())
    }
}
