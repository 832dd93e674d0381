"""End-to-end test of the local console in a real browser (Debian's chromium, driven by
Playwright's Python package through `executable_path`): sign in, subscribe through the Stripe
emulator's hosted Checkout page, record usage, change plan with its preview, cancel, resume,
move the clock. Every step asserts what a person sees, and saves a screenshot.

    python3 tests/browser/console_e2e.py --console URL --screenshots DIR [--chromium PATH]

Run by ./dev/console-check.sh, which starts a private stack and the console first.
"""

import argparse
import re
import sys
import time
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

# Chromium's flags on a machine without a network (no Google lookups, no sandbox as root).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Waiting, not timing: the first call to each function may build it (cargo lambda watch).
WAIT_MS = 120_000


class Run:
    def __init__(self, page: Page, console: str, screenshots: Path):
        self.page = page
        self.console = console.rstrip("/")
        self.screenshots = screenshots
        self.steps = 0
        self.errors = []

    def shot(self, name: str):
        self.steps += 1
        path = self.screenshots / f"{self.steps:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        print(f"console-e2e: {self.steps:02d} {name} ok ({path.name})", flush=True)

    def subscription(self):
        return self.page.get_by_role("article", name=re.compile(r"^Subscription sub_"))

    def fact(self, name: str):
        """The value beside a term of the managed subscription's card."""
        return self.subscription().first.locator(f"dt:text-is('{name}') + dd")

    def entitlement(self, feature: str):
        return self.page.locator("#entitlements tr", has=self.page.locator(f"th:text-is('{feature}')"))

    def problem(self):
        return self.page.get_by_role("alert")


def sign_in(run: Run, user: str):
    page = run.page
    page.goto(run.console + "/")
    plans = page.get_by_role("region", name="Plans")
    starter = plans.get_by_role("article", name="Starter")
    expect(starter).to_contain_text("$9.00 a month")
    expect(starter).to_contain_text("14-day free trial")
    expect(plans.get_by_role("article", name="Pro")).to_contain_text("$29.00 a month (also €26.00)")
    expect(page.get_by_role("button", name="Subscribe to Pro", exact=True)).to_be_visible()

    # A problem is shown as its title and detail.
    page.get_by_label("User id").fill("not#valid")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(run.problem()).to_contain_text("Invalid field")
    expect(run.problem()).to_contain_text("without '#'")

    page.get_by_label("User id").fill(user)
    page.get_by_label("Email").fill(f"{user}@example.com")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator("#signed-in")).to_contain_text(f"Signed in as {user}")
    expect(page.locator("#subscriptions")).to_contain_text("No subscription: the free plan applies.")
    expect(page.locator("#entitlements-summary")).to_contain_text("Plan Free, no subscription")
    expect(run.problem()).to_be_hidden()
    expect(run.entitlement("projects")).to_contain_text("Allowed")
    expect(run.entitlement("exports")).to_contain_text("Not allowed")
    run.shot("signed-in")


def subscribe(run: Run):
    page = run.page
    starter = page.get_by_role("region", name="Plans").get_by_role("article", name="Starter")
    starter.get_by_label("Seats").fill("2")
    page.get_by_role("button", name="Subscribe to Starter", exact=True).click()
    # The emulator's hosted Checkout page.
    page.wait_for_url(re.compile(r".*/checkout/cs_[^/]+$"))
    expect(page.get_by_text("14-day free trial")).to_be_visible()
    run.shot("hosted-checkout")
    page.get_by_role("button", name="Pay", exact=True).click()
    # Back on the console (success_url), the result at once (eager sync).
    page.wait_for_url(re.compile(re.escape(run.console) + r"/(\?.*)?$"))
    expect(page.get_by_role("status")).to_have_text("Subscribed to Starter: trialing.")
    expect(run.fact("Plan")).to_have_text("Starter")
    expect(run.fact("Status")).to_have_text("trialing")
    expect(run.fact("Seats")).to_have_text("2")
    expect(run.fact("Current period ends")).to_contain_text("UTC")
    expect(run.entitlement("exports")).to_contain_text("Allowed")
    expect(run.entitlement("exports")).to_contain_text("trialing")
    expect(page.locator("#invoices")).to_contain_text("paid")
    expect(page.get_by_role("link", name=re.compile(r"^View invoice"))).to_have_count(1)
    # Live: the domain events of the subscription arrive in the feed.
    expect(page.locator("#feed")).to_contain_text("subscription.created")
    run.shot("subscribed")

    # The emulator's billing portal, and back.
    page.get_by_role("button", name="Open billing portal", exact=True).click()
    page.wait_for_url(re.compile(r".*/portal/[^/]+$"))
    expect(page.get_by_role("heading", name="Billing")).to_be_visible()
    run.shot("billing-portal")
    page.get_by_role("link", name="Return").click()
    page.wait_for_url(re.compile(re.escape(run.console) + r"/$"))
    expect(run.fact("Status")).to_have_text("trialing")
    # A fresh page shows the events that arrived before it.
    expect(page.locator("#feed")).to_contain_text("subscription.created")

    # Subscribing again is refused, and the page says why.
    page.get_by_role("button", name="Subscribe to Starter", exact=True).click()
    expect(run.problem()).to_contain_text("Already subscribed")
    expect(run.problem()).to_contain_text("you already have a subscription")
    run.shot("already-subscribed")
    page.get_by_role("button", name="Dismiss", exact=True).click()


def usage(run: Run):
    page = run.page
    row = page.locator("#usage tr", has=page.locator("th:text-is('api_calls')"))
    expect(row).to_contain_text("0 / 1,000")
    page.get_by_label("Quantity").fill("5")
    page.get_by_role("button", name="Record usage", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Recorded 5 api_calls: 5 / 1000 used.")
    expect(row).to_contain_text("5 / 1,000")
    expect(row).to_contain_text("995")
    run.shot("usage-recorded")


def change_plan(run: Run):
    page = run.page
    page.get_by_label("New plan").select_option(label="Pro")
    page.get_by_label("New seats").fill("3")
    page.get_by_role("button", name="Preview change", exact=True).click()
    preview = page.locator("#preview")
    expect(preview).to_be_visible()
    expect(preview).to_contain_text("Pro, monthly, 3 seat(s), now: the next invoice is $")
    expect(preview).to_contain_text("of proration in it")
    expect(preview.locator("tbody tr").first).to_be_visible()
    # Nothing changed yet.
    expect(run.fact("Plan")).to_have_text("Starter")
    run.shot("change-preview")
    page.get_by_role("button", name="Confirm change", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Changed to Pro")
    expect(preview).to_be_hidden()
    expect(run.fact("Plan")).to_have_text("Pro")
    expect(run.fact("Seats")).to_have_text("3")
    expect(run.entitlement("api_access")).to_contain_text("Allowed")
    run.shot("changed")


def cancel_and_resume(run: Run):
    page = run.page
    page.get_by_label("Cancel when").select_option(label="at period end")
    page.get_by_role("button", name="Cancel subscription", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Your subscription will end at the period end.")
    expect(run.fact("Cancels")).to_contain_text("at period end")
    resume = page.get_by_role("button", name="Resume", exact=True)
    expect(resume).to_be_visible()
    run.shot("cancel-at-period-end")
    resume.click()
    expect(page.get_by_role("status")).to_have_text("Resumed.")
    expect(run.fact("Cancels")).to_have_count(0)
    expect(resume).to_be_hidden()
    page.get_by_role("button", name="Cancel subscription", exact=True).click()
    expect(run.fact("Cancels")).to_contain_text("at period end")
    run.shot("canceled-again")


def advance_clock(run: Run):
    page = run.page
    clock = page.locator("#clock-now")
    before = clock.inner_text()
    page.get_by_role("button", name="Advance 1 day", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Moved the clock 1 day")
    expect(clock).not_to_have_text(before)
    run.shot("advanced-a-day")
    page.get_by_role("button", name="Advance 1 month", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Moved the clock 1 month")
    # The trial ended and the subscription with it; the console refreshes by itself.
    expect(run.fact("Status")).to_have_text("canceled")
    expect(page.locator("#entitlements-summary")).to_contain_text("canceled")
    expect(run.entitlement("exports")).to_contain_text("Not allowed")
    expect(run.entitlement("projects")).to_contain_text("the free plan includes it")
    expect(run.entitlement("api_access")).to_contain_text("Not allowed")
    expect(page.locator("#feed")).to_contain_text("subscription.canceled")
    expect(page.locator("#manage")).to_be_hidden()
    run.shot("period-ended")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--console", required=True)
    parser.add_argument("--screenshots", required=True, type=Path)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    args.screenshots.mkdir(parents=True, exist_ok=True)
    user = f"user_console_{int(time.time())}"
    steps = [sign_in, subscribe, usage, change_plan, cancel_and_resume, advance_clock]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(WAIT_MS)
        expect.set_options(timeout=WAIT_MS)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda m: print(f"console-e2e: page {m.type}: {m.text}") if m.type in ("warning", "error") else None)
        run = Run(page, args.console, args.screenshots)
        try:
            sign_in(run, user)
            for step in steps[1:]:
                step(run)
        except Exception as failure:  # noqa: BLE001 - report any failure with a screenshot
            page.screenshot(path=str(args.screenshots / "failed.png"), full_page=True)
            print(f"console-e2e: FAILED after {run.steps} steps: {failure}", file=sys.stderr)
            return 1
        finally:
            browser.close()
        if errors:
            print(f"console-e2e: FAILED: the page threw: {errors}", file=sys.stderr)
            return 1
    print(f"console-e2e: {run.steps} steps passed; screenshots in {args.screenshots}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
