#!/usr/bin/env python3
"""Drives the Stripe emulator with Stripe's official Python SDK (stripe-python) and asserts what
comes back: subscription updates with prorations, invoice previews and lists, subscription
schedules carried out by the emulator's clock, cancellation with prorate/invoice_now, billing
meters (meter events, a repeated identifier, event summaries, metered usage on the renewal),
coupons and promotion codes applied to a subscription as discounts, pause_collection, a
Checkout trial without a card, and Stripe's errors; and, from stripe_python_dropin.py, `expand`,
subscriptions created by API with test payment methods, and test clocks. Exits non-zero on the
first failure.

Usage: stripe_python_check.py [BASE_URL]   (default: $STRIPE_API_BASE, then http://127.0.0.1:12111)

Only the `stripe` package speaks the Stripe API here; urllib calls the emulator's own
`/_emulator/*` controls (paying a Checkout Session, moving the clock) and its hosted Checkout
page (paying without a card).
"""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

import stripe

from sdk_checks import CheckFailed, check, equal, expect_error, item, price
import stripe_python_dropin as dropin

DAY = 86_400
CARD = "4242424242424242"


class Emulator:
    def __init__(self, base):
        self.base = base.rstrip("/")

    def control(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def now(self):
        return self.control("GET", "/_emulator/clock")["now"]

    def advance(self, seconds):
        return self.control("POST", "/_emulator/clock/advance", {"seconds": int(seconds)})["now"]

    def advance_to(self, when):
        return self.advance(max(0, when - self.now()) + 1)

    def pay(self, session_id):
        return self.control("POST", f"/_emulator/checkout/sessions/{session_id}/pay", {"card": CARD})


def subscribe(emulator, lookup_key, quantity, email):
    session = stripe.checkout.Session.create(
        mode="subscription",
        line_items=[{"price": price(lookup_key).id, "quantity": quantity}],
        customer_email=email,
        success_url="http://localhost:3000/done?session_id={CHECKOUT_SESSION_ID}",
    )
    equal(session.status, "open", "a new session is open")
    emulator.pay(session.id)
    session = stripe.checkout.Session.retrieve(session.id)
    equal(session.status, "complete", "the paid session")
    return stripe.Subscription.retrieve(session.subscription)


def event_count():
    return len(list(stripe.Event.list(limit=100).auto_paging_iter()))


def proration(line):
    details = (line.to_dict().get("parent") or {}).get("subscription_item_details") or {}
    return bool(details.get("proration"))


def check_prorations_previews_and_renewal(emulator):
    sub = subscribe(emulator, "starter_month", 2, "python-upgrade@example.com")
    pro = price("pro_month").id
    start, end = item(sub).current_period_start, item(sub).current_period_end
    equal(end - start, 30 * DAY, "a monthly period")
    emulator.advance(10 * DAY)
    at = start + 10 * DAY

    updated = stripe.Subscription.modify(
        sub.id,
        items=[{"id": item(sub).id, "price": pro, "quantity": 3}],
        proration_behavior="create_prorations",
        proration_date=at,
    )
    equal((item(updated).price.id, item(updated).quantity), (pro, 3), "the new price and quantity")
    credit, charge = -1200, 5800  # 20 of 30 days: -(2 × $9) × 2/3, +(3 × $29) × 2/3

    before = (event_count(), [i.id for i in stripe.Invoice.list(subscription=sub.id).data])
    preview = stripe.Invoice.create_preview(customer=sub.customer, subscription=sub.id)
    after = (event_count(), [i.id for i in stripe.Invoice.list(subscription=sub.id).data])
    equal(after, before, "a preview changes nothing")
    check(preview.id.startswith("upcoming_in_"), f"a preview id: {preview.id}")
    equal(preview.status, "draft", "preview status")
    equal(preview.next_payment_attempt, end, "charged at the renewal")
    equal(preview.total, 8700 + charge + credit, "the renewal preview")
    equal(sorted(line.amount for line in preview.lines.data), sorted([8700, charge, credit]), "preview lines")

    # The immediate invoice always_invoice would make, previewed.
    immediate = stripe.Invoice.create_preview(
        subscription=sub.id,
        subscription_details={
            "items": [{"id": item(updated).id, "price": pro, "quantity": 4}],
            "proration_behavior": "always_invoice",
            "proration_date": at,
        },
    )
    equal(immediate.billing_reason, "subscription_update", "immediate preview reason")
    # Pending: -1200 + 5800; the change 3 → 4 × Pro: -5800 + 7733.
    equal(immediate.total, credit + charge - 5800 + 7733, "immediate preview total")
    check(all(proration(line) for line in immediate.lines.data), "immediate lines are prorations")
    equal(event_count(), before[0], "still nothing changed")

    emulator.advance_to(end)
    invoices = stripe.Invoice.list(subscription=sub.id, limit=10)
    equal(len(invoices.data), 2, "the first invoice and the renewal")
    renewal = invoices.data[0]
    equal((renewal.billing_reason, renewal.status), ("subscription_cycle", "paid"), "the renewal")
    equal(renewal.total, preview.total, "the renewal bills what the preview showed")
    check(renewal.number and renewal.number.endswith("-0002"), f"numbered: {renewal.number}")
    check(renewal.hosted_invoice_url and renewal.invoice_pdf, "hosted pages")
    with urllib.request.urlopen(renewal.invoice_pdf, timeout=30) as pdf:
        equal(pdf.headers["content-type"], "application/pdf", "the PDF")
        check(pdf.read().startswith(b"%PDF-"), "a PDF document")
    page = stripe.Invoice.list(subscription=sub.id, limit=1)
    check(page.has_more, "one page of two")
    rest = stripe.Invoice.list(subscription=sub.id, limit=1, starting_after=page.data[0].id)
    equal(rest.data[0].id, invoices.data[1].id, "starting_after")
    paid = stripe.Invoice.list(customer=sub.customer, status="paid")
    equal(len(paid.data), 2, "paid invoices of the customer")
    return sub


def check_schedules(emulator, sub):
    sub = stripe.Subscription.retrieve(sub.id)
    pro = item(sub).price.id
    starter = price("starter_month").id
    start, end = item(sub).current_period_start, item(sub).current_period_end

    schedule = stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    equal((schedule.status, schedule.subscription, schedule.end_behavior), ("active", sub.id, "release"), "a new schedule")
    equal((schedule.current_phase.start_date, schedule.current_phase.end_date), (start, end), "current phase")
    equal(schedule.phases[0]["items"][0]["price"], pro, "phase item price")
    equal(stripe.Subscription.retrieve(sub.id).schedule, schedule.id, "subscription.schedule")
    expect_error(
        lambda: stripe.SubscriptionSchedule.create(from_subscription=sub.id, phases=[{"items": [{"price": pro}]}]),
        "from_subscription with phases",
        param="phases",
    )
    expect_error(
        lambda: stripe.Subscription.modify(sub.id, cancel_at_period_end=True),
        "cancel on a managed subscription",
        contains=f"managed by the subscription schedule `{schedule.id}`",
    )
    expect_error(
        lambda: stripe.SubscriptionSchedule.modify(
            schedule.id,
            phases=[{"items": [{"price": pro, "quantity": 3}], "start_date": start + 5, "end_date": end}],
        ),
        "moving the current phase's start",
        param="phases[0][start_date]",
    )
    expect_error(
        lambda: stripe.SubscriptionSchedule.modify(
            schedule.id,
            phases=[
                {"items": [{"price": pro, "quantity": 3}], "end_date": end},
                {"items": [{"price": "price_nope"}]},
            ],
        ),
        "an unknown price",
        param="phases[1][items][0][price]",
    )

    updated = stripe.SubscriptionSchedule.modify(
        schedule.id,
        phases=[
            {"items": [{"price": pro, "quantity": 3}], "start_date": start, "end_date": end},
            {"items": [{"price": starter, "quantity": 1}], "duration": {"interval": "month", "interval_count": 1}},
        ],
        end_behavior="release",
    )
    equal(len(updated.phases), 2, "two phases")
    equal((updated.phases[1].start_date, updated.phases[1].end_date), (end, end + 30 * DAY), "the next phase")
    listed = stripe.SubscriptionSchedule.list(customer=sub.customer)
    equal([s.id for s in listed.data], [schedule.id], "schedules of the customer")

    emulator.advance_to(end)
    moved = stripe.Subscription.retrieve(sub.id)
    equal((item(moved).price.id, item(moved).quantity), (starter, 1), "the phase's items at the period end")
    renewal = stripe.Invoice.list(subscription=sub.id, limit=1).data[0]
    equal((renewal.billing_reason, renewal.total), ("subscription_cycle", 900), "the renewal bills the new phase")
    current = stripe.SubscriptionSchedule.retrieve(schedule.id).current_phase
    equal((current.start_date, current.end_date), (end, end + 30 * DAY), "the schedule moved on")

    released = stripe.SubscriptionSchedule.release(schedule.id)
    equal((released.status, released.released_subscription, released.subscription), ("released", sub.id, None), "released")
    equal(stripe.Subscription.retrieve(sub.id).schedule, None, "the subscription is on its own")
    expect_error(lambda: stripe.SubscriptionSchedule.release(schedule.id), "releasing twice")
    expect_error(
        lambda: stripe.SubscriptionSchedule.retrieve("sub_sched_nope"), "an unknown schedule", status=404, code="resource_missing"
    )


def check_cancellation(emulator, sub):
    sub = stripe.Subscription.retrieve(sub.id)
    emulator.advance(15 * DAY)
    canceled = stripe.Subscription.cancel(
        sub.id,
        prorate=True,
        invoice_now=True,
        cancellation_details={"comment": "Switching tools", "feedback": "switched_service"},
    )
    equal(canceled.status, "canceled", "canceled now")
    equal(
        (canceled.cancellation_details.feedback, canceled.cancellation_details.comment),
        ("switched_service", "Switching tools"),
        "cancellation details",
    )
    final = stripe.Invoice.retrieve(canceled.latest_invoice)
    check(final.total < 0 and final.amount_due == 0, f"a credit: {final.total} / {final.amount_due}")
    check(all(proration(line) for line in final.lines.data), "the final invoice holds the proration credit")
    customer = stripe.Customer.retrieve(sub.customer)
    equal(customer.balance, final.ending_balance, "the credit is on the customer's balance")
    check(customer.balance < 0, "a credit balance")
    expect_error(lambda: stripe.Subscription.modify(sub.id, cancel_at_period_end=True), "updating a canceled subscription")
    expect_error(lambda: stripe.Subscription.cancel(sub.id), "canceling twice")
    expect_error(
        lambda: stripe.Invoice.create_preview(subscription=sub.id),
        "no upcoming invoice",
        code="invoice_upcoming_none",
    )


def check_cancel_at_and_errors(emulator):
    sub = subscribe(emulator, "pro_month", 1, "python-cancel-at@example.com")
    cancel_at = emulator.now() + 3 * DAY
    scheduled = stripe.Subscription.modify(
        sub.id, cancel_at=cancel_at, cancellation_details={"feedback": "too_expensive"}
    )
    equal((scheduled.cancel_at, scheduled.cancel_at_period_end), (cancel_at, False), "cancel_at")
    equal(scheduled.cancellation_details.feedback, "too_expensive", "feedback")
    cleared = stripe.Subscription.modify(sub.id, cancel_at="")
    equal(cleared.cancel_at, None, "an empty cancel_at clears it")
    expect_error(
        lambda: stripe.Subscription.modify(sub.id, cancellation_details={"feedback": "bored"}),
        "feedback outside the enum",
        param="cancellation_details[feedback]",
    )
    expect_error(
        lambda: stripe.Subscription.modify(sub.id, items=[{"id": item(sub).id, "price": "price_nope"}]),
        "an unknown price",
        param="items[0][price]",
    )
    expect_error(
        lambda: stripe.Subscription.modify(sub.id, proration_behavior="sometimes"),
        "an unknown proration_behavior",
        param="proration_behavior",
    )
    stripe.Subscription.modify(sub.id, cancel_at=cancel_at)
    emulator.advance(3 * DAY + 1)
    ended = stripe.Subscription.retrieve(sub.id)
    equal((ended.status, ended.ended_at), ("canceled", cancel_at), "ended at cancel_at")


def check_meters(emulator):
    meters = stripe.billing.Meter.list()
    meter = next((m for m in meters.data if m.event_name == "api_calls"), None)
    check(meter is not None, "the catalog's api_calls meter is seeded")
    equal((meter.status, meter.default_aggregation.formula), ("active", "sum"), "an active sum meter")
    equal(meter.customer_mapping.event_payload_key, "stripe_customer_id", "customer mapping")
    equal(stripe.billing.Meter.retrieve(meter.id).event_name, "api_calls", "retrieved by id")
    metered = price("pro_api_calls_month")
    equal((metered.recurring.usage_type, metered.recurring.meter), ("metered", meter.id), "the metered price")

    # A Pro subscription with its metered price (no quantity: Stripe refuses one).
    pro = price("pro_month")
    expect_error(
        lambda: stripe.checkout.Session.create(
            mode="subscription",
            line_items=[{"price": pro.id, "quantity": 1}, {"price": metered.id, "quantity": 1}],
            success_url="http://localhost:3000/done",
        ),
        "a quantity for a metered price",
        param="line_items[1][quantity]",
    )
    session = stripe.checkout.Session.create(
        mode="subscription",
        line_items=[{"price": pro.id, "quantity": 1}, {"price": metered.id}],
        customer_email="python-usage@example.com",
        success_url="http://localhost:3000/done",
    )
    equal(session.amount_total, 2900, "only the licensed item is paid at checkout")
    emulator.pay(session.id)
    sub = stripe.Subscription.retrieve(stripe.checkout.Session.retrieve(session.id).subscription)
    items = sub["items"]["data"]
    equal([i.price.id for i in items], [pro.id, metered.id], "items in the order given")
    check("quantity" not in items[1].to_dict(), "a metered item has no quantity")
    customer = sub.customer
    start, end = items[0].current_period_start, items[0].current_period_end

    now = emulator.now()
    event = stripe.billing.MeterEvent.create(
        event_name="api_calls",
        payload={"stripe_customer_id": customer, "value": "120"},
        identifier="python-usage-1",
        timestamp=now,
    )
    equal((event.identifier, event.timestamp, event.payload["value"]), ("python-usage-1", now, "120"), "the meter event")
    expect_error(
        lambda: stripe.billing.MeterEvent.create(
            event_name="api_calls",
            payload={"stripe_customer_id": customer, "value": "120"},
            identifier="python-usage-1",
        ),
        "a repeated identifier",
        param="identifier",
        contains="An event already exists with identifier python-usage-1",
    )
    stripe.billing.MeterEvent.create(
        event_name="api_calls", payload={"stripe_customer_id": customer, "value": "3"}, timestamp=now
    )
    expect_error(
        lambda: stripe.billing.MeterEvent.create(
            event_name="api_calls", payload={"stripe_customer_id": customer, "value": "1"}, timestamp=now - 36 * DAY
        ),
        "a timestamp older than 35 days",
        param="timestamp",
    )
    expect_error(
        lambda: stripe.billing.MeterEvent.create(event_name="no_such_meter", payload={"stripe_customer_id": customer, "value": "1"}),
        "an event name without a meter",
        param="event_name",
    )
    expect_error(
        lambda: stripe.billing.MeterEvent.create(event_name="api_calls", payload={"stripe_customer_id": "cus_nobody", "value": "1"}),
        "an unknown customer",
        code="resource_missing",
    )

    minute = now - now % 60
    summaries = stripe.billing.Meter.list_event_summaries(
        meter.id, customer=customer, start_time=minute, end_time=minute + 600
    )
    equal([s.aggregated_value for s in summaries.data], [123], "one summary; the repeat counted once")
    hour = now - now % 3600
    hourly = stripe.billing.Meter.list_event_summaries(
        meter.id, customer=customer, start_time=hour - 3600, end_time=hour + 3600, value_grouping_window="hour"
    )
    equal([(s.start_time, s.aggregated_value) for s in hourly.data], [(hour, 123)], "only the hour with events")
    expect_error(
        lambda: stripe.billing.Meter.list_event_summaries(meter.id, customer=customer, start_time=minute + 1, end_time=minute + 600),
        "a start off the minute",
        param="start_time",
    )

    preview = stripe.Invoice.create_preview(subscription=sub.id)
    usage_line = next(line for line in preview.lines.data if line.pricing.price_details.price == metered.id)
    equal(usage_line.amount, 123, "the upcoming invoice shows the usage so far")

    emulator.advance_to(end)
    renewal = stripe.Invoice.list(subscription=sub.id, limit=1).data[0]
    equal(renewal.billing_reason, "subscription_cycle", "the renewal")
    lines = {line.pricing.price_details.price: line for line in renewal.lines.data}
    equal((lines[pro.id].amount, lines[metered.id].amount, lines[metered.id].quantity), (2900, 123, 123), "renewal lines")
    equal((lines[metered.id].period.start, lines[metered.id].period.end), (start, end), "usage billed in arrears")
    equal(renewal.total, 2900 + 123, "the renewal total")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def pay_on_page(emulator, session_id, form):
    """The hosted Checkout page's Pay button; the HTTP status (a redirect is not followed)."""
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(f"{emulator.base}/checkout/{session_id}/pay", data=data, method="POST")
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def check_coupons_promotion_codes_and_discounts(emulator):
    sub = subscribe(emulator, "pro_month", 1, "python-retention@example.com")
    coupon = stripe.Coupon.create(percent_off=25, duration="repeating", duration_in_months=2, name="Python 25")
    equal((coupon.object, coupon.percent_off, coupon.duration, coupon.valid), ("coupon", 25.0, "repeating", True), "the coupon")
    equal(stripe.Coupon.retrieve(coupon.id).name, "Python 25", "the coupon read back")
    check(any(c.id == coupon.id for c in stripe.Coupon.list(limit=100).data), "the coupon is listed")
    expect_error(lambda: stripe.Coupon.create(percent_off=10, amount_off=100, currency="usd"), "percent_off and amount_off")

    promo = stripe.PromotionCode.create(
        promotion={"type": "coupon", "coupon": coupon.id}, code="PYTHON25", metadata={"source": "sdk"}
    )
    equal((promo.promotion.type, promo.promotion.coupon, promo.code, promo.active), ("coupon", coupon.id, "PYTHON25", True), "the code")
    listed = stripe.PromotionCode.list(code="python25")
    equal([p.id for p in listed.data], [promo.id], "listed by code, any case")
    updated = stripe.PromotionCode.modify(promo.id, metadata={"source": "sdk-updated"})
    equal(updated.metadata["source"], "sdk-updated", "the code updated")
    inactive = stripe.PromotionCode.create(promotion={"type": "coupon", "coupon": coupon.id}, active=False)
    expect_error(
        lambda: stripe.Subscription.modify(sub.id, discounts=[{"promotion_code": inactive.id}]),
        "an inactive code",
        param="discounts[0][promotion_code]",
        contains="cannot be redeemed",
    )

    modified = stripe.Subscription.modify(sub.id, discounts=[{"promotion_code": promo.id}])
    equal(len(modified.discounts), 1, "one discount")
    read = stripe.Subscription.retrieve(sub.id, expand=["discounts"])
    discount = read.discounts[0]
    equal(
        (discount.object, discount.promotion_code, discount.source.coupon, discount.subscription),
        ("discount", promo.id, coupon.id, sub.id),
        "the discount read back",
    )
    equal(stripe.PromotionCode.retrieve(promo.id).times_redeemed, 1, "redeemed once")
    again = stripe.Subscription.modify(sub.id, discounts=[{"promotion_code": promo.id}])
    equal(again.discounts, modified.discounts, "the same code again changes nothing")
    equal(stripe.PromotionCode.retrieve(promo.id).times_redeemed, 1, "still redeemed once")
    preview = stripe.Invoice.create_preview(subscription=sub.id)
    equal((preview.subtotal, preview.total), (2900, 2175), "the renewal takes 25 % off")
    equal(preview.total_discount_amounts[0].amount, 725, "the discount amount")

    paused = stripe.Subscription.modify(sub.id, pause_collection={"behavior": "void"})
    equal((paused.status, paused.pause_collection.behavior), ("active", "void"), "collection paused")
    equal(stripe.Subscription.retrieve(sub.id).pause_collection.behavior, "void", "pause_collection read back")
    expect_error(
        lambda: stripe.Subscription.modify(sub.id, pause_collection={"behavior": "later"}),
        "an unknown behavior",
        param="pause_collection[behavior]",
    )
    cleared = stripe.Subscription.modify(sub.id, pause_collection="")
    equal(cleared.pause_collection, None, "pause_collection cleared")
    equal(stripe.Subscription.retrieve(sub.id).pause_collection, None, "cleared, read back")


def check_trial_without_card(emulator):
    session = stripe.checkout.Session.create(
        mode="subscription",
        line_items=[{"price": price("pro_month").id, "quantity": 1}],
        customer_email="python-no-card@example.com",
        payment_method_collection="if_required",
        subscription_data={"trial_period_days": 7, "trial_settings": {"end_behavior": {"missing_payment_method": "pause"}}},
        success_url="http://localhost:3000/done?session_id={CHECKOUT_SESSION_ID}",
    )
    equal(stripe.checkout.Session.retrieve(session.id).payment_method_collection, "if_required", "the session")
    equal(pay_on_page(emulator, session.id, {}), 303, "paid on the page without a card")
    done = stripe.checkout.Session.retrieve(session.id)
    equal((done.status, done.payment_status), ("complete", "no_payment_required"), "the completed session")
    sub = stripe.Subscription.retrieve(done.subscription)
    equal((sub.status, sub.default_payment_method), ("trialing", None), "a trial without a card")
    equal(sub.trial_settings.end_behavior.missing_payment_method, "pause", "trial_settings")
    emulator.advance_to(sub.trial_end)
    equal(stripe.Subscription.retrieve(sub.id).status, "paused", "paused when the trial ends without a card")


def main():
    base = (sys.argv[1] if len(sys.argv) > 1 else os.environ.get("STRIPE_API_BASE")) or "http://127.0.0.1:12111"
    base = base.rstrip("/")
    stripe.api_key = "sk_test_local_emulator_key"
    stripe.api_base = base
    stripe.max_network_retries = 0
    emulator = Emulator(base)
    sub = None
    failures = 0
    passed = 0
    for name, step in [
        ("prorations, previews, invoice lists", lambda: check_prorations_previews_and_renewal(emulator)),
        ("subscription schedules", lambda: check_schedules(emulator, sub)),
        ("cancel with prorate and invoice_now", lambda: check_cancellation(emulator, sub)),
        ("cancel_at and errors", lambda: check_cancel_at_and_errors(emulator)),
        ("meters, meter events, summaries, usage billing", lambda: check_meters(emulator)),
        ("coupons, promotion codes, discounts, pause_collection", lambda: check_coupons_promotion_codes_and_discounts(emulator)),
        ("a Checkout trial without a card", lambda: check_trial_without_card(emulator)),
        ("expand: nested, in lists, line_items, errors", lambda: dropin.check_expand(emulator)),
        ("subscriptions by API with test payment methods", lambda: dropin.check_subscriptions_by_api(emulator)),
        ("test clocks", lambda: dropin.check_test_clocks(emulator)),
    ]:
        try:
            result = step()
            if sub is None:
                sub = result
            passed += 1
            print(f"ok   {name}")
        except Exception as err:  # a failed check or an unexpected SDK error
            failures += 1
            print(f"FAIL {name}: {type(err).__name__}: {err}")
            if sub is None:
                break
    print(f"stripe-python {stripe.VERSION} against {base}")
    print(f"sdk-check: {passed} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
