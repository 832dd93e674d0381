//! Test clocks: create, retrieve, list, advance, delete; and the scope that puts a request on a
//! clock's time.
//!
//! A customer created with `test_clock` lives on that clock, and so do its subscriptions,
//! invoices and schedules. The `/v1` dispatcher sets [`World::set_scope`] to the clock of the
//! customer a request concerns ([`World::request_clock`]) and clears it afterwards: while it is
//! set, [`World::now`] is the clock's `frozen_time`. Due actions (renewals, trial ends, retries,
//! schedule phases...) are those of the customers on the clock in scope, or, with no scope, of
//! the customers on no clock: `/_emulator/clock/advance` never moves a test clock's objects, and
//! an advance of a test clock moves only its own.

use super::*;

/// How far a clock with no subscriptions may advance at once (Stripe: two years).
const ADVANCE_WITHOUT_SUBSCRIPTIONS: i64 = 2 * 365 * DAY;

impl World {
    /// `POST /v1/test_helpers/test_clocks`: `frozen_time` (required), `name`.
    pub fn create_test_clock(&mut self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["frozen_time", "name"])?;
        let frozen_time = params
            .i64("frozen_time")?
            .ok_or_else(|| StripeError::missing_param("frozen_time"))?;
        let name = params.str("name")?.map(str::to_owned);
        if name.as_ref().is_some_and(|n| n.chars().count() > 300) {
            return Err(StripeError::invalid("name", "The name can be at most 300 characters."));
        }
        let clock = TestClock {
            id: new_id("clock"),
            name,
            // The clock itself lives on the emulator's time, not on its own.
            created: real_now() + self.offset,
            frozen_time,
            status: "ready",
        };
        let rendered = clock.render();
        self.track(&clock.id);
        self.test_clocks.insert(clock.id.clone(), clock);
        self.emit("test_helpers.test_clock.created", rendered.clone(), None);
        Ok(rendered)
    }

    /// The clock a path names (404 when there is none).
    fn test_clock_of(&self, id: &str) -> Result<&TestClock, StripeError> {
        self.test_clocks
            .get(id)
            .ok_or_else(|| StripeError::no_such("test_clock", id, "test_clock"))
    }

    pub fn test_clock(&self, id: &str) -> Result<Value, StripeError> {
        self.test_clock_of(id).map(TestClock::render)
    }

    pub fn list_test_clocks(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["limit", "starting_after", "ending_before"])?;
        let items = self
            .newest_first(self.test_clocks.keys())
            .into_iter()
            .map(|id| {
                let rendered = self.test_clocks[&id].render();
                (id, rendered)
            })
            .collect();
        let (data, has_more) = paginate_both(items, params.str("starting_after")?, params.str("ending_before")?, params.limit()?)?;
        Ok(list("/v1/test_helpers/test_clocks", data, has_more))
    }

    /// `POST /v1/test_helpers/test_clocks/{id}/advance`: walks the clock's objects to
    /// `frozen_time` as [`World::advance`] walks the others (every due renewal, trial end,
    /// retry, cancellation and schedule phase, in time order, each at its own instant), between
    /// `test_helpers.test_clock.advancing` and `test_helpers.test_clock.ready`. Answers the clock
    /// `advancing` as Stripe does (a retrieve then shows it `ready` at the new time).
    pub fn advance_test_clock(&mut self, id: &str, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["frozen_time"])?;
        let clock = self.test_clock_of(id)?.clone();
        let target = params
            .i64("frozen_time")?
            .ok_or_else(|| StripeError::missing_param("frozen_time"))?;
        if target <= clock.frozen_time {
            return Err(StripeError::invalid(
                "frozen_time",
                format!(
                    "The frozen_time must be after the test clock's current frozen_time ({}): a test clock only moves forward.",
                    clock.frozen_time
                ),
            ));
        }
        let (limit, what) = match self.shortest_interval(id) {
            Some((interval, seconds)) => (seconds, format!("two intervals of its shortest subscription ({interval})")),
            None => (ADVANCE_WITHOUT_SUBSCRIPTIONS, "two years, as it has no subscriptions".to_owned()),
        };
        if target > clock.frozen_time + limit {
            return Err(StripeError::invalid(
                "frozen_time",
                format!(
                    "This test clock can advance at most {what} at a time: frozen_time must be at most {}.",
                    clock.frozen_time + limit
                ),
            ));
        }
        let answer = clock.render_advancing(target);
        self.test_clocks.get_mut(id).expect("checked above").status = "advancing";
        self.emit("test_helpers.test_clock.advancing", answer.clone(), None);
        self.with_scope(Some(id.to_owned()), |world| {
            world.run_due(target, |world, at| {
                let clock = world.test_clocks.get_mut(id).expect("advancing");
                clock.frozen_time = clock.frozen_time.max(at);
            });
        });
        let clock = self.test_clocks.get_mut(id).expect("advancing");
        clock.frozen_time = target;
        clock.status = "ready";
        let ready = clock.render();
        self.emit("test_helpers.test_clock.ready", ready, None);
        Ok(answer)
    }

    /// The shortest interval among the subscriptions of the clock's customers, and how far two
    /// of them reach (calendar months and years at their longest).
    fn shortest_interval(&self, clock: &str) -> Option<(&'static str, i64)> {
        self.subscriptions
            .values()
            .filter(|s| !matches!(s.status.as_str(), "canceled" | "incomplete_expired"))
            .filter(|s| self.clock_of(&s.customer).as_deref() == Some(clock))
            .flat_map(|s| &s.items)
            .filter_map(|item| self.prices.get(&item.price)?.interval)
            .map(|interval| {
                let two = match interval {
                    "day" => 2 * DAY,
                    "week" => 14 * DAY,
                    "year" => 2 * 366 * DAY,
                    _ => 62 * DAY,
                };
                (interval, two)
            })
            .min_by_key(|(_, two)| *two)
    }

    /// `DELETE /v1/test_helpers/test_clocks/{id}`: deletes the clock's customers (their
    /// subscriptions end, `customer.subscription.deleted` and `customer.deleted`) and the clock.
    pub fn delete_test_clock(&mut self, id: &str) -> Result<Value, StripeError> {
        let clock = self.test_clock_of(id)?.clone();
        let customers: Vec<String> = self
            .customers
            .values()
            .filter(|c| !c.deleted && c.test_clock.as_deref() == Some(id))
            .map(|c| c.id.clone())
            .collect();
        self.with_scope(Some(id.to_owned()), |world| {
            customers.iter().try_for_each(|customer| world.delete_customer(customer).map(drop))
        })?;
        self.test_clocks.remove(id);
        self.emit("test_helpers.test_clock.deleted", clock.render(), None);
        Ok(clock.render_deleted())
    }

    /// `test_clock` of `POST /v1/customers`: an existing clock (400 `resource_missing` else).
    pub(super) fn test_clock_param(&self, params: &Params) -> Result<Option<String>, StripeError> {
        match params.str("test_clock")? {
            None => Ok(None),
            Some(id) if self.test_clocks.contains_key(id) => Ok(Some(id.to_owned())),
            Some(id) => Err(StripeError::no_such_ref("test_clock", id, "test_clock")),
        }
    }

    /// The existing test clock a customer is on.
    pub(super) fn clock_of(&self, customer: &str) -> Option<String> {
        self.customers
            .get(customer)
            .and_then(|c| c.test_clock.clone())
            .filter(|clock| self.test_clocks.contains_key(clock))
    }

    /// Whether a customer's objects move with the time in scope: the customers of the clock in
    /// scope, or with no scope the customers on no clock.
    pub(super) fn in_scope(&self, customer: &str) -> bool {
        self.customers.get(customer).and_then(|c| c.test_clock.as_deref()) == self.scope.as_deref()
    }

    /// Moves a test clock's time forward to `at` (never back).
    pub(super) fn set_frozen_time(&mut self, clock: &str, at: i64) {
        if let Some(clock) = self.test_clocks.get_mut(clock) {
            clock.frozen_time = clock.frozen_time.max(at);
        }
    }

    /// Puts the following operations on a test clock's time (`None`: the emulator's own).
    pub fn set_scope(&mut self, clock: Option<String>) {
        self.scope = clock.filter(|id| self.test_clocks.contains_key(id));
    }

    /// Runs `f` on `clock`'s time, then restores the scope.
    pub(super) fn with_scope<T>(&mut self, clock: Option<String>, f: impl FnOnce(&mut Self) -> T) -> T {
        let outer = std::mem::replace(&mut self.scope, clock);
        let result = f(self);
        self.scope = outer;
        result
    }

    /// The test clock a `/v1` request concerns: that of the customer its path names, or of the
    /// customer of the subscription, invoice, invoice item, Checkout Session or subscription
    /// schedule its path names, else of its `customer`, `subscription` or `from_subscription`
    /// parameter, else of a meter event payload's customer.
    pub fn request_clock(&self, segments: &[&str], params: &Params) -> Option<String> {
        let param = |name: &str| params.str(name).ok().flatten();
        let of_subscription = |id: &str| self.subscriptions.get(id).map(|s| s.customer.clone());
        let from_path = match segments {
            ["customers", id, ..] => Some((*id).to_owned()),
            ["subscriptions", id, ..] => of_subscription(id),
            ["invoices", id, ..] => self.invoices.get(*id).map(|i| i.customer.clone()),
            ["invoiceitems", id, ..] => self.invoice_items.get(*id).map(|i| i.customer.clone()),
            ["checkout", "sessions", id, ..] => self.sessions.get(*id).and_then(|s| s.customer.clone()),
            ["subscription_schedules", id, ..] => self.schedules.get(*id).map(|s| s.customer.clone()),
            _ => None,
        };
        let payload = || match params.value("payload") {
            Some(Value::Object(map)) => map
                .values()
                .filter_map(Value::as_str)
                .find(|v| self.customers.contains_key(*v))
                .map(str::to_owned),
            _ => None,
        };
        let customer = from_path
            .or_else(|| param("customer").map(str::to_owned))
            .or_else(|| param("subscription").and_then(of_subscription))
            .or_else(|| param("from_subscription").and_then(of_subscription))
            .or_else(payload)?;
        self.clock_of(&customer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2020-01-01T00:00:00Z, long before the emulator's own time.
    const FROZEN: i64 = 1_577_836_800;

    fn world() -> World {
        let catalog = billing::domain::plans::Catalog::embedded().expect("the embedded catalog");
        World::new(Settings::default(), &catalog)
    }

    fn params(body: &str) -> Params {
        Params::parse(body.as_bytes()).expect("form")
    }

    /// A `/v1` request as the dispatcher serves it: on the clock it concerns.
    fn request(
        world: &mut World,
        segments: &[&str],
        body: &str,
        f: impl FnOnce(&mut World, &Params) -> Result<Value, StripeError>,
    ) -> Value {
        let params = params(body);
        let clock = world.request_clock(segments, &params);
        world.set_scope(clock);
        let result = f(world, &params);
        world.set_scope(None);
        result.expect("request succeeds")
    }

    fn monthly_price(world: &World) -> String {
        world
            .prices
            .values()
            .find(|p| p.interval == Some("month") && !p.metered() && p.unit_amount > 0)
            .expect("a monthly price in the catalog")
            .id
            .clone()
    }

    fn create_clock(world: &mut World) -> String {
        let clock = request(
            world,
            &["test_helpers", "test_clocks"],
            &format!("frozen_time={FROZEN}&name=Renewals"),
            World::create_test_clock,
        );
        clock["id"].as_str().expect("id").to_owned()
    }

    /// A customer (on `clock`, if any) with a paid monthly subscription; returns both ids.
    fn subscribed_customer(world: &mut World, clock: Option<&str>) -> (String, String) {
        let body = clock.map_or_else(
            || "email=a@example.com".to_owned(),
            |c| format!("email=a@example.com&test_clock={c}"),
        );
        let customer = request(world, &["customers"], &body, World::create_customer);
        let customer = customer["id"].as_str().expect("id").to_owned();
        let price = monthly_price(world);
        let body = format!(
            "mode=subscription&customer={customer}&line_items[0][price]={price}&line_items[0][quantity]=1&success_url=https://example.com/ok"
        );
        let session = request(world, &["checkout", "sessions"], &body, World::create_checkout_session);
        let session = session["id"].as_str().expect("id").to_owned();
        world.pay_session(&session, "4242424242424242").expect("paid");
        let sub = world.customer_subscriptions(&customer)[0].id.clone();
        (customer, sub)
    }

    fn invoices_of(world: &World, customer: &str) -> usize {
        world.invoices.values().filter(|i| i.customer == customer).count()
    }

    #[test]
    fn a_clock_advance_renews_its_customers_subscription_only() {
        let mut world = world();
        let clock = create_clock(&mut world);
        let (on_clock, clocked_sub) = subscribed_customer(&mut world, Some(&clock));
        let (off_clock, plain_sub) = subscribed_customer(&mut world, None);
        assert_eq!(world.customers[&on_clock].render()["test_clock"], json!(clock));
        assert_eq!(world.customers[&off_clock].render()["test_clock"], Value::Null);
        let sub = world.subscriptions[&clocked_sub].clone();
        assert_eq!(sub.period_start, FROZEN, "the subscription starts at the clock's time");
        let plain = world.subscriptions[&plain_sub].clone();
        let invoices = (invoices_of(&world, &on_clock), invoices_of(&world, &off_clock));

        let target = FROZEN + 31 * DAY;
        let answer = request(
            &mut world,
            &["test_helpers", "test_clocks", clock.as_str(), "advance"],
            &format!("frozen_time={target}"),
            |w, p| w.advance_test_clock(&clock, p),
        );
        assert_eq!(answer["status"], "advancing");
        assert_eq!(answer["status_details"]["advancing"]["target_frozen_time"], target);
        let retrieved = world.test_clock(&clock).unwrap();
        assert_eq!(
            (retrieved["status"].clone(), retrieved["frozen_time"].clone()),
            (json!("ready"), json!(target))
        );

        let renewed = &world.subscriptions[&clocked_sub];
        assert_eq!(renewed.period_start, sub.period_end, "renewed at its period end");
        assert_eq!(renewed.status, "active");
        assert_eq!(invoices_of(&world, &on_clock), invoices.0 + 1, "the renewal invoice");
        let untouched = &world.subscriptions[&plain_sub];
        assert_eq!(
            (untouched.period_start, untouched.period_end),
            (plain.period_start, plain.period_end)
        );
        assert_eq!(invoices_of(&world, &off_clock), invoices.1);

        let types: Vec<&str> = world.events.iter().map(|e| e.event_type.as_str()).collect();
        let position = |t: &str| types.iter().position(|x| *x == t).unwrap_or_else(|| panic!("{t} in {types:?}"));
        let advancing = position("test_helpers.test_clock.advancing");
        let ready = position("test_helpers.test_clock.ready");
        let paid = types.iter().rposition(|t| *t == "invoice.paid").expect("invoice.paid");
        assert!(
            position("test_helpers.test_clock.created") < advancing && advancing < paid && paid < ready,
            "{types:?}"
        );
        let renewal = world.events.iter().rev().find(|e| e.event_type == "invoice.paid").unwrap();
        assert_eq!(renewal.created, sub.period_end, "the renewal's events carry the clock's time");
    }

    #[test]
    fn the_global_advance_leaves_clock_objects_alone() {
        let mut world = world();
        let clock = create_clock(&mut world);
        let (_, clocked_sub) = subscribed_customer(&mut world, Some(&clock));
        let (_, plain_sub) = subscribed_customer(&mut world, None);
        let (clocked, plain) = (world.subscriptions[&clocked_sub].clone(), world.subscriptions[&plain_sub].clone());

        world.advance(40 * DAY).expect("advanced");
        let after = &world.subscriptions[&clocked_sub];
        assert_eq!((after.period_start, after.period_end), (clocked.period_start, clocked.period_end));
        assert_eq!(world.test_clocks[&clock].frozen_time, FROZEN);
        assert_eq!(
            world.subscriptions[&plain_sub].period_start, plain.period_end,
            "the global clock still renews the others"
        );
    }

    #[test]
    fn advancing_backwards_or_too_far_is_refused() {
        let mut world = world();
        let clock = create_clock(&mut world);
        let (customer, _) = subscribed_customer(&mut world, Some(&clock));
        let events = world.events.len();
        for target in [FROZEN - 1, FROZEN, FROZEN + 90 * DAY] {
            let err = world
                .advance_test_clock(&clock, &params(&format!("frozen_time={target}")))
                .unwrap_err();
            assert_eq!(
                (err.status.as_u16(), err.kind, err.param.as_deref()),
                (400, "invalid_request_error", Some("frozen_time")),
                "{target}"
            );
        }
        assert_eq!(world.test_clocks[&clock].frozen_time, FROZEN);
        assert_eq!(world.events.len(), events, "nothing happened");
        let err = world.advance_test_clock(&clock, &params("")).unwrap_err();
        assert_eq!(err.code, Some("parameter_missing"));
        let err = world.test_clock("clock_x").unwrap_err();
        assert_eq!(
            (err.status.as_u16(), err.code, err.message.as_str()),
            (404, Some("resource_missing"), "No such test_clock: 'clock_x'")
        );
        assert_eq!(err.param.as_deref(), Some("test_clock"));
        let err = world.create_customer(&params("test_clock=clock_x")).unwrap_err();
        assert_eq!(
            (err.status.as_u16(), err.code, err.param.as_deref()),
            (400, Some("resource_missing"), Some("test_clock"))
        );
        assert!(world.customers.contains_key(&customer));
    }

    #[test]
    fn deleting_a_clock_deletes_its_customers() {
        let mut world = world();
        let clock = create_clock(&mut world);
        let (on_clock, clocked_sub) = subscribed_customer(&mut world, Some(&clock));
        let (off_clock, plain_sub) = subscribed_customer(&mut world, None);

        let answer = world.delete_test_clock(&clock).expect("deleted");
        assert_eq!(answer, json!({"id": clock, "object": "test_helpers.test_clock", "deleted": true}));
        assert!(world.customers[&on_clock].deleted);
        assert_eq!(world.subscriptions[&clocked_sub].status, "canceled");
        assert_eq!(
            world.subscriptions[&clocked_sub].ended_at,
            Some(FROZEN),
            "ended at the clock's time"
        );
        assert!(!world.customers[&off_clock].deleted);
        assert_eq!(world.subscriptions[&plain_sub].status, "active");
        assert_eq!(world.test_clock(&clock).unwrap_err().code, Some("resource_missing"));
        assert_eq!(
            world.events.last().map(|e| e.event_type.as_str()),
            Some("test_helpers.test_clock.deleted")
        );
        let listed = world.list_test_clocks(&params("")).unwrap();
        assert_eq!(listed["data"], json!([]));
    }

    #[test]
    fn clocks_list_newest_first_with_cursors() {
        let mut world = world();
        let first = create_clock(&mut world);
        let second = create_clock(&mut world);
        let page = world.list_test_clocks(&params("limit=1")).unwrap();
        assert_eq!(
            (page["data"][0]["id"].clone(), page["has_more"].clone()),
            (json!(second), json!(true))
        );
        assert_eq!(page["url"], "/v1/test_helpers/test_clocks");
        let next = world.list_test_clocks(&params(&format!("starting_after={second}"))).unwrap();
        assert_eq!(next["data"][0]["id"], json!(first));
        let clock = world.test_clock(&first).unwrap();
        assert_eq!(
            clock["deletes_after"].as_i64().unwrap() - clock["created"].as_i64().unwrap(),
            TEST_CLOCK_LIFETIME
        );
        assert_eq!(
            (clock["object"].clone(), clock["name"].clone()),
            (json!("test_helpers.test_clock"), json!("Renewals"))
        );
    }
}
