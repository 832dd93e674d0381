//! Charges of one-time payments, refunds and disputes.

use super::*;

impl World {
    pub fn charge(&self, id: &str) -> Result<Value, StripeError> {
        self.charges
            .get(id)
            .map(Charge::render)
            .ok_or_else(|| StripeError::no_such("charge", id, "id"))
    }

    pub fn refund(&self, id: &str) -> Result<Value, StripeError> {
        self.refunds
            .get(id)
            .map(Refund::render)
            .ok_or_else(|| StripeError::no_such("refund", id, "id"))
    }

    pub fn dispute(&self, id: &str) -> Result<Value, StripeError> {
        self.disputes
            .get(id)
            .map(Dispute::render)
            .ok_or_else(|| StripeError::no_such("dispute", id, "id"))
    }

    /// `GET /v1/disputes`: filters `charge`, `payment_intent`; newest first.
    /// `GET /v1/charges`: `customer`, `payment_intent`; newest first.
    pub fn list_charges(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["customer", "payment_intent", "limit", "starting_after", "created"])?;
        let (customer, intent) = (params.str("customer")?, params.str("payment_intent")?);
        let ids = self.newest_first(self.charges.keys());
        let items = ids
            .iter()
            .map(|id| &self.charges[id])
            .filter(|c| customer.is_none_or(|cu| c.customer.as_deref() == Some(cu)) && intent.is_none_or(|i| c.payment_intent == i))
            .map(|c| (c.id.clone(), c.render()))
            .collect();
        let (data, has_more) = paginate(items, params.str("starting_after")?, params.limit()?)?;
        Ok(list("/v1/charges", data, has_more))
    }

    pub fn list_disputes(&self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["charge", "payment_intent", "limit", "starting_after", "created"])?;
        let (charge, intent) = (params.str("charge")?, params.str("payment_intent")?);
        let ids = self.newest_first(self.disputes.keys());
        let items = ids
            .iter()
            .map(|id| &self.disputes[id])
            .filter(|d| charge.is_none_or(|c| d.charge == c) && intent.is_none_or(|i| d.payment_intent == i))
            .map(|d| (d.id.clone(), d.render()))
            .collect();
        let (data, has_more) = paginate(items, params.str("starting_after")?, params.limit()?)?;
        Ok(list("/v1/disputes", data, has_more))
    }

    /// `POST /v1/refunds`: `charge` or `payment_intent`, `amount` (default: what is left).
    /// Emits `charge.refunded` and `refund.created`.
    pub fn create_refund(&mut self, params: &Params) -> Result<Value, StripeError> {
        params.allow(&["charge", "payment_intent", "amount", "reason", "metadata"])?;
        let charge_id = match (params.str("charge")?, params.str("payment_intent")?) {
            (Some(charge), _) => self
                .charges
                .get(charge)
                .map(|c| c.id.clone())
                .ok_or_else(|| StripeError::no_such_ref("charge", charge, "charge"))?,
            (None, Some(intent)) => self
                .charges
                .values()
                .find(|c| c.payment_intent == intent)
                .map(|c| c.id.clone())
                .ok_or_else(|| StripeError::no_such_ref("payment_intent", intent, "payment_intent"))?,
            (None, None) => return Err(StripeError::missing_param("charge")),
        };
        let reason = params.str("reason")?.map(str::to_owned);
        if let Some(reason) = &reason
            && !matches!(reason.as_str(), "duplicate" | "fraudulent" | "requested_by_customer")
        {
            return Err(StripeError::invalid("reason", format!("Invalid reason: `{reason}`.")));
        }
        let charge = &self.charges[&charge_id];
        let left = charge.amount - charge.amount_refunded;
        let amount = params.i64("amount")?.unwrap_or(left);
        if left == 0 {
            return Err(StripeError::state(format!("Charge {charge_id} has already been refunded.")));
        }
        if amount <= 0 || amount > left {
            return Err(StripeError::invalid(
                "amount",
                format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({left})."),
            ));
        }
        let refund = Refund {
            id: new_id("re"),
            charge: charge_id.clone(),
            payment_intent: charge.payment_intent.clone(),
            amount,
            currency: charge.currency.clone(),
            reason,
            created: self.now(),
        };
        self.charges.get_mut(&charge_id).expect("checked").amount_refunded += amount;
        let rendered = refund.render();
        self.track(&refund.id);
        self.refunds.insert(refund.id.clone(), refund);
        let charge = self.charges[&charge_id].render();
        self.emit("charge.refunded", charge, Some(json!({"amount_refunded": 0})));
        self.emit("refund.created", rendered.clone(), None);
        Ok(rendered)
    }

    /// Emulator control: the cardholder disputes a charge (`charge.dispute.created`).
    pub fn open_dispute(&mut self, charge_id: &str) -> Result<Value, StripeError> {
        let charge = self
            .charges
            .get(charge_id)
            .ok_or_else(|| StripeError::no_such("charge", charge_id, "charge"))?;
        if charge.dispute.is_some() {
            return Err(StripeError::state(format!("Charge {charge_id} is already disputed.")));
        }
        let dispute = Dispute {
            id: new_id("dp"),
            charge: charge_id.to_owned(),
            payment_intent: charge.payment_intent.clone(),
            amount: charge.amount,
            currency: charge.currency.clone(),
            status: "needs_response".into(),
            created: self.now(),
        };
        self.charges.get_mut(charge_id).expect("checked").dispute = Some(dispute.id.clone());
        let rendered = dispute.render();
        self.track(&dispute.id);
        self.disputes.insert(dispute.id.clone(), dispute);
        self.emit("charge.dispute.created", rendered.clone(), None);
        Ok(rendered)
    }

    /// Emulator control: the card network decides a dispute, `won` or `lost`
    /// (`charge.dispute.closed`).
    pub fn close_dispute(&mut self, id: &str, status: &str) -> Result<Value, StripeError> {
        if !matches!(status, "won" | "lost") {
            return Err(StripeError::invalid("status", "A dispute closes as `won` or `lost`."));
        }
        let dispute = self.disputes.get_mut(id).ok_or_else(|| StripeError::no_such("dispute", id, "id"))?;
        if dispute.status != "needs_response" {
            return Err(StripeError::state(format!("Dispute {id} is already closed ({}).", dispute.status)));
        }
        dispute.status = status.to_owned();
        let rendered = dispute.render();
        self.emit("charge.dispute.closed", rendered.clone(), None);
        Ok(rendered)
    }
}
