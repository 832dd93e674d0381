//! `expand[]` on every answer, as Stripe does it: a path names a field holding an id, which
//! becomes the object (`customer`, `latest_invoice`), and goes on inside it
//! (`latest_invoice.customer`), inside lists (`data.customer`, `items.data.price.product`) and
//! arrays of ids (`discounts`); an includable field Stripe leaves out unless asked
//! (`line_items` on a Checkout Session) is added. A path that names no such field is refused
//! ("This property cannot be expanded (…)"), and so is one deeper than four levels
//! (`property_expansion_max_depth`).

use super::*;

/// Stripe's limit on the levels of one expansion.
const MAX_DEPTH: usize = 4;

fn cannot(segment: &str, on_list: bool) -> StripeError {
    let hint = if on_list {
        format!(" You may want to try expanding 'data.{segment}' instead.")
    } else {
        String::new()
    };
    StripeError {
        code: None,
        param: None,
        ..StripeError::state(format!("This property cannot be expanded ({segment}).{hint}"))
    }
}

/// Fields Stripe includes when asked (left out of the object otherwise) whose objects this
/// emulator does not model.
const NOT_EMULATED: [&str; 7] = [
    "confirmation_secret",
    "payments",
    "subscriptions",
    "tax_ids",
    "sources",
    "cash_balance",
    "pending_setup_intent",
];

/// A field Stripe would expand, but whose object the emulator does not have.
fn not_emulated(segment: &str) -> StripeError {
    StripeError {
        code: None,
        param: None,
        ..StripeError::state(format!(
            "This property cannot be expanded in the Stripe emulator ({segment}): its objects are not emulated."
        ))
    }
}

/// A field holding a string that names no object here: an id of an object the emulator does
/// not model (`pi_…`), or not an id at all (`status`).
fn unresolved(segment: &str, value: &str) -> StripeError {
    const UNMODELLED_IDS: [&str; 10] = ["pi_", "seti_", "txn_", "src_", "card_", "ba_", "tr_", "po_", "ca_", "acct_"];
    let id_like = UNMODELLED_IDS.iter().any(|prefix| value.starts_with(prefix));
    if id_like { not_emulated(segment) } else { cannot(segment, false) }
}

fn too_deep(path: &str) -> StripeError {
    StripeError {
        code: Some("property_expansion_max_depth"),
        ..StripeError::state(format!(
            "You cannot expand more than {MAX_DEPTH} levels of a property. Property: {path}"
        ))
    }
}

impl World {
    /// The request's `expand[]` paths, refused before anything is done when one is deeper than
    /// Stripe allows or malformed.
    pub fn check_expand(params: &Params) -> Result<(), StripeError> {
        for path in params.strings("expand") {
            let segments: Vec<&str> = path.split('.').collect();
            if segments.len() > MAX_DEPTH {
                return Err(too_deep(&path));
            }
            if segments.iter().any(|s| s.is_empty()) {
                return Err(cannot(&path, false));
            }
        }
        Ok(())
    }

    /// The answer `value` with the request's `expand[]` paths expanded.
    pub fn expand(&self, mut value: Value, params: &Params) -> Result<Value, StripeError> {
        Self::check_expand(params)?;
        let paths = params.strings("expand");
        for path in &paths {
            let segments: Vec<&str> = path.split('.').collect();
            self.expand_path(&mut value, &segments)?;
        }
        Ok(value)
    }

    fn expand_path(&self, value: &mut Value, segments: &[&str]) -> Result<(), StripeError> {
        let Some((first, rest)) = segments.split_first() else {
            return Ok(());
        };
        if value["object"] == "list" || value["object"] == "search_result" {
            if *first != "data" {
                return Err(cannot(first, true));
            }
            for item in value["data"].as_array_mut().into_iter().flatten() {
                self.expand_path(item, rest)?;
            }
            return Ok(());
        }
        let kind = value["object"].as_str().unwrap_or_default().to_owned();
        let Some(object) = value.as_object_mut() else {
            return Err(cannot(first, false));
        };
        if !object.contains_key(*first) {
            let included = self.includable(&kind, object, first).ok_or_else(|| {
                if NOT_EMULATED.contains(first) {
                    not_emulated(first)
                } else {
                    cannot(first, false)
                }
            })?;
            object.insert((*first).to_owned(), included);
        }
        let field = object.get_mut(*first).expect("present");
        match field {
            Value::Null => Ok(()),
            Value::String(id) => {
                let mut expanded = self.resolve(first, id).ok_or_else(|| unresolved(first, id))?;
                self.expand_path(&mut expanded, rest)?;
                *field = expanded;
                Ok(())
            }
            Value::Object(_) => self.expand_path(field, rest),
            Value::Array(items) => {
                for item in items.iter_mut() {
                    if let Value::String(id) = item {
                        *item = self.resolve(first, id).ok_or_else(|| unresolved(first, id))?;
                    }
                    if item.is_object() {
                        self.expand_path(item, rest)?;
                    }
                }
                Ok(())
            }
            _ => Err(cannot(first, false)),
        }
    }

    /// The object an id names, by the field it is in (a coupon's id is any string) or by its
    /// prefix.
    fn resolve(&self, field: &str, id: &str) -> Option<Value> {
        let none = Params::empty();
        if field == "coupon" {
            return self.coupon(id).ok();
        }
        let (prefix, _) = id.split_once('_')?;
        let found = match prefix {
            "cus" => self.customers.get(id).map(Customer::render).ok_or(()),
            "sub" if id.starts_with("sub_sched_") => self.subscription_schedule(id).map_err(drop),
            "sub" => self.subscription(id).map_err(drop),
            "in" => self.invoice(id).map_err(drop),
            "ii" => self.invoice_item(id).map_err(drop),
            "price" => self.price(id, &none).map_err(drop),
            "prod" => self.product(id).map_err(drop),
            "pm" => self.payment_method(id).map_err(drop),
            "cs" => self.session(id).map_err(drop),
            "ch" => self.charge(id).map_err(drop),
            "re" => self.refund(id).map_err(drop),
            "dp" | "du" => self.dispute(id).map_err(drop),
            "promo" => self.promotion_code(id, &none).map_err(drop),
            "di" => self.discounts.get(id).map(|d| d.render()).ok_or(()),
            "evt" => self.event(id).map_err(drop),
            "clock" => self.test_clock(id).map_err(drop),
            _ => Err(()),
        };
        found.ok()
    }

    /// A field Stripe includes only when asked: a Checkout Session's `line_items`.
    fn includable(&self, kind: &str, object: &serde_json::Map<String, Value>, field: &str) -> Option<Value> {
        match (kind, field) {
            ("checkout.session", "line_items") => {
                let id = object.get("id")?.as_str()?;
                self.session_line_items(id, &Params::empty()).ok()
            }
            ("price", "currency_options") => {
                let id = object.get("id")?.as_str()?;
                let with = Params::from_value(json!({"expand": ["currency_options"]}));
                self.price(id, &with).ok()?.get("currency_options").cloned()
            }
            _ => None,
        }
    }

    /// `GET /v1/checkout/sessions/{id}/line_items`: the session's line items (`item` objects,
    /// each with its price), as a list.
    pub fn session_line_items(&self, id: &str, params: &Params) -> Result<Value, StripeError> {
        let session = self
            .sessions
            .get(id)
            .ok_or_else(|| StripeError::no_such("checkout.session", id, "session"))?;
        let none = Params::empty();
        let items: Vec<(String, Value)> = session
            .line_items
            .iter()
            .enumerate()
            .map(|(n, line)| {
                let price = self.price(&line.price, &none).unwrap_or(Value::Null);
                let unit = self
                    .prices
                    .get(&line.price)
                    .map_or(0, |p| p.currency_options.get(&session.currency).copied().unwrap_or(p.unit_amount));
                let subtotal = unit * line.quantity as i64;
                // A code entered on the page discounts the session; with one line, that line.
                let discount = if session.line_items.len() == 1 {
                    session.amount_discount
                } else {
                    0
                };
                let item_id = format!("li_{}{n}", session.id.trim_start_matches("cs_test_"));
                let description = self
                    .products
                    .get(price["product"].as_str().unwrap_or_default())
                    .map(|p| p.name.clone());
                let quantity = (line.quantity > 0).then_some(line.quantity);
                let item = json!({
                    "id": item_id, "object": "item", "adjustable_quantity": null, "amount_discount": discount,
                    "amount_subtotal": subtotal, "amount_tax": 0, "amount_total": subtotal - discount, "currency": session.currency,
                    "description": description, "discounts": [], "metadata": {}, "price": price, "quantity": quantity, "taxes": []
                });
                (item_id, item)
            })
            .collect();
        let (data, has_more) = paginate(items, params.str("starting_after")?, params.limit()?)?;
        Ok(json!({
            "object": "list", "data": data, "has_more": has_more, "url": format!("/v1/checkout/sessions/{id}/line_items")
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world_with_session() -> (World, String) {
        let catalog = Catalog::load(None).expect("the embedded catalog");
        let mut world = World::new(Settings::default(), &catalog);
        let price = world
            .prices
            .values()
            .find(|p| p.lookup_key.as_deref() == Some("pro_month"))
            .map(|p| p.id.clone())
            .expect("the catalog sells pro_month");
        let params = Params::from_value(json!({
            "mode": "subscription", "success_url": "http://localhost/ok",
            "line_items": [{"price": price, "quantity": "2"}]
        }));
        let session = world.create_checkout_session(&params).expect("session");
        let id = session["id"].as_str().unwrap().to_owned();
        (world, id)
    }

    #[test]
    fn a_session_expands_its_line_items_and_their_prices_products() {
        let (world, id) = world_with_session();
        let session = world.session(&id).unwrap();
        assert!(session.get("line_items").is_none(), "left out unless asked");
        let expand = Params::from_value(json!({"expand": ["line_items.data.price.product"]}));
        let expanded = world.expand(session, &expand).unwrap();
        let item = &expanded["line_items"]["data"][0];
        assert_eq!(item["object"], "item");
        assert_eq!(item["quantity"], 2);
        assert_eq!(item["amount_subtotal"], item["price"]["unit_amount"].as_i64().unwrap() * 2);
        assert_eq!(item["price"]["product"]["object"], "product");
        let listed = world.session_line_items(&id, &Params::empty()).unwrap();
        assert_eq!(listed["data"][0]["id"], item["id"], "the same item either way");
    }

    #[test]
    fn unknown_paths_and_five_levels_are_refused_as_stripe_does() {
        let (world, id) = world_with_session();
        let session = world.session(&id).unwrap();
        let unknown = world
            .expand(session.clone(), &Params::from_value(json!({"expand": ["status"]})))
            .unwrap_err();
        assert_eq!(unknown.message, "This property cannot be expanded (status).");
        let missing = world
            .expand(session.clone(), &Params::from_value(json!({"expand": ["nonsense"]})))
            .unwrap_err();
        assert_eq!(missing.kind, "invalid_request_error");
        let deep = world
            .expand(session, &Params::from_value(json!({"expand": ["line_items.data.price.product.x"]})))
            .unwrap_err();
        assert_eq!(deep.code, Some("property_expansion_max_depth"));
        let list = world.list_sessions(&Params::empty()).unwrap();
        let hint = world
            .expand(list, &Params::from_value(json!({"expand": ["customer"]})))
            .unwrap_err();
        assert!(hint.message.contains("'data.customer'"), "{}", hint.message);
    }
}
