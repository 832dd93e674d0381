//! The sync engine: the one path by which Stripe state reaches the table. The webhook, the
//! eager sync after Checkout and every later writer call [`Engine::apply`]; none builds a
//! transaction itself.
//!
//! **Input.** A Stripe object as it arrived ([`Arrival`]): a verified event (its payload), a
//! Checkout Session this service fetched from Stripe ([`Fetched`], stamped with the time the
//! fetch started; only the engine's `fetch_*` methods make one), or a subscription to fetch and
//! store now (the engine reads the stored record before it fetches).
//!
//! **Exactly once.** An event commits ONE transaction holding its dedupe marker `EVENT#<id>`
//! (condition: absent), an audit row and the state change. All of it lands or none: a crash
//! leaves nothing marked done that is not done, and Stripe's retry completes the work. A second
//! delivery fails the marker's condition and is a [`Outcome::Duplicate`]. Fetched objects have
//! no marker (fetching again is harmless); their audit row names the fetch.
//!
//! **Order-safe.** Stored subscription and entitlement items carry a
//! [`crate::domain::version::Version`] and a write lands only above the stored one (a
//! condition in the same transaction). The rule — payload versions, fetch stamps, same-second
//! ties answered by fetching the object from Stripe — lives in
//! [`crate::domain::version`]. An event older than the stored state is [`Outcome::Stale`]
//! (marker and audit only). Fetched state is written only while the record read *before* the
//! fetch is still stored; a refusal reads and fetches again, and after [`ROUNDS`] refusals the
//! arrival fails ([`SyncError::Contention`]) so that Stripe delivers it again.
//!
//! **Store round trips** on the common path of a subscription event: one read (BatchGetItem of
//! the customer mapping and the stored subscription) and one TransactWriteItems.
//!
//! | object | what is written |
//! |---|---|
//! | subscription (`customer.subscription.*`, or fetched) | the subscription record |
//! | `invoice.*` | the invoice's subscription, fetched (an invoice carries no subscription state) |
//! | completed Checkout Session (`checkout.session.completed`, or fetched) | user ↔ customer link both ways, plus the session's subscription (fetched) or a paid one-time purchase; one transaction |
//! | `entitlements.active_entitlement_summary.updated` | the feature list, paged through the Active Entitlements API past the embedded 10 |
//! | `customer.deleted` | the link removed both ways |
//! | `subscription_schedule.*` | the change the schedule will make to its subscription (`SCHEDULE#<sub>`) |
//! | a change this service made ([`Arrival::Changed`]) | the subscription and its schedule as Stripe answered, written only while what was read before the call is still stored |
//! | `charge.refunded` (full), `charge.dispute.created`/`closed` | a one-time purchase's status: `refunded`, `disputed`, or `active` again |
//! | anything else | nothing: [`Outcome::Ignored`] |

mod change;
mod checkout;
mod customer;
mod entitlements;
mod events;
mod purchase;
mod schedule;
mod subscription;

pub use self::change::{Change, Observed};
pub use self::events::{
    CHARGE_EVENTS, HANDLED_EVENTS, Handler, INVOICE_EVENTS, MAX_TYPES_PER_LIST, SCHEDULE_EVENTS, SUBSCRIPTION_EVENTS,
    handled_event_type_groups, handled_event_types, handler_of,
};

use crate::adapters::store::{Committed, Store, StoreError, Write};
use crate::adapters::stripe::{GatewayError, Stripe};
pub use crate::config::SyncOptions;
use crate::domain::clock::Clock;
use crate::domain::event::Envelope;
use crate::domain::events::{AccessCheck, Cause, DetailType, Signal, may_move_access, subscription_events};
use crate::domain::objects::CheckoutSessionSnapshot;
use crate::domain::plans::Catalog;
use crate::domain::records::{ACCESS_CHECK_KIND, AuditRecord, EventRecord, OutboxRecord, SubscriptionRecord};
use crate::domain::version::Version;

/// Attempts of one write refused by concurrent writers before the arrival fails (and is retried).
pub const ROUNDS: usize = 4;

/// Events this young whose user cannot be resolved yet are retried (an error): Stripe retries
/// for up to three days, and the mapping may still be on its way (shuffled deliveries, or a
/// backlog after an outage). Older ones are marked `unmatched`.
pub const RESOLVE_GRACE_SECS: i64 = 3 * 86_400;

/// What happened to an arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The state change committed.
    Applied,
    /// This event was processed before.
    Duplicate,
    /// Newer state is stored; for an event, only the marker and audit row were written.
    Stale,
    /// A type the engine does not handle, or an object that is not ours.
    Ignored,
    /// No user could be found for an old event; marked done without a change.
    Unmatched,
    /// The change would link a customer already linked to another user (or a user to another
    /// customer); marked, not applied.
    Conflict,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "stale",
            Outcome::Ignored => "ignored",
            Outcome::Unmatched => "unmatched",
            Outcome::Conflict => "conflict",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The object cannot be read (a malformed event).
    #[error("{kind} carries an unreadable {what}")]
    Shape { kind: String, what: &'static str },
    /// No user for the customer yet; worth retrying (the mapping may be on its way).
    #[error("no user for stripe customer {customer} yet")]
    Unresolved { customer: String },
    #[error("the store failed")]
    Store(#[from] StoreError),
    #[error("a stripe call failed")]
    Stripe(#[from] GatewayError),
    /// Concurrent writers kept changing the {what} between our read and our write.
    #[error("the {what} kept changing under concurrent writers; retry")]
    Contention { what: &'static str },
}

/// An object fetched from Stripe, stamped with the time the fetch started (see
/// [`crate::domain::version`]). Made by the engine's `fetch_*` methods only.
#[derive(Debug, Clone)]
pub struct Fetched<T> {
    object: T,
    started_at: i64,
}

impl<T> Fetched<T> {
    pub fn object(&self) -> &T {
        &self.object
    }
}

/// A Stripe object as it arrived.
#[derive(Debug)]
pub enum Arrival<'e> {
    /// A verified event: from the webhook, or listed by the Events API.
    Event(&'e Envelope),
    /// A Checkout Session fetched from Stripe (the eager sync after Checkout).
    CheckoutSession(Box<Fetched<CheckoutSessionSnapshot>>),
    /// A subscription of a user to fetch from Stripe and store now. The engine reads the stored
    /// record first, then fetches: a snapshot fetched before that read could be older than what
    /// is stored.
    Subscription { user_id: String, subscription_id: String },
    /// A customer that a Stripe call found missing: the engine asks Stripe, and when the
    /// customer is deleted (or unknown) removes its link, as `customer.deleted` would.
    Customer { customer_id: String },
    /// Stripe's answer to a change this service made (see [`Engine::observe`]).
    Changed(Box<Change>),
    /// A user's entitlements to read from Stripe and store now (after a change of plan).
    Entitlements { user_id: String, customer_id: String },
}

impl<'e> From<&'e Envelope> for Arrival<'e> {
    fn from(event: &'e Envelope) -> Self {
        Arrival::Event(event)
    }
}

impl From<Fetched<CheckoutSessionSnapshot>> for Arrival<'_> {
    fn from(fetched: Fetched<CheckoutSessionSnapshot>) -> Self {
        Arrival::CheckoutSession(Box::new(fetched))
    }
}

/// Where a change came from: an event, or a fetch. Carries what the marker, the audit row and
/// the ordering rule need.
#[derive(Debug, Clone)]
struct Origin {
    /// The event id, or `fetch:<object id>`.
    id: String,
    /// The event type, or `fetch.<object>`.
    kind: String,
    /// The event's `created`, or when the fetch started.
    created: i64,
    /// The version of the arrived state.
    version: Version,
    /// An event (with a dedupe marker) rather than a fetch.
    is_event: bool,
    /// What the event says by itself (a payment, a trial ending), published when it applies.
    signal: Option<Signal>,
}

impl Origin {
    fn event(event: &Envelope) -> Self {
        let payment = |kind, paid| {
            Some(Signal::Payment(
                kind,
                crate::domain::invoices::parse_invoice_payment(&event.object, paid),
            ))
        };
        let signal = match event.event_type.as_str() {
            "invoice.paid" => payment(DetailType::PaymentSucceeded, true),
            "invoice.payment_failed" => payment(DetailType::PaymentFailed, false),
            "invoice.payment_action_required" => payment(DetailType::PaymentActionRequired, false),
            "customer.subscription.trial_will_end" => Some(Signal::TrialWillEnd {
                has_payment_method: crate::domain::objects::subscription_has_payment_method(&event.object),
                ends_by: crate::domain::objects::trial_ends_by(&event.object),
            }),
            _ => None,
        };
        Self {
            id: event.id.clone(),
            kind: event.event_type.clone(),
            created: event.created,
            version: Version::of_payload(event.created),
            is_event: true,
            signal,
        }
    }

    fn fetch(object: &str, id: &str, started_at: i64) -> Self {
        Self {
            id: format!("fetch:{id}"),
            kind: format!("fetch.{object}"),
            created: started_at,
            version: Version::of_fetch(started_at, None),
            is_event: false,
            signal: None,
        }
    }

    /// The cause of a change this origin wrote at `version`: an event's id names it; a fetch
    /// may write many times, so its version does too.
    fn cause(&self, version: Version) -> Cause {
        Cause {
            key: if self.is_event {
                self.id.clone()
            } else {
                format!("{}@{}", self.id, version.get())
            },
            stripe_event_id: self.is_event.then(|| self.id.clone()),
            occurred_at: self.created,
            version: version.get(),
        }
    }

    /// The version of state fetched now on behalf of this origin.
    fn fetch_version(&self, started_at: i64) -> Version {
        Version::of_fetch(started_at, self.is_event.then_some(self.version))
    }

    fn shape(&self, what: &'static str) -> SyncError {
        SyncError::Shape {
            kind: self.kind.clone(),
            what,
        }
    }
}

/// The engine, borrowing the process's store, Stripe port, catalog and clock. Cheap to build per
/// request (see [`crate::app::AppState::sync`]).
#[derive(Debug, Clone, Copy)]
pub struct Engine<'a> {
    store: &'a Store,
    stripe: &'a Stripe,
    catalog: &'a Catalog,
    clock: &'a dyn Clock,
    options: &'a SyncOptions,
    /// Whether this service's metadata (`metadata.user_id`, `metadata.plan`) on objects proves
    /// anything: yes on the platform account, no on a connected account, which owns its
    /// objects' metadata.
    trust_metadata: bool,
}

impl<'a> Engine<'a> {
    pub fn new(store: &'a Store, stripe: &'a Stripe, catalog: &'a Catalog, clock: &'a dyn Clock, options: &'a SyncOptions) -> Self {
        Self {
            store,
            stripe,
            catalog,
            clock,
            options,
            trust_metadata: true,
        }
    }

    /// `metadata.user_id` of an object, when this engine trusts metadata.
    fn metadata_user<'o>(&self, user: Option<&'o str>) -> Option<&'o str> {
        user.filter(|_| self.trust_metadata)
    }

    /// Applies a Stripe object as it arrived: the one entry point.
    pub async fn apply(&self, arrival: impl Into<Arrival<'_>>) -> Result<Outcome, SyncError> {
        match arrival.into() {
            Arrival::Event(event) => self.apply_event(event).await,
            Arrival::Subscription { user_id, subscription_id } => {
                let origin = Origin::fetch("subscription", &subscription_id, self.clock.now());
                let observed = self.store.subscription(&user_id, &subscription_id).await?;
                self.refresh_subscription(&origin, &user_id, observed, &subscription_id).await
            }
            Arrival::CheckoutSession(fetched) => {
                let origin = Origin::fetch("checkout.session", &fetched.object.id, fetched.started_at);
                self.checkout_completed(&origin, &fetched.object).await
            }
            Arrival::Changed(change) => self.changed(&change).await,
            Arrival::Entitlements { user_id, customer_id } => {
                let origin = Origin::fetch("entitlements", &customer_id, self.clock.now());
                let observed = self.store.entitlements(&user_id).await?;
                self.refresh_entitlements(&origin, &user_id, &customer_id, observed).await
            }
            Arrival::Customer { customer_id } => {
                let origin = Origin::fetch("customer", &customer_id, self.clock.now());
                match self.stripe.retrieve_customer(&customer_id).await? {
                    Some(customer) if !customer.deleted => Ok(Outcome::Ignored),
                    _ => self.customer_deleted(&origin, &customer_id).await,
                }
            }
        }
    }

    async fn apply_event(&self, event: &Envelope) -> Result<Outcome, SyncError> {
        match &event.account {
            None => self.apply_platform_event(event).await,
            Some(account) if !self.options.connect_accounts.contains(account) => {
                tracing::info!(event = %event.id, event_type = %event.event_type, %account, "event of a connected account not in CONNECT_ACCOUNTS; ignored");
                Ok(Outcome::Ignored)
            }
            Some(account) => {
                let stripe = self.stripe.for_account(account)?;
                let engine = Engine {
                    stripe: &stripe,
                    trust_metadata: false,
                    ..*self
                };
                engine.apply_platform_event(event).await
            }
        }
    }

    async fn apply_platform_event(&self, event: &Envelope) -> Result<Outcome, SyncError> {
        let origin = Origin::event(event);
        let Some(handler) = handler_of(&event.event_type) else {
            tracing::info!(event = %event.id, event_type = %event.event_type, "event type not handled; ignored");
            return Ok(Outcome::Ignored);
        };
        match handler {
            Handler::Subscription => match crate::domain::objects::parse_subscription(&event.object) {
                Some(snapshot) => self.apply_subscription(&origin, snapshot).await,
                // A shape this version cannot read (another API version): the current object is.
                None => {
                    let id = event
                        .object_id()
                        .filter(|id| crate::domain::ids::SubscriptionId::parse(id).is_some())
                        .ok_or_else(|| origin.shape("subscription"))?;
                    self.fetch_and_apply_subscription(&origin, id, None).await
                }
            },
            Handler::Invoice => self.invoice_event(&origin, event).await,
            Handler::Charge => self.charge_event(&origin, event).await,
            Handler::Schedule => self.schedule_event(&origin, event).await,
            Handler::CheckoutCompleted => {
                let session =
                    crate::domain::objects::parse_checkout_session(&event.object).ok_or_else(|| origin.shape("checkout session"))?;
                self.checkout_completed(&origin, &session).await
            }
            Handler::EntitlementSummary => self.entitlements_event(&origin, event).await,
            Handler::CustomerDeleted => {
                let customer = event.object_id().ok_or_else(|| origin.shape("customer"))?;
                self.customer_deleted(&origin, customer).await
            }
        }
    }

    /// Fetches a Checkout Session from Stripe, stamped for [`Engine::apply`].
    pub async fn fetch_checkout_session(&self, id: &str) -> Result<Fetched<CheckoutSessionSnapshot>, SyncError> {
        let started_at = self.clock.now();
        let object = self.stripe.retrieve_checkout_session(id).await?;
        Ok(Fetched { object, started_at })
    }

    /// Commits the marker (events only), the audit row (when the user is known), `writes`, and
    /// the domain events they make (`before`: the subscription record a subscription write
    /// replaces), in one transaction.
    async fn commit(
        &self,
        origin: &Origin,
        user: Option<&str>,
        outcome: Outcome,
        audit: (String, String),
        writes: &[Write],
        before: Option<&SubscriptionRecord>,
    ) -> Result<Committed, SyncError> {
        let now = self.clock.now();
        let outbox = match (outcome, user) {
            (Outcome::Applied, Some(user)) => outbox(origin, user, writes, before, now),
            // A payment or a trial ending is a fact however stale the subscription state the
            // event carries: its signal is published with the stored (newer) state.
            (Outcome::Stale, Some(user)) => signal_only(origin, user, before, now),
            _ => Vec::new(),
        };
        let marker = origin
            .is_event
            .then(|| EventRecord::new(&origin.id, &origin.kind, outcome.as_str(), origin.created, now));
        let audit = user.map(|user| AuditRecord::new(user, &origin.id, &origin.kind, origin.created, outcome.as_str(), audit, now));
        if !origin.is_event && writes.is_empty() {
            // A fetch that changes nothing leaves no trace.
            return Ok(Committed::Yes);
        }
        Ok(self
            .store
            .commit_with_outbox(marker.as_ref(), audit.as_ref(), writes, &outbox)
            .await?)
    }

    /// Records `outcome` without a state change (the marker of an event; nothing for a fetch).
    async fn mark(&self, origin: &Origin, user: Option<&str>, outcome: Outcome, audit: (String, String)) -> Result<Outcome, SyncError> {
        match self.commit(origin, user, outcome, audit, &[], None).await? {
            Committed::Duplicate => Ok(Outcome::Duplicate),
            _ => Ok(outcome),
        }
    }

    /// Records a stale event (marker and audit row), and its signal about `stored`, the newer
    /// state that made it stale.
    async fn mark_stale(
        &self,
        origin: &Origin,
        user: &str,
        stored: Option<&SubscriptionRecord>,
        audit: (String, String),
    ) -> Result<Outcome, SyncError> {
        match self.commit(origin, Some(user), Outcome::Stale, audit, &[], stored).await? {
            Committed::Duplicate => Ok(Outcome::Duplicate),
            _ => Ok(Outcome::Stale),
        }
    }

    /// An object of a customer this service never linked, without its metadata: made in the
    /// Dashboard or by another product on the same account. Not ours: acknowledged, not written.
    fn stranger(&self, origin: &Origin, customer: &str, object: &str) -> Result<Outcome, SyncError> {
        tracing::info!(origin = %origin.id, kind = %origin.kind, %customer, %object, "no link and no metadata of this service; ignored");
        Ok(Outcome::Ignored)
    }

    /// No user for `customer` yet, though its metadata names one: an error while the event is
    /// young (retried: the link may be on its way), `unmatched` after.
    async fn unresolved(&self, origin: &Origin, customer: &str) -> Result<Outcome, SyncError> {
        if origin.is_event && origin.created > self.clock.now() - RESOLVE_GRACE_SECS {
            return Err(SyncError::Unresolved {
                customer: customer.to_owned(),
            });
        }
        tracing::warn!(origin = %origin.id, %customer, "no user for this customer; marked unmatched");
        self.mark(origin, None, Outcome::Unmatched, (String::new(), String::new())).await
    }
}

/// The outbox items of `writes` by `user`: the domain events of a subscription write, the
/// origin's signal, and an access check after anything that may move the user's features.
fn outbox(origin: &Origin, user: &str, writes: &[Write], before: Option<&SubscriptionRecord>, now: i64) -> Vec<OutboxRecord> {
    let mut events = Vec::new();
    let mut check = None;
    for write in writes {
        match write {
            Write::Subscription(record) | Write::SubscriptionReplacing { record, .. } => {
                let cause = origin.cause(record.version);
                if may_move_access(before, record) {
                    check = Some((cause.clone(), record.customer_id.clone()));
                }
                events.extend(subscription_events(&cause, user, before, record));
                events.extend(origin.signal.as_ref().map(|s| s.event(&cause, user, record)));
            }
            Write::Entitlements(record) | Write::EntitlementsReplacing { record, .. } => {
                check = Some((origin.cause(record.version), record.customer_id.clone()));
            }
            _ => {}
        }
    }
    let mut outbox: Vec<OutboxRecord> = events.iter().enumerate().map(|(seq, e)| e.outbox(seq, now)).collect();
    if let Some((cause, customer)) = check {
        let check = AccessCheck {
            id: crate::domain::events::event_id(&cause, DetailType::EntitlementsChanged, user),
            user_id: user.to_owned(),
            customer_id: customer.clone(),
            version: cause.version,
            occurred_at: cause.occurred_at,
            stripe_event_id: cause.stripe_event_id,
        };
        let detail = serde_json::to_string(&check).unwrap_or_default();
        // A grace period that begins here ends with no Stripe event: a check waits for its end.
        if let Some(since) = grace_begins(before, writes) {
            let id = format!("{}/grace", check.id);
            outbox.push(OutboxRecord::later(&id, &customer, since, detail.clone(), now));
        }
        outbox.push(OutboxRecord::new(
            ACCESS_CHECK_KIND,
            &check.id,
            &customer,
            check.version,
            outbox.len(),
            detail,
            now,
        ));
    }
    outbox
}

/// When a subscription write starts a `past_due` grace period: its `past_due_since`.
fn grace_begins(before: Option<&SubscriptionRecord>, writes: &[Write]) -> Option<i64> {
    writes.iter().find_map(|write| match write {
        Write::Subscription(record) | Write::SubscriptionReplacing { record, .. }
            if record.status == crate::domain::status::SubscriptionStatus::PastDue =>
        {
            record
                .past_due_since
                .filter(|since| before.is_none_or(|b| b.past_due_since != Some(*since)))
        }
        _ => None,
    })
}

/// The outbox item of a stale event's signal, about the stored record that made it stale.
fn signal_only(origin: &Origin, user: &str, stored: Option<&SubscriptionRecord>, now: i64) -> Vec<OutboxRecord> {
    let (Some(signal), Some(record)) = (&origin.signal, stored) else {
        return Vec::new();
    };
    // With the version of the state it carries (the stored one), as an applied event's.
    let event = signal.event(&origin.cause(record.version), user, record);
    vec![event.outbox(0, now)]
}
