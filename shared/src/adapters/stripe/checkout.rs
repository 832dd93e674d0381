//! Checkout Sessions: create one (subscription or one-time, catalog or custom price), read one
//! back, and find the session behind a payment.

use crate::domain::objects::{CheckoutSessionSnapshot, parse_checkout_session};
use crate::domain::stripe_wire::{self as wire, List, read};
use std::collections::HashMap;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionAutomaticTax, CreateCheckoutSessionCustomerCreation, CreateCheckoutSessionCustomerUpdate,
    CreateCheckoutSessionCustomerUpdateAddress, CreateCheckoutSessionCustomerUpdateName, CreateCheckoutSessionLineItems,
    CreateCheckoutSessionLineItemsPriceData, CreateCheckoutSessionLineItemsPriceDataRecurring,
    CreateCheckoutSessionLineItemsPriceDataRecurringInterval, CreateCheckoutSessionSubscriptionData, CreateCheckoutSessionTaxIdCollection,
    ProductData, RetrieveCheckoutSession,
};
use stripe_client_core::StripeRequest;

use super::{GatewayError, Stripe};

/// How a Checkout Session is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutMode {
    Subscription,
    Payment,
}

/// Who pays a new Checkout Session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payer {
    /// An existing Stripe customer.
    Customer(String),
    /// A new customer, prefilled with this email.
    Email(String),
    /// A new customer; Stripe asks for the email.
    Anonymous,
}

/// What a new Checkout Session asks Stripe for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheckoutSession {
    pub mode: CheckoutMode,
    pub price: String,
    pub quantity: u64,
    pub payer: Payer,
    pub success_url: String,
    pub cancel_url: String,
    /// Set on the session, and on the subscription in subscription mode.
    pub metadata: Vec<(String, String)>,
    pub client_reference_id: Option<String>,
    pub trial_days: Option<u32>,
    /// A trial without a card: Checkout collects one only if required
    /// (`payment_method_collection=if_required`), and the trial ends this way without one.
    pub trial_without_card: Option<crate::config::TrialEndWithoutCard>,
    pub allow_promotion_codes: bool,
    /// Metered prices of the plan (usage billed through Stripe meters), after the licensed one.
    pub metered_prices: Vec<String>,
    /// An amount the client chose within the catalog's bounds (`price_data`), instead of
    /// `price`.
    pub custom: Option<CustomPrice>,
    /// The currency to charge in, when the price offers several (`currency_options`).
    pub currency: Option<String>,
    pub collection: crate::config::Collection,
}

/// An inline price (`line_items[0][price_data]`) for a custom amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomPrice {
    pub currency: String,
    /// In the currency's minor unit.
    pub amount: i64,
    /// `day`, `week`, `month` or `year`; `None` for a one-time payment.
    pub interval: Option<&'static str>,
    /// The product's name and description (`product_data`).
    pub product_name: String,
    pub product_description: Option<String>,
    /// The catalog entry, as the product's metadata (`custom_amount`).
    pub entry: String,
}

impl Stripe {
    /// `POST /v1/checkout/sessions` under `idempotency_key`.
    pub async fn create_checkout_session(
        &self,
        new: &NewCheckoutSession,
        idempotency_key: &str,
    ) -> Result<CheckoutSessionSnapshot, GatewayError> {
        let mut line = CreateCheckoutSessionLineItems::new();
        line.quantity = Some(new.quantity);
        match &new.custom {
            None => line.price = Some(new.price.clone()),
            Some(custom) => {
                let currency = custom
                    .currency
                    .parse::<stripe_types::Currency>()
                    .map_err(|_| GatewayError::Unreadable {
                        operation: "create_checkout_session",
                        what: "currency",
                    })?;
                let mut product = ProductData::new(custom.product_name.clone());
                product.description = custom.product_description.clone();
                product.metadata = Some(HashMap::from([("custom_amount".to_owned(), custom.entry.clone())]));
                let mut data = CreateCheckoutSessionLineItemsPriceData::new(currency);
                data.product_data = Some(product);
                data.unit_amount = Some(custom.amount);
                data.recurring = match custom.interval {
                    None => None,
                    Some(interval) => Some(CreateCheckoutSessionLineItemsPriceDataRecurring::new(
                        interval
                            .parse::<CreateCheckoutSessionLineItemsPriceDataRecurringInterval>()
                            .map_err(|_| GatewayError::Unreadable {
                                operation: "create_checkout_session",
                                what: "interval",
                            })?,
                    )),
                };
                line.price_data = Some(data);
            }
        }
        let mut lines = vec![line];
        // Metered prices carry no quantity (Stripe refuses one): usage is reported to the meter.
        for price in &new.metered_prices {
            let mut metered = CreateCheckoutSessionLineItems::new();
            metered.price = Some(price.clone());
            lines.push(metered);
        }
        let mut request = CreateCheckoutSession::new()
            .line_items(lines)
            .metadata(new.metadata.iter().cloned().collect::<HashMap<_, _>>())
            .success_url(new.success_url.clone())
            .cancel_url(new.cancel_url.clone())
            .allow_promotion_codes(new.allow_promotion_codes);
        if let Some(reference) = &new.client_reference_id {
            request = request.client_reference_id(reference.clone());
        }
        if let Some(currency) = &new.currency {
            let currency = currency.parse::<stripe_types::Currency>().map_err(|_| GatewayError::Unreadable {
                operation: "create_checkout_session",
                what: "currency",
            })?;
            request = request.currency(currency);
        }
        let collection = &new.collection;
        if let Some(address) = collection.billing_address {
            request = request.billing_address_collection(match address {
                crate::config::AddressCollection::Auto => stripe_shared::CheckoutSessionBillingAddressCollection::Auto,
                crate::config::AddressCollection::Required => stripe_shared::CheckoutSessionBillingAddressCollection::Required,
            });
        }
        if collection.automatic_tax {
            request = request.automatic_tax(CreateCheckoutSessionAutomaticTax::new(true));
        }
        if matches!(new.payer, Payer::Customer(_)) && (collection.automatic_tax || collection.tax_id) {
            // A returning customer's address is what Stripe Tax computes from, and a tax ID needs
            // the business name saved on the customer (Stripe refuses tax ID collection for an
            // existing customer otherwise): Checkout saves what is entered.
            let mut update = CreateCheckoutSessionCustomerUpdate::new();
            update.address = Some(CreateCheckoutSessionCustomerUpdateAddress::Auto);
            if collection.tax_id {
                update.name = Some(CreateCheckoutSessionCustomerUpdateName::Auto);
            }
            request = request.customer_update(update);
        }
        if collection.tax_id {
            request = request.tax_id_collection(CreateCheckoutSessionTaxIdCollection::new(true));
        }
        request = match &new.payer {
            Payer::Customer(customer) => request.customer(customer.clone()),
            Payer::Email(email) => request.customer_email(email.clone()),
            Payer::Anonymous => request,
        };
        request = match new.mode {
            CheckoutMode::Subscription => {
                let mut data = CreateCheckoutSessionSubscriptionData::new();
                data.metadata = Some(new.metadata.iter().cloned().collect());
                data.trial_period_days = new.trial_days;
                let mut request = request;
                if let (Some(end), Some(_)) = (new.trial_without_card, new.trial_days) {
                    use stripe_checkout::checkout_session::{
                        CreateCheckoutSessionPaymentMethodCollection as Collect,
                        CreateCheckoutSessionSubscriptionDataTrialSettings as Settings,
                        CreateCheckoutSessionSubscriptionDataTrialSettingsEndBehavior as EndBehavior,
                        CreateCheckoutSessionSubscriptionDataTrialSettingsEndBehaviorMissingPaymentMethod as Missing,
                    };
                    let missing = match end {
                        crate::config::TrialEndWithoutCard::Cancel => Missing::Cancel,
                        crate::config::TrialEndWithoutCard::Pause => Missing::Pause,
                    };
                    data.trial_settings = Some(Settings {
                        end_behavior: EndBehavior {
                            missing_payment_method: missing,
                        },
                    });
                    request = request.payment_method_collection(Collect::IfRequired);
                }
                request
                    .mode(stripe_shared::CheckoutSessionMode::Subscription)
                    .subscription_data(data)
            }
            CheckoutMode::Payment => {
                let request = request.mode(stripe_shared::CheckoutSessionMode::Payment);
                match new.payer {
                    Payer::Customer(_) => request,
                    _ => request.customer_creation(CreateCheckoutSessionCustomerCreation::Always),
                }
            }
        };
        let answer = self
            .answer("create_checkout_session", "price", request.build(), Some(idempotency_key))
            .await?;
        let session = parse_checkout_session(&answer.value).ok_or(GatewayError::Unreadable {
            operation: "create_checkout_session",
            what: "checkout session",
        })?;
        if answer.replayed {
            // A replay shows the session as it was created; it may be complete or expired now.
            return self.retrieve_checkout_session(&session.id).await;
        }
        Ok(session)
    }

    /// `GET /v1/checkout/sessions/{id}`.
    pub async fn retrieve_checkout_session(&self, id: &str) -> Result<CheckoutSessionSnapshot, GatewayError> {
        let value = self
            .json(
                "retrieve_checkout_session",
                "checkout session",
                RetrieveCheckoutSession::new(id).build(),
                None,
            )
            .await?;
        parse_checkout_session(&value).ok_or(GatewayError::Unreadable {
            operation: "retrieve_checkout_session",
            what: "checkout session",
        })
    }

    /// The Checkout Session that made `payment_intent` (`GET /v1/checkout/sessions?payment_intent=`),
    /// if a session did.
    pub async fn checkout_session_of_payment(&self, payment_intent: &str) -> Result<Option<CheckoutSessionSnapshot>, GatewayError> {
        let request = stripe_checkout::checkout_session::ListCheckoutSession::new()
            .payment_intent(payment_intent)
            .limit(1)
            .build();
        let page = self.json("list_checkout_sessions", "payment intent", request, None).await?;
        let page: List<wire::CheckoutSession> = read(&page).unwrap_or_default();
        page.items()
            .into_iter()
            .next()
            .map(|session| {
                CheckoutSessionSnapshot::from_wire(session).ok_or(GatewayError::Unreadable {
                    operation: "list_checkout_sessions",
                    what: "checkout session",
                })
            })
            .transpose()
    }
}
