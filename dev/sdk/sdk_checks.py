"""What the SDK checks share: failing a check, comparing, expecting Stripe's errors, and
reading prices and subscription items (imported by stripe_python_check.py and
stripe_python_dropin.py)."""

import stripe


class CheckFailed(Exception):
    pass


def check(condition, what):
    if not condition:
        raise CheckFailed(what)


def equal(actual, expected, what):
    if actual != expected:
        raise CheckFailed(f"{what}: expected {expected!r}, got {actual!r}")


def price(lookup_key):
    prices = stripe.Price.list(lookup_keys=[lookup_key])
    equal(len(prices.data), 1, f"one price for {lookup_key}")
    return prices.data[0]


def item(sub):
    return sub["items"]["data"][0]


def expect_error(call, what, status=400, param=None, code=None, contains=None, kind=stripe.InvalidRequestError):
    try:
        call()
    except kind as err:
        equal(err.http_status, status, f"{what}: status")
        if param is not None:
            equal(err.param, param, f"{what}: param")
        if code is not None:
            equal(err.code, code, f"{what}: code")
        if contains is not None:
            check(contains in str(err.user_message), f"{what}: {contains!r} in {err.user_message!r}")
        return err
    raise CheckFailed(f"{what}: no {kind.__name__} raised")
