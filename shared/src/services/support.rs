//! Support: what support staff read and do for one customer (the `admin` function, behind
//! IAM). Every action is audited under the customer's audit partition with the caller's ARN.
//!
//! - [`Support::lookup`]: links, subscriptions, purchases, the access decision with a reason
//!   per feature, usage this period, grants, seats and the last 50 audit rows. One Query of the
//!   billable's partition (plus one of its audit rows, and an organization's slots).
//! - [`Support::grant`] / [`Support::revoke`]: time-boxed grants ([`crate::domain::grants`]),
//!   written with their audit row and access checks (the publisher's `entitlements.changed`,
//!   also when a grant ends by itself) in one transaction.
//! - [`Support::resync`]: reconcile's repair of one customer ([`crate::services::reconcile`]).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::adapters::store::StoreError;
use crate::adapters::stripe::GatewayError;
use crate::domain::access::{Access, FeatureDecision, decide};
use crate::domain::events::AccessCheck;
use crate::domain::grants::{GrantRecord, GrantRefusal, known_features, validate};
use crate::domain::plans::Interval;
use crate::domain::records::{AuditRecord, UserItems};
use crate::domain::version::Version;
use crate::services::context::Context;
use crate::services::reconcile::{ReconcileError, RunSummary};
use crate::services::subscriptions::SubscriptionView;
use crate::services::usage::{UsageSummary, summarize};

/// What can go wrong in a support action.
#[derive(Debug, thiserror::Error)]
pub enum SupportError {
    /// The user id is not one a token could carry.
    #[error("not a valid user id")]
    InvalidUser,
    #[error("{0}")]
    Refused(#[from] GrantRefusal),
    #[error("no stripe customer is linked to this user")]
    NotLinked,
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("stripe: {0}")]
    Stripe(#[from] GatewayError),
    #[error("reconcile: {0}")]
    Reconcile(#[from] ReconcileError),
}

/// The caller of a support action: the IAM principal API Gateway verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub arn: String,
}

/// One grant as support sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantView {
    pub feature: String,
    pub until: i64,
    pub reason: String,
    pub granted_by: String,
    pub granted_at: i64,
    /// Whether it grants now (it ends by itself at `until`).
    pub active: bool,
}

impl GrantView {
    fn new(grant: &GrantRecord, now: i64) -> Self {
        Self {
            feature: grant.feature.clone(),
            until: grant.until,
            reason: grant.reason.clone(),
            granted_by: grant.granted_by.clone(),
            granted_at: grant.granted_at,
            active: grant.active(now),
        }
    }
}

/// One audit row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditView {
    /// `<created>#<event id>`: when, and what caused it.
    pub at: String,
    pub event_id: String,
    pub event_type: String,
    pub outcome: String,
    pub before: String,
    pub after: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// The access decision with a reason per known feature.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionView {
    #[serde(flatten)]
    pub access: Access,
    pub reason: &'static str,
    pub decisions: BTreeMap<String, FeatureDecision>,
}

/// `GET /admin/users/{user_id}` and `GET /admin/orgs/{org_id}`.
#[derive(Debug, Clone, Serialize)]
pub struct Lookup {
    /// The billable id (`<sub>`, or `org:<org id>`).
    pub billable: String,
    pub links: Links,
    pub subscriptions: Vec<SubscriptionView>,
    pub purchases: Vec<SubscriptionView>,
    pub access: DecisionView,
    pub usage: UsageSummary,
    pub grants: Vec<GrantView>,
    /// A user's seats in organizations; an organization's held slots.
    pub seats: Vec<serde_json::Value>,
    pub audit: Vec<AuditView>,
    pub as_of: i64,
}

/// The Stripe customer a billable is linked to.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Links {
    pub customer_id: Option<String>,
    pub email: Option<String>,
    pub linked_at: Option<i64>,
}

/// The support service.
#[derive(Debug, Clone, Copy)]
pub struct Support<'a>(Context<'a>);

impl<'a> Support<'a> {
    pub fn new(context: Context<'a>) -> Self {
        Self(context)
    }

    /// Everything support needs about one billable (see the module docs).
    pub async fn lookup(&self, billable: &str) -> Result<Lookup, SupportError> {
        let ctx = &self.0;
        let now = ctx.clock.now();
        let items = ctx.store.user_items_consistent(billable).await?;
        let access = decide(ctx.catalog, &items, now, &ctx.config.access);
        let decisions = known_features(ctx.catalog)
            .into_iter()
            .map(|f| (f.clone(), access.check(&f)))
            .collect();
        let (purchases, subscriptions): (Vec<_>, Vec<_>) = items.subscriptions.iter().partition(|s| s.interval == Some(Interval::OneTime));
        let view = |s: &&crate::domain::records::SubscriptionRecord| {
            let schedule = items.schedules.iter().find(|c| c.subscription_id == s.subscription_id);
            SubscriptionView::new(s, schedule, now)
        };
        let seats = match crate::domain::billable::Billable::of(billable).org_id() {
            Some(org) => ctx.store.slots(org).await?.iter().map(to_value).collect(),
            None => items.seats.iter().map(to_value).collect(),
        };
        let audit = ctx.store.audit_rows(billable).await?.into_iter().map(audit_view).collect();
        Ok(Lookup {
            billable: billable.to_owned(),
            links: Links {
                customer_id: items.customer.as_ref().map(|c| c.customer_id.clone()),
                email: items.customer.as_ref().and_then(|c| c.email.clone()),
                linked_at: items.customer.as_ref().map(|c| c.created_at),
            },
            subscriptions: subscriptions.iter().map(view).collect(),
            purchases: purchases.iter().map(view).collect(),
            usage: summarize(&items, &access),
            grants: items.grants.iter().map(|g| GrantView::new(g, now)).collect(),
            access: DecisionView {
                reason: access.reason().as_str(),
                access,
                decisions,
            },
            seats,
            audit,
            as_of: now,
        })
    }

    /// Grants `feature` to `user` until `until` (replacing an earlier grant of it).
    pub async fn grant(&self, caller: &Caller, user: &str, feature: &str, until: i64, reason: &str) -> Result<GrantView, SupportError> {
        check_user(user)?;
        let ctx = &self.0;
        let now = ctx.clock.now();
        validate(ctx.catalog, feature, until, reason, now)?;
        let grant = GrantRecord::new(
            &crate::domain::records::keys::user(user),
            feature,
            until,
            reason.trim(),
            &caller.arn,
            now,
        );
        let items = ctx.store.user_items_consistent(user).await?;
        let before = items
            .grants
            .iter()
            .find(|g| g.feature == feature)
            .map(|g| format!("grant {feature} until {}", g.until));
        let outbox = self.checks(user, &items, now, Some(until));
        let audit = self.audit(
            caller,
            user,
            "support.grant",
            (
                before.unwrap_or_else(|| "none".into()),
                format!("grant {feature} until {until}: {}", grant.reason),
            ),
            now,
        );
        ctx.store.put_grant(&grant, &audit, &outbox).await?;
        tracing::info!(user, feature, until, caller = %caller.arn, "support grant");
        Ok(GrantView::new(&grant, now))
    }

    /// Removes `user`'s grant of `feature`. `false`: there was none (nothing written).
    pub async fn revoke(&self, caller: &Caller, user: &str, feature: &str) -> Result<bool, SupportError> {
        check_user(user)?;
        let ctx = &self.0;
        let now = ctx.clock.now();
        let items = ctx.store.user_items_consistent(user).await?;
        let Some(existing) = items.grants.iter().find(|g| g.feature == feature) else {
            return Ok(false);
        };
        let before = format!("grant {feature} until {}", existing.until);
        let outbox = self.checks(user, &items, now, None);
        let audit = self.audit(caller, user, "support.grant_removed", (before, "none".into()), now);
        let removed = ctx.store.delete_grant(existing, &audit, &outbox).await?;
        tracing::info!(user, feature, removed, caller = %caller.arn, "support grant removed");
        Ok(removed)
    }

    /// Repairs `billable` from Stripe through reconcile's path, audited.
    pub async fn resync(
        &self,
        caller: &Caller,
        billable: &str,
        reconciler: &crate::services::reconcile::Reconciler<'_>,
    ) -> Result<RunSummary, SupportError> {
        let ctx = &self.0;
        let now = ctx.clock.now();
        let items = ctx.store.user_items_consistent(billable).await?;
        let Some(link) = items.customer else {
            return Err(SupportError::NotLinked);
        };
        let summary = reconciler.customer(&link.customer_id).await?;
        let after = format!("applied {}, failed {}", summary.applied, summary.failed);
        let audit = self.audit(caller, billable, "support.resync", (link.customer_id.clone(), after), now);
        ctx.store.commit(None, Some(&audit), &[]).await?;
        tracing::info!(billable, customer = %link.customer_id, caller = %caller.arn, "support resync");
        Ok(summary)
    }

    fn audit(&self, caller: &Caller, billable: &str, kind: &str, change: (String, String), now: i64) -> AuditRecord {
        let id = format!("support:{}", unique());
        let mut row = AuditRecord::new(billable, &id, kind, now, "applied", change, now);
        row.actor = Some(caller.arn.clone());
        row
    }

    /// The access checks of a grant change: one now, and for a grant one due at its `until`
    /// (when it ends by itself). The publisher turns each into `entitlements.changed` when the
    /// user's effective features moved since the set it last published.
    fn checks(&self, user: &str, items: &UserItems, now: i64, until: Option<i64>) -> Vec<crate::domain::records::OutboxRecord> {
        use crate::domain::records::{ACCESS_CHECK_KIND, OutboxRecord};
        let ctx = &self.0;
        let customer = items.customer.as_ref().map(|c| c.customer_id.clone()).unwrap_or_default();
        let check = AccessCheck {
            id: format!("support-{}", unique()),
            user_id: user.to_owned(),
            customer_id: customer.clone(),
            version: Version::of_payload(now).get() | micros(),
            occurred_at: now,
            stripe_event_id: None,
        };
        let detail = serde_json::to_string(&check).unwrap_or_default();
        let mut out = vec![OutboxRecord::new(
            ACCESS_CHECK_KIND,
            &check.id,
            &customer,
            check.version,
            0,
            detail,
            now,
        )];
        if let Some(until) = until {
            // A check of its own (its event has its own id, and comes after the grant's), due
            // at `until`. Deferred checks are released `past_due_grace` after their time (the
            // grace mechanism's): placed that much earlier, this one comes due at `until`.
            let ends = AccessCheck {
                id: format!("{}-ends", check.id),
                version: Version::of_payload(until).get() | micros(),
                occurred_at: until,
                ..check.clone()
            };
            let grace = i64::try_from(ctx.config.access.past_due_grace.as_secs()).unwrap_or(0);
            let detail = serde_json::to_string(&ends).unwrap_or_default();
            out.push(OutboxRecord::later(&ends.id, &customer, until.saturating_sub(grace), detail, now));
        }
        out
    }
}

fn check_user(user: &str) -> Result<(), SupportError> {
    let valid = crate::domain::billable::is_valid_user_id(user) && user.len() <= 256 && !user.chars().any(char::is_control);
    if valid { Ok(()) } else { Err(SupportError::InvalidUser) }
}

fn to_value(value: &impl Serialize) -> serde_json::Value {
    let mut value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.remove("pk");
        map.remove("sk");
    }
    value
}

fn audit_view(row: AuditRecord) -> AuditView {
    AuditView {
        at: row.sk,
        event_id: row.event_id,
        event_type: row.event_type,
        outcome: row.outcome,
        before: row.before,
        after: row.after,
        actor: row.actor,
    }
}

fn micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_micros()))
}

/// A process-unique id: time in nanoseconds and a counter.
fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}{:04x}", COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff)
}
