"""The emulator as a drop-in for Stripe's test mode, driven by stripe-python (imported by
stripe_python_check.py, which runs these beside its own checks): `expand` (nested, inside
lists, includable `line_items`, Stripe's errors and depth limit), subscriptions created by API
with Stripe's test payment methods, and test clocks."""

import time

import stripe

from sdk_checks import CheckFailed, check, equal, expect_error, item, price


def check_expand(emulator):
    pro = price("pro_month")
    session = stripe.checkout.Session.create(
        mode="subscription",
        line_items=[{"price": pro.id, "quantity": 3}],
        customer_email="expand@example.com",
        success_url="http://localhost:3000/done",
    )
    emulator.pay(session.id)
    plain = stripe.checkout.Session.retrieve(session.id)
    check("line_items" not in plain, "line_items left out unless asked")
    check(isinstance(plain.customer, str), "an id unless expanded")
    full = stripe.checkout.Session.retrieve(
        session.id, expand=["line_items.data.price.product", "customer", "subscription.latest_invoice"]
    )
    line = full.line_items.data[0]
    equal(line.object, "item", "a line item")
    equal(line.price.id, pro.id, "its price")
    equal(line.quantity, 3, "its quantity")
    equal(line.amount_subtotal, pro.unit_amount * 3, "its subtotal")
    equal(line.price.product.object, "product", "four levels: the price's product")
    equal(full.customer.object, "customer", "customer expanded")
    equal(full.subscription.latest_invoice.object, "invoice", "nested: subscription.latest_invoice")
    equal(
        full.subscription.latest_invoice.id,
        stripe.Subscription.retrieve(full.subscription.id).latest_invoice,
        "the subscription's own latest invoice",
    )
    listed = stripe.checkout.Session.list_line_items(session.id)
    equal([i.id for i in listed.data], [line.id], "GET /v1/checkout/sessions/{id}/line_items lists the same items")
    subs = stripe.Subscription.list(customer=full.customer.id, expand=["data.customer", "data.items.data.price"])
    equal(subs.data[0].customer.id, full.customer.id, "inside lists: data.customer")
    equal(item(subs.data[0]).price.object, "price", "data.items.data.price")
    sub = stripe.Subscription.modify(full.subscription.id, metadata={"k": "v"}, expand=["latest_invoice"])
    equal(sub.latest_invoice.object, "invoice", "expand on an update")
    expect_error(
        lambda: stripe.checkout.Session.retrieve(session.id, expand=["nonsense"]),
        "an unknown expansion",
        contains="This property cannot be expanded (nonsense).",
    )
    expect_error(
        lambda: stripe.Subscription.retrieve(sub.id, expand=["status"]),
        "a field that is not an id",
        contains="This property cannot be expanded (status).",
    )
    expect_error(
        lambda: stripe.Subscription.list(expand=["customer"]),
        "a list's field without data.",
        contains="You may want to try expanding 'data.customer' instead.",
    )
    expect_error(
        lambda: stripe.Subscription.list(expand=["data.items.data.price.product"]),
        "five levels",
        code="property_expansion_max_depth",
    )
    expect_error(
        lambda: stripe.Subscription.retrieve(sub.id, expand=["latest_invoice.payment_intent"]),
        "no payment_intent on invoices at this API version",
        contains="This property cannot be expanded (payment_intent).",
    )
    expect_error(
        lambda: stripe.Invoice.retrieve(sub.latest_invoice.id, expand=["confirmation_secret"]),
        "an includable field whose objects are not emulated says so",
        contains="not emulated",
    )
    before = len(stripe.Subscription.list(customer=full.customer.id).data)
    expect_error(
        lambda: stripe.Subscription.create(
            customer=full.customer.id,
            items=[{"price": pro.id}],
            default_payment_method=full.subscription.default_payment_method,
            expand=["nonsense"],
        ),
        "a create whose expansion is refused",
        contains="(nonsense)",
    )
    equal(len(stripe.Subscription.list(customer=full.customer.id).data), before, "the refused create made nothing")
    euro = stripe.checkout.Session.create(
        mode="subscription",
        currency="eur",
        line_items=[{"price": pro.id, "quantity": 1}],
        customer_email="euro@example.com",
        success_url="http://localhost:3000/done",
    )
    euro_line = stripe.checkout.Session.list_line_items(euro.id).data[0]
    equal((euro_line.currency, euro_line.amount_total), ("eur", euro.amount_total), "a line in the session's currency")


def customer_with_card(email, method, **extra):
    customer = stripe.Customer.create(email=email, **extra)
    attached = stripe.PaymentMethod.attach(method, customer=customer.id)
    check(attached.id.startswith("pm_") and attached.id != method, f"a new payment method for {method}")
    equal(attached.customer, customer.id, "attached to the customer")
    stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": attached.id})
    return customer, attached


def check_subscriptions_by_api(emulator):
    starter = price("starter_month")
    customer, card = customer_with_card("api@example.com", "pm_card_visa")
    equal(stripe.Customer.retrieve(customer.id).invoice_settings.default_payment_method, card.id, "the default method")
    sub = stripe.Subscription.create(
        customer=customer.id,
        items=[{"price": starter.id, "quantity": 2}],
        metadata={"plan": "starter"},
        proration_behavior="create_prorations",
        expand=["latest_invoice"],
    )
    equal(sub.status, "active", "charged at once with pm_card_visa")
    equal(item(sub).quantity, 2, "its quantity")
    equal(sub.metadata["plan"], "starter", "its metadata")
    equal(sub.latest_invoice.status, "paid", "the first invoice paid")
    equal(sub.latest_invoice.amount_paid, starter.unit_amount * 2, "for two seats")
    equal(sub.latest_invoice.billing_reason, "subscription_create", "the creation invoice")

    trial = stripe.Subscription.create(
        customer=customer.id, items=[{"price": starter.id}], default_payment_method=card.id, trial_period_days=7
    )
    equal(trial.status, "trialing", "a trial")
    equal(trial.default_payment_method, card.id, "its default_payment_method")
    other_card = stripe.PaymentMethod.attach("pm_card_mastercard", customer=customer.id)
    swapped = stripe.Subscription.modify(trial.id, default_payment_method=other_card.id)
    equal(swapped.default_payment_method, other_card.id, "a card swapped by update")
    stripe.PaymentMethod.detach(other_card.id)
    equal(stripe.Subscription.retrieve(trial.id).default_payment_method, None, "a detached card is no one's default")
    expect_error(
        lambda: stripe.PaymentMethod.attach(other_card.id, customer=customer.id),
        "a detached card is never attached again",
        contains="may not be used again",
    )

    expect_error(
        lambda: stripe.PaymentMethod.attach("pm_card_chargeDeclined", customer=customer.id),
        "a declining card does not attach",
        status=402,
        code="card_declined",
        kind=stripe.CardError,
    )
    failing, _ = customer_with_card("fail@example.com", "pm_card_chargeCustomerFail")
    expect_error(
        lambda: stripe.Subscription.create(
            customer=failing.id, items=[{"price": starter.id}], payment_behavior="error_if_incomplete"
        ),
        "error_if_incomplete with a card that fails",
        status=402,
        code="card_declined",
        kind=stripe.CardError,
    )
    equal(len(stripe.Subscription.list(customer=failing.id).data), 0, "nothing made by the refused request")
    equal(len(stripe.Invoice.list(customer=failing.id).data), 0, "no invoice left by the refused request")
    incomplete = stripe.Subscription.create(customer=failing.id, items=[{"price": starter.id}], expand=["latest_invoice"])
    equal(incomplete.status, "incomplete", "allow_incomplete: the subscription waits for payment")
    equal(incomplete.latest_invoice.status, "open", "its invoice is open")
    failed = stripe.Event.list(type="invoice.payment_failed", limit=10).data
    check(any(e.data.object.id == incomplete.latest_invoice.id for e in failed), "invoice.payment_failed for it")
    visa = stripe.PaymentMethod.attach("pm_card_visa", customer=failing.id)
    expect_error(
        lambda: stripe.Invoice.pay(incomplete.latest_invoice.id),
        "paying again with the failing default",
        status=402,
        code="card_declined",
        kind=stripe.CardError,
    )
    paid = stripe.Invoice.pay(incomplete.latest_invoice.id, payment_method=visa.id)
    equal(paid.status, "paid", "paid with another card")
    equal(stripe.Subscription.retrieve(incomplete.id).status, "active", "the incomplete subscription is active")
    pending = stripe.Subscription.create(
        customer=customer.id, items=[{"price": starter.id}], payment_behavior="default_incomplete"
    )
    equal(pending.status, "incomplete", "default_incomplete: not charged")
    stranger = stripe.Customer.create(email="stranger@example.com")
    expect_error(
        lambda: stripe.Subscription.create(customer=stranger.id, items=[{"price": starter.id}]),
        "no payment method and something due",
        contains="no attached payment source or default payment method",
    )
    expect_error(
        lambda: stripe.Subscription.create(
            customer=customer.id, items=[{"price": starter.id}], payment_behavior="pending_if_incomplete"
        ),
        "pending_if_incomplete is for updates",
        param="payment_behavior",
    )
    expect_error(
        lambda: stripe.Subscription.create(
            customer=customer.id, items=[{"price": starter.id}, {"price": price("pro_year").id}]
        ),
        "one billing interval per subscription",
    )
    expect_error(
        lambda: stripe.Subscription.create(customer=stranger.id, items=[{"price": starter.id}], default_payment_method=card.id),
        "another customer's payment method",
        param="default_payment_method",
        contains="must be attached to the customer",
    )
    expect_error(
        lambda: stripe.Subscription.create(customer=customer.id, items=[{"price": price("lifetime_once").id}]),
        "a one-time price",
        param="items[0][price]",
    )


def wait_ready(clock_id):
    for _ in range(100):
        clock = stripe.test_helpers.TestClock.retrieve(clock_id)
        if clock.status == "ready":
            return clock
        time.sleep(0.05)
    raise CheckFailed(f"test clock {clock_id} never became ready")


def check_test_clocks(emulator):
    starter = price("starter_month")
    start = emulator.now()
    clock = stripe.test_helpers.TestClock.create(frozen_time=start, name="ci scenario")
    equal(clock.status, "ready", "a new clock is ready")
    equal(clock.frozen_time, start, "its frozen_time")
    check(any(c.id == clock.id for c in stripe.test_helpers.TestClock.list().data), "the clock is listed")
    customer, _ = customer_with_card("clock@example.com", "pm_card_visa", test_clock=clock.id)
    equal(customer.test_clock, clock.id, "the customer is on the clock")
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": starter.id}])
    first_invoice = sub.latest_invoice
    bystander, _ = customer_with_card("bystander@example.com", "pm_card_visa")
    other = stripe.Subscription.create(customer=bystander.id, items=[{"price": starter.id}])

    period_end = item(sub).current_period_end
    advanced = stripe.test_helpers.TestClock.advance(clock.id, frozen_time=period_end + 3600)
    equal(advanced.status, "advancing", "an advance starts as advancing")
    ready = wait_ready(clock.id)
    equal(ready.frozen_time, period_end + 3600, "the clock moved")
    renewed = stripe.Subscription.retrieve(sub.id, expand=["latest_invoice"])
    check(renewed.latest_invoice.id != first_invoice, "a renewal invoice")
    equal(renewed.latest_invoice.billing_reason, "subscription_cycle", "billed for the new cycle")
    equal(renewed.latest_invoice.status, "paid", "paid with the card")
    equal(renewed.status, "active", "still active")
    equal(stripe.Subscription.retrieve(other.id).latest_invoice, other.latest_invoice, "a customer off the clock did not move")
    kinds = [e.type for e in stripe.Event.list(limit=100).data]
    check("test_helpers.test_clock.ready" in kinds, "test_helpers.test_clock.ready emitted")
    expect_error(
        lambda: stripe.test_helpers.TestClock.advance(clock.id, frozen_time=start),
        "a clock never goes back",
        param="frozen_time",
    )

    failing_clock = stripe.test_helpers.TestClock.create(frozen_time=start)
    failing, _ = customer_with_card("renewal-fails@example.com", "pm_card_chargeCustomerFail", test_clock=failing_clock.id)
    trial = stripe.Subscription.create(customer=failing.id, items=[{"price": starter.id}], trial_period_days=3)
    equal(trial.status, "trialing", "a trial needs no charge")
    stripe.test_helpers.TestClock.advance(failing_clock.id, frozen_time=trial.trial_end + 60)
    wait_ready(failing_clock.id)
    after = stripe.Subscription.retrieve(trial.id, expand=["latest_invoice"])
    equal(after.status, "past_due", "pm_card_chargeCustomerFail: the charge at the trial end fails")
    equal(after.latest_invoice.status, "open", "the invoice stays open")

    deleted = stripe.test_helpers.TestClock.delete(clock.id)
    check(deleted.deleted, "the clock is deleted")
    expect_error(lambda: stripe.test_helpers.TestClock.retrieve(clock.id), "a deleted clock", status=404)
    check(stripe.Customer.retrieve(customer.id).to_dict().get("deleted"), "its customers go with it")
