//! Reads of the DynamoDB adapter: a user's partition in one Query, single items, and several
//! items in one BatchGetItem.

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde::de::DeserializeOwned;

use super::*;

impl Store {
    /// Everything under `USER#<sub>` with ONE Query (paginated only past 1 MB, which a user's
    /// partition does not reach). Eventually consistent, as an entitlement check may be.
    pub async fn user_items(&self, user_id: &str) -> Result<UserItems, StoreError> {
        self.query_user(user_id, false).await
    }

    /// [`Store::user_items`] with a strongly consistent read: for a read that must see this
    /// service's own write of a moment ago.
    pub async fn user_items_consistent(&self, user_id: &str) -> Result<UserItems, StoreError> {
        self.query_user(user_id, true).await
    }

    pub(super) async fn query_user(&self, user_id: &str, consistent: bool) -> Result<UserItems, StoreError> {
        let mut out = UserItems::default();
        for item in self.partition(&keys::user(user_id), consistent, None).await? {
            sort_item(&mut out, item)?;
        }
        Ok(out)
    }

    /// The items of partition `pk` in key order, every page (at most `cap` items when given).
    pub(super) async fn partition(&self, pk: &str, consistent: bool, cap: Option<usize>) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        while cap.is_none_or(|cap| out.len() < cap) {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
                .consistent_read(consistent)
                .set_limit(cap.map(|cap| i32::try_from(cap - out.len()).unwrap_or(i32::MAX)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend("query"))?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(out)
    }

    /// A member's partition and their organization's, read with ONE request: a PartiQL
    /// `SELECT … WHERE pk = ? OR pk = ?`, which DynamoDB runs as a query of the two partitions
    /// (no scan). Eventually consistent, as an entitlement check may be. Answers
    /// `(personal, organization)`.
    pub async fn member_items(&self, user_id: &str, org_id: &str) -> Result<(UserItems, UserItems), StoreError> {
        let personal_pk = keys::user(user_id);
        let org_pk = keys::user(&crate::domain::billable::org(org_id));
        let statement = format!(
            "SELECT * FROM \"{}\" WHERE \"{}\" = ? OR \"{}\" = ?",
            self.table,
            keys::PK,
            keys::PK
        );
        let (mut personal, mut org) = (UserItems::default(), UserItems::default());
        let mut next = None;
        loop {
            let page = self
                .client
                .execute_statement()
                .statement(&statement)
                .parameters(AttributeValue::S(personal_pk.clone()))
                .parameters(AttributeValue::S(org_pk.clone()))
                .set_next_token(next)
                .send()
                .await
                .map_err(backend("execute_statement"))?;
            for item in page.items.unwrap_or_default() {
                match text(&item, keys::PK) {
                    Some(pk) if pk == personal_pk => sort_item(&mut personal, item)?,
                    Some(pk) if pk == org_pk => sort_item(&mut org, item)?,
                    _ => {}
                }
            }
            match page.next_token {
                Some(token) if !token.is_empty() => next = Some(token),
                _ => break,
            }
        }
        Ok((personal, org))
    }

    /// The user a Stripe customer belongs to.
    pub async fn customer_owner(&self, customer_id: &str) -> Result<Option<String>, StoreError> {
        let owner: Option<CustomerOwner> = self.get_as(&keys::customer(customer_id), keys::SK_USER).await?;
        Ok(owner.map(|o| o.user_id))
    }

    /// One stored subscription.
    pub async fn subscription(&self, user_id: &str, subscription_id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        self.get_as(&keys::user(user_id), &keys::subscription(subscription_id)).await
    }

    /// The stored schedule record of a user's subscription.
    pub async fn schedule(&self, user_id: &str, subscription_id: &str) -> Result<Option<ScheduleRecord>, StoreError> {
        self.get_as(&keys::user(user_id), &keys::schedule(subscription_id)).await
    }

    /// A user's stored subscription and its schedule record, in ONE round trip (strongly
    /// consistent): what a change reads before it calls Stripe.
    pub async fn subscription_and_schedule(
        &self,
        user_id: &str,
        subscription_id: &str,
    ) -> Result<(Option<SubscriptionRecord>, Option<ScheduleRecord>), StoreError> {
        let wanted = [
            (keys::user(user_id), keys::subscription(subscription_id)),
            (keys::user(user_id), keys::schedule(subscription_id)),
        ];
        let mut found = self.get_many(&wanted).await?.into_iter();
        let record = found.next().flatten().map(from_item::<SubscriptionRecord>).transpose()?;
        let schedule = found.next().flatten().map(from_item::<ScheduleRecord>).transpose()?;
        Ok((record, schedule))
    }

    /// A user's stored entitlement summary.
    pub async fn entitlements(&self, user_id: &str) -> Result<Option<EntitlementsRecord>, StoreError> {
        self.get_as(&keys::user(user_id), keys::SK_ENTITLEMENTS).await
    }

    /// Whether `user_id` and `customer_id` may be linked, read in ONE round trip (strongly
    /// consistent).
    pub async fn link_state(&self, user_id: &str, customer_id: &str) -> Result<LinkState, StoreError> {
        let wanted = [
            (keys::user(user_id), keys::SK_CUSTOMER.to_owned()),
            (keys::customer(customer_id), keys::SK_USER.to_owned()),
        ];
        let mut found = self.get_many(&wanted).await?.into_iter();
        let link = found.next().flatten().map(from_item::<CustomerLink>).transpose()?;
        let owner = found.next().flatten().map(from_item::<CustomerOwner>).transpose()?;
        let user_side = link.map(|l| l.customer_id == customer_id);
        let customer_side = owner.map(|o| o.user_id == user_id);
        Ok(match (user_side, customer_side) {
            (Some(false), _) | (_, Some(false)) => LinkState::Conflict,
            (None, None) => LinkState::Free,
            _ => LinkState::Same,
        })
    }

    /// The dedupe marker of a Stripe event, if it was processed.
    pub async fn event_marker(&self, event_id: &str) -> Result<Option<EventRecord>, StoreError> {
        self.get_as(&keys::event(event_id), keys::SK_EVENT).await
    }

    /// The user `customer_id` belongs to and `user_id`'s stored record of `subscription_id`, in
    /// ONE round trip (strongly consistent).
    pub async fn owner_and_subscription(
        &self,
        customer_id: &str,
        user_id: &str,
        subscription_id: &str,
    ) -> Result<(Option<String>, Option<SubscriptionRecord>), StoreError> {
        let owner_key = (keys::customer(customer_id), keys::SK_USER.to_owned());
        let record_key = (keys::user(user_id), keys::subscription(subscription_id));
        let mut found = self.get_many(&[owner_key, record_key]).await?.into_iter();
        let owner = found.next().flatten().map(from_item::<CustomerOwner>).transpose()?;
        let record = found.next().flatten().map(from_item::<SubscriptionRecord>).transpose()?;
        Ok((owner.map(|o| o.user_id), record))
    }

    pub(super) async fn get_as<T: DeserializeOwned>(&self, pk: &str, sk: &str) -> Result<Option<T>, StoreError> {
        self.get(pk, sk).await?.map(from_item).transpose()
    }

    /// One item by key (strongly consistent).
    pub(super) async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend("get_item"))?;
        Ok(out.item)
    }

    /// Several items by key in ONE round trip (BatchGetItem, strongly consistent). The result
    /// has one entry per requested key, in order.
    pub(super) async fn get_many(&self, wanted: &[(String, String)]) -> Result<Vec<Option<Item>>, StoreError> {
        let mut request = KeysAndAttributes::builder().consistent_read(true);
        for (pk, sk) in wanted {
            request = request.keys(key(pk, sk));
        }
        let request = request.build().map_err(backend("batch_get_item"))?;
        let mut found: Vec<Item> = Vec::new();
        let mut pending = Some(HashMap::from([(self.table.clone(), request)]));
        for _ in 0..5 {
            let Some(items) = pending.take().filter(|m| !m.is_empty()) else {
                break;
            };
            let out = self
                .client
                .batch_get_item()
                .set_request_items(Some(items))
                .send()
                .await
                .map_err(backend("batch_get_item"))?;
            found.extend(out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default());
            pending = out.unprocessed_keys;
        }
        if pending.is_some_and(|m| !m.is_empty()) {
            return Err(backend("batch_get_item")(std::io::Error::other("unprocessed keys after retries")));
        }
        Ok(wanted
            .iter()
            .map(|(pk, sk)| {
                found
                    .iter()
                    .find(|item| text(item, keys::PK).as_ref() == Some(pk) && text(item, keys::SK).as_ref() == Some(sk))
                    .cloned()
            })
            .collect())
    }
}

/// Files one item of a billable's partition into `out` by its sort key.
fn sort_item(out: &mut UserItems, item: HashMap<String, AttributeValue>) -> Result<(), StoreError> {
    let sk = text(&item, keys::SK).unwrap_or_default();
    if sk == keys::SK_CUSTOMER {
        out.customer = Some(from_item(item)?);
    } else if sk == keys::SK_ENTITLEMENTS {
        out.entitlements = Some(from_item(item)?);
    } else if sk.starts_with(keys::SUB_PREFIX) {
        out.subscriptions.push(from_item(item)?);
    } else if sk.starts_with(keys::SCHEDULE_PREFIX) {
        out.schedules.push(from_item(item)?);
    } else if sk.starts_with(keys::USAGE_PREFIX) {
        out.usage.push(from_item(item)?);
    } else if sk == keys::SK_ACCESS {
        out.access = Some(from_item(item)?);
    } else if sk.starts_with(keys::SEAT_PREFIX) {
        out.seats.push(from_item(item)?);
    } else if sk.starts_with(crate::domain::grants::GRANT_PREFIX) {
        out.grants.push(from_item(item)?);
    }
    Ok(())
}
