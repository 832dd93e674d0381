// The console's page: sign in, plans, subscribe through the emulator's hosted Checkout, where
// the user stands (subscription, entitlements, usage, invoices), managing the subscription,
// the emulator's clock, and the live feed of domain events. It calls the HTTP API as a team's
// frontend would (`/api/…` is passed to `cargo lambda watch`), with a token the console's
// server mints.
import {
  call, clearProblem, day, el, keyFor, loadSession, money, notice, ProblemError, replace, safeUrl, saveSession, settleKey,
  showProblem, when, words,
} from "./lib.js";

const $ = (id) => document.getElementById(id);
const LIVE = (s) => s.status !== "canceled" && s.status !== "incomplete_expired";
const REFRESH_MS = 5000;
const FEED_MS = 1500;

const state = {
  session: loadSession(),
  plans: [],
  features: [],
  managed: null,
  managedShape: "",
  pendingChange: null,
  feedAfter: 0,
  refreshing: null,
  again: false,
  minting: null,
  previews: 0,
};

// ---- session -------------------------------------------------------------------------------

/** The session's token, minted again (once, however many calls wait) when it is about to expire. */
async function token(renew = false) {
  const session = state.session;
  if (!session) throw new ProblemError({ title: "Sign in first", detail: "Enter a user id and press Sign in." });
  if (renew || session.expires_at - Date.now() < 120_000) {
    state.minting ??= call("/console/token", {
      method: "POST",
      body: { user_id: session.user_id, email: session.email, org_id: session.org_id, role: session.role },
    }).then((fresh) => {
      Object.assign(session, { token: fresh.token, expires_at: Date.now() + fresh.expires_in * 1000 });
      saveSession(session);
    }).finally(() => {
      state.minting = null;
    });
    await state.minting;
  }
  return session.token;
}

/** The HTTP API with the session's token; a 401 mints a new token and tries once more. */
async function api(path, options = {}) {
  try {
    return await call(`/api${path}`, { ...options, token: await token() });
  } catch (error) {
    if (error?.problem?.status !== 401 || !state.session) throw error;
    return call(`/api${path}`, { ...options, token: await token(true) });
  }
}

/** A POST that changes something in Stripe, under the action's idempotency key (see keyFor). */
async function keyed(action, path, body) {
  const idempotencyKey = keyFor(action, body);
  try {
    const answer = await api(path, { method: "POST", body, idempotencyKey });
    settleKey(action);
    return answer;
  } catch (error) {
    settleKey(action, error);
    throw error;
  }
}

function follow(url) {
  const safe = safeUrl(url);
  if (!safe) throw new ProblemError({ title: "Unexpected link", detail: "The API answered a link that is not http(s)." });
  location.assign(safe);
}

async function signIn(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const orgId = String(form.get("org_id") || "").trim();
  const minted = await call("/console/token", {
    method: "POST",
    body: {
      user_id: String(form.get("user_id") || ""),
      email: String(form.get("email") || "").trim() || null,
      org_id: orgId || null,
      role: orgId ? String(form.get("role")) : null,
    },
  });
  state.session = { ...minted, email: String(form.get("email") || "").trim() || null, expires_at: Date.now() + minted.expires_in * 1000 };
  delete state.session.expires_in;
  saveSession(state.session);
  state.feedAfter = 0;
  state.managed = null;
  state.managedShape = "";
  replace($("feed"));
  discardChange();
  showSignedIn();
  notice(`Signed in as ${minted.user_id}.`);
  await refreshAll();
}

function signOut() {
  saveSession(null);
  state.session = null;
  state.feedAfter = 0;
  replace($("feed"));
  discardChange();
  state.managed = null;
  state.managedShape = "";
  showSignedIn();
  notice("Signed out.");
}

function showSignedIn() {
  const session = state.session;
  $("signin-form").hidden = Boolean(session);
  $("signed-in").hidden = !session;
  $("member-views").hidden = !session;
  if (!session) return;
  $("who").textContent = session.user_id;
  $("who-org").textContent = session.org_id
    ? ` for organization ${session.org_id} (${session.admin ? "admin" : "member"})`
    : "";
}

// ---- plans and checkout --------------------------------------------------------------------

function planName(id) {
  return state.plans.find((p) => p.id === id)?.name || id;
}

function priceText(interval, price) {
  const every = { month: "a month", year: "a year", week: "a week", day: "a day", one_time: "once" }[interval] || interval;
  const others = Object.entries(price.currencies || {})
    .filter(([currency]) => currency !== price.currency)
    .map(([currency, amount]) => money(amount, currency));
  return `${money(price.amount, price.currency)} ${every}${others.length ? ` (also ${others.join(", ")})` : ""}`;
}

function options(select, values, chosen) {
  replace(select, values.map(([value, label]) => el("option", { value, selected: value === chosen }, label)));
}

function currencyChoices(plan, interval) {
  const price = plan.prices?.[interval];
  if (!price) return [];
  const all = Object.keys(price.currencies || {});
  return (all.length ? all : [price.currency]).map((c) => [c, c.toUpperCase()]);
}

function planCard(plan) {
  const intervals = Object.keys(plan.prices || {});
  const oneTime = plan.mode === "one_time";
  const headingId = `plan-${plan.id}`;
  const limits = Object.entries(plan.limits || {}).map(([k, v]) => `${k} ${v}`);
  const usage = Object.entries(plan.usage || {}).map(([k, u]) =>
    u.metered ? `${k}: metered` : `${k}: ${u.limit === null || u.limit === undefined ? "unlimited" : u.limit.toLocaleString("en-US")} a period`);
  let form = null;
  if (!plan.free && intervals.length) {
    const interval = el("select", { name: "interval" });
    const currency = el("select", { name: "currency" });
    options(interval, intervals.map((i) => [i, i === "one_time" ? "once" : `${i}ly`]), intervals[0]);
    options(currency, currencyChoices(plan, intervals[0]), plan.prices[intervals[0]].currency);
    interval.addEventListener("change", () => options(currency, currencyChoices(plan, interval.value), plan.prices[interval.value].currency));
    const seats = plan.max_quantity > 1 && !oneTime
      ? el("label", {}, "Seats ", el("input", { name: "quantity", type: "number", min: 1, max: plan.max_quantity, step: 1, value: 1 }))
      : null;
    form = el("form", { class: "row", onsubmit: (e) => act(e, () => subscribe(plan, e.target)) },
      oneTime ? null : el("label", {}, "Interval ", interval),
      el("label", {}, "Currency ", currency),
      seats,
      oneTime ? el("p", { class: "small" }, "One payment, no renewal.") : null,
      el("button", { type: "submit" }, `Subscribe to ${plan.name}`));
  }
  return el("article", { class: "card", "aria-labelledby": headingId },
    el("h3", { id: headingId }, plan.name),
    el("p", { class: "muted" }, plan.description || ""),
    plan.free
      ? el("p", {}, "Free, no checkout needed.")
      : el("ul", { class: "prices" }, intervals.map((i) => el("li", {}, priceText(i, plan.prices[i])))),
    oneTime || plan.free ? null : el("p", {}, plan.trial_days
      ? `${plan.trial_days}-day free trial${plan.trial_card === "if_required" ? ", no card needed" : ""}`
      : "No trial"),
    el("p", { class: "small" }, `Features: ${(plan.features || []).join(", ") || "none"}`),
    limits.length || usage.length ? el("p", { class: "small muted" }, [...limits, ...usage].join(" · ")) : null,
    form);
}

async function loadPlans() {
  const catalog = await call("/api/plans");
  state.plans = catalog.plans || [];
  state.features = [...new Set(state.plans.flatMap((p) => p.features || []))];
  replace($("plans"), state.plans.map(planCard));
  const subscribable = state.plans.filter((p) => !p.free && p.mode !== "one_time" && Object.keys(p.prices || {}).length);
  options($("change-plan"), subscribable.map((p) => [p.id, p.name]), state.managed?.plan);
  const usage = [...new Set(state.plans.flatMap((p) => Object.keys(p.usage || {})))];
  options($("usage-feature"), usage.map((f) => [f, f]), usage[0]);
  state.managedShape = "";
}

async function subscribe(plan, form) {
  await token();
  const data = new FormData(form);
  const body = {
    plan: plan.id,
    currency: data.get("currency") || undefined,
    success_url: `${location.origin}/`,
    cancel_url: `${location.origin}/?checkout=canceled`,
  };
  if (plan.mode !== "one_time") body.interval = data.get("interval");
  if (data.get("quantity") && Number(data.get("quantity")) !== 1) body.quantity = Number(data.get("quantity"));
  const session = await keyed("checkout", "/checkout", body);
  notice(`Opening the hosted Checkout page for ${plan.name}…`);
  follow(session.url);
}

async function returnFromCheckout() {
  const params = new URLSearchParams(location.search);
  const sessionId = params.get("session_id");
  const canceled = params.get("checkout") === "canceled";
  if (!sessionId && !canceled) return;
  history.replaceState(null, "", "/");
  if (canceled) {
    notice("Checkout canceled: nothing was charged.");
    return;
  }
  if (!state.session) return;
  notice("Confirming your checkout…");
  const result = await api(`/checkout/${encodeURIComponent(sessionId)}`);
  const sub = result.subscription;
  if (sub) notice(`Subscribed to ${planName(sub.plan)}: ${words(sub.status)}.`);
  else if (result.session.status === "complete") notice("Purchase complete.");
  else notice(`Checkout not completed (${result.session.status}).`);
}

// ---- where the user stands -----------------------------------------------------------------

function subscriptionCard(sub) {
  const facts = [
    ["Plan", planName(sub.plan)],
    ["Status", words(sub.status)],
    ["Interval", sub.interval || "—"],
    ["Seats", sub.quantity ?? "—"],
    ["Current period ends", when(sub.current_period_end)],
  ];
  if (sub.trial_end) facts.push(["Trial ends", when(sub.trial_end)]);
  if (LIVE(sub) && sub.cancel_at_period_end) facts.push(["Cancels", `at period end (${day(sub.current_period_end)})`]);
  else if (LIVE(sub) && sub.cancel_at) facts.push(["Cancels", when(sub.cancel_at)]);
  if (sub.scheduled_change) {
    const c = sub.scheduled_change;
    facts.push(["Scheduled change", `${planName(c.plan)}, ${c.interval}ly, ${c.quantity} seat(s) on ${day(c.at)}`]);
  }
  if (sub.pause_collection) facts.push(["Paused", `collection paused (${sub.pause_collection.behavior})`]);
  if (sub.unpaid_period) facts.push(["Unpaid period", "this period began while paused: resume to pay and regain access"]);
  return el("article", { class: "card wide", "aria-label": `Subscription ${sub.id}` },
    el("h3", {}, `${planName(sub.plan)} `, el("span", { class: `badge ${sub.status}` }, words(sub.status))),
    el("dl", {}, facts.map(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))])),
    el("p", { class: "small muted" }, sub.id));
}

async function loadSubscription() {
  const session = state.session;
  const { subscriptions } = await api("/subscription");
  if (session !== state.session) return;
  replace($("subscriptions"), subscriptions.length
    ? subscriptions.map(subscriptionCard)
    : el("p", {}, "No subscription: the free plan applies."));
  const managed = subscriptions.find(LIVE) || null;
  state.managed = managed;
  $("manage").hidden = !managed || !state.session.admin;
  if (!managed) return;
  $("resume").hidden = !(managed.cancel_at_period_end || managed.cancel_at || managed.scheduled_change
    || managed.pause_collection || managed.unpaid_period);
  // A change of plan, seats, status or period (the clock moved) resets the form and drops a
  // preview made for what no longer is.
  const shape = [managed.id, managed.plan, managed.interval, managed.quantity, managed.status, managed.current_period_end,
    state.plans.length].join("/");
  if (shape !== state.managedShape) {
    state.managedShape = shape;
    $("change-plan").value = managed.plan;
    fillChangeIntervals(managed.interval);
    $("change-quantity").value = managed.quantity || 1;
    discardChange();
  }
}

function fillChangeIntervals(chosen) {
  const plan = state.plans.find((p) => p.id === $("change-plan").value);
  const intervals = Object.keys(plan?.prices || {}).filter((i) => i !== "one_time");
  options($("change-interval"), intervals.map((i) => [i, `${i}ly`]), intervals.includes(chosen) ? chosen : intervals[0]);
  $("change-quantity").max = plan?.max_quantity || 1;
}

async function loadEntitlements() {
  const session = state.session;
  const summary = await api("/entitlements");
  $("entitlements-summary").textContent = `Plan ${planName(summary.plan)}, ${words(summary.status)}`
    + (summary.current_period_end ? `, period ends ${day(summary.current_period_end)}` : "")
    + (summary.cancel_at_period_end ? ", cancels at period end" : "")
    + (summary.org_id ? `, in organization ${summary.org_id}` : "");
  const features = [...new Set([...state.features, ...(summary.features || [])])];
  const checks = await Promise.all(features.map((f) => api(`/entitlements/${encodeURIComponent(f)}`)));
  if (session !== state.session) return;
  replace($("entitlements"), checks.map((c) => el("tr", {},
    el("th", { scope: "row" }, c.feature),
    el("td", { class: c.allowed ? "yes" : "no" }, c.allowed ? "Allowed" : "Not allowed"),
    el("td", {}, words(c.reason)),
    el("td", {}, c.limit ?? summary.limits?.[c.feature] ?? "—"))));
}

async function loadUsage() {
  const session = state.session;
  const usage = await api("/usage");
  if (session !== state.session) return;
  $("usage-period").textContent = `This period: ${day(usage.period_start)} to ${day(usage.period_end)}`;
  replace($("usage"), Object.entries(usage.features || {}).map(([feature, u]) => el("tr", {},
    el("th", { scope: "row" }, feature),
    el("td", {}, `${u.used.toLocaleString("en-US")} / ${u.limit === null || u.limit === undefined ? "unlimited" : u.limit.toLocaleString("en-US")}`),
    el("td", {}, u.remaining === null || u.remaining === undefined ? "—" : u.remaining.toLocaleString("en-US")),
    el("td", {}, u.metered ? "metered (billed in arrears)" : "quota"),
    el("td", {}, (u.thresholds || []).map((t) => `${t} %`).join(", ") || "none"))));
}

async function loadInvoices() {
  if (!state.session.admin) {
    replace($("invoices"), el("tr", {}, el("td", { colspan: 6 }, "Only the organization's admins see its invoices.")));
    return;
  }
  const session = state.session;
  const { invoices } = await api("/invoices?limit=10");
  if (session !== state.session) return;
  replace($("invoices"), invoices.length
    ? invoices.map((i) => el("tr", {},
      el("td", {}, i.number || i.id),
      el("td", {}, i.status),
      el("td", {}, money(i.amount_due, i.currency)),
      el("td", {}, money(i.amount_paid, i.currency)),
      el("td", {}, day(i.created)),
      el("td", {}, safeUrl(i.hosted_invoice_url)
        ? el("a", { href: safeUrl(i.hosted_invoice_url), target: "_blank", rel: "noopener" }, `View invoice ${i.number || i.id}`)
        : "—")))
    : el("tr", {}, el("td", { colspan: 6 }, "No invoices yet.")));
}

/**
 * Every view, once; a call made while one runs runs once more after it. A failure is shown
 * unless another problem is (an action's own stays on screen).
 */
async function refreshAll() {
  if (!state.session) return;
  if (state.refreshing) {
    state.again = true;
    return state.refreshing;
  }
  state.refreshing = (async () => {
    do {
      state.again = false;
      const results = await Promise.allSettled([loadSubscription(), loadEntitlements(), loadUsage(), loadInvoices()]);
      const failed = results.find((r) => r.status === "rejected");
      if (failed && $("problem").hidden) showProblem(failed.reason);
    } while (state.again && state.session);
  })();
  try {
    await state.refreshing;
  } finally {
    state.refreshing = null;
  }
}

// ---- managing the subscription -------------------------------------------------------------

function changeRequest() {
  const managed = state.managed;
  const when = $("change-when").value;
  return {
    subscription: managed.id,
    plan: $("change-plan").value,
    interval: $("change-interval").value,
    quantity: Number($("change-quantity").value),
    when,
    // Said, not left to the deployment's CHANGE_PRORATION: what the preview shows is what is made.
    ...(when === "now" ? { proration: "create_prorations" } : {}),
  };
}

async function previewChange() {
  const request = changeRequest();
  discardChange();
  const asked = ++state.previews;
  const preview = await api("/subscription/change", { method: "POST", body: { ...request, preview: true } });
  // An answer for a form the user changed meanwhile (or a newer preview) is dropped.
  if (asked !== state.previews || JSON.stringify(request) !== JSON.stringify(changeRequest())) return;
  state.pendingChange = { request };
  const target = `${planName(request.plan)}, ${request.interval}ly, ${request.quantity} seat(s), `
    + (request.when === "now" ? "now" : "at the period end");
  const proration = preview.proration < 0
    ? `a credit of ${money(-preview.proration, preview.currency)} for the unused time`
    : `${money(preview.proration, preview.currency)} of proration`;
  $("preview-summary").textContent = `${target}: the next invoice is ${money(preview.amount_due, preview.currency)}`
    + `, due ${when(preview.next_payment_at)}, with ${proration} in it.`;
  replace($("preview-lines"), (preview.lines || []).map((line) => el("tr", {},
    el("td", {}, line.description || line.price || "line"),
    el("td", {}, money(line.amount, preview.currency)),
    el("td", {}, `${day(line.period_start)} to ${day(line.period_end)}`))));
  $("preview").hidden = false;
}

function discardChange() {
  state.previews += 1;
  state.pendingChange = null;
  $("preview").hidden = true;
}

async function confirmChange() {
  const pending = state.pendingChange;
  if (!pending) return;
  const { subscription } = await keyed("change", "/subscription/change", pending.request);
  discardChange();
  notice(pending.request.when === "now"
    ? `Changed to ${planName(subscription.plan)} (${subscription.interval}ly, ${subscription.quantity} seat(s)).`
    : `Change to ${planName(pending.request.plan)} scheduled for the period end.`);
  await refreshAll();
}

async function cancel(event) {
  const atPeriodEnd = $("cancel-when").value === "period_end";
  await keyed("cancel", "/subscription/cancel", { subscription: state.managed.id, at_period_end: atPeriodEnd });
  notice(atPeriodEnd ? "Your subscription will end at the period end." : "Your subscription is canceled.");
  event.target.reset();
  await refreshAll();
}

async function resume() {
  await keyed("resume", "/subscription/resume", { subscription: state.managed.id });
  notice("Resumed.");
  await refreshAll();
}

async function openPortal() {
  const portal = await api("/portal", { method: "POST", body: { return_url: `${location.origin}/` } });
  follow(portal.url);
}

async function recordUsage() {
  const feature = $("usage-feature").value;
  const quantity = Number($("usage-quantity").value);
  const result = await call("/console/usage", { method: "POST", body: { feature, quantity }, token: await token() });
  if (result.problem) showProblem(new ProblemError(result.problem));
  else notice(`Recorded ${quantity} ${feature}: ${result.used} / ${result.limit ?? "unlimited"} used.`);
  await loadUsage();
}

// ---- the clock and the feed ----------------------------------------------------------------

async function showClock() {
  const clock = await call("/console/clock");
  $("clock-now").textContent = when(clock.now);
  $("clock-now").dateTime = new Date(clock.now * 1000).toISOString();
}

async function advance(step, label) {
  const moved = await call("/console/clock", { method: "POST", body: step });
  $("clock-now").textContent = when(moved.now);
  notice(`Moved the clock ${label}, to ${when(moved.now)}: renewals, dunning and trial ends follow.`);
  for (const wait of [1000, 3000, 6000]) setTimeout(refreshAll, wait);
}

function feedItem(event) {
  const d = event.detail || {};
  const about = [d.plan && `plan ${planName(d.plan)}`, d.status && `status ${words(d.status)}`,
    d.amount_due !== undefined && d.currency && money(d.amount_due, d.currency)].filter(Boolean).join(", ");
  // When it happened on the emulator's clock (`occurred_at`), not when the bus got it.
  const at = d.occurred_at ?? Date.parse(event.time) / 1000;
  return el("li", {},
    el("time", { datetime: new Date(at * 1000).toISOString() }, when(at)),
    " ", el("b", {}, event.detail_type), about ? ` ${about}` : "",
    el("details", {}, el("summary", {}, "detail"), el("pre", {}, JSON.stringify(d, null, 2))));
}

async function pollFeed() {
  const session = state.session;
  if (!session) return;
  // The console's server picks the signed-in caller's events by the token.
  const feed = await call(`/console/events?after=${state.feedAfter}`, { token: await token() });
  if (session !== state.session) return;
  if (feed.last < state.feedAfter) {
    // The console restarted: its events are numbered from 1 again.
    state.feedAfter = 0;
    replace($("feed"));
    return;
  }
  $("feed-trouble").hidden = !feed.trouble;
  $("feed-trouble").textContent = feed.trouble || "";
  state.feedAfter = feed.last;
  if (feed.events.length) {
    $("feed").prepend(...feed.events.reverse().map(feedItem));
    refreshAll();
  }
}

// ---- wiring --------------------------------------------------------------------------------

/** Runs a user action: its button is disabled meanwhile, and a failure is shown. */
async function act(event, action) {
  event?.preventDefault?.();
  const button = event?.submitter || event?.currentTarget;
  if (button instanceof HTMLButtonElement) button.disabled = true;
  clearProblem();
  try {
    await action(event);
  } catch (error) {
    showProblem(error);
  } finally {
    if (button instanceof HTMLButtonElement) button.disabled = false;
  }
}

function every(ms, task) {
  const run = async () => {
    try {
      await task();
    } catch (error) {
      // The next round tries again; actions show their own problems.
      console.warn("console: a background refresh failed", error);
    }
    setTimeout(run, ms);
  };
  setTimeout(run, ms);
}

async function start() {
  $("signin-form").addEventListener("submit", (e) => act(e, signIn));
  $("sign-out").addEventListener("click", signOut);
  $("open-portal").addEventListener("click", (e) => act(e, openPortal));
  $("problem-dismiss").addEventListener("click", clearProblem);
  $("advance-day").addEventListener("click", (e) => act(e, () => advance({ days: 1 }, "1 day")));
  $("advance-month").addEventListener("click", (e) => act(e, () => advance({ months: 1 }, "1 month")));
  $("change-form").addEventListener("submit", (e) => act(e, previewChange));
  $("change-plan").addEventListener("change", () => fillChangeIntervals($("change-interval").value));
  for (const input of ["change-plan", "change-interval", "change-quantity", "change-when"]) {
    $(input).addEventListener("input", discardChange);
  }
  $("confirm-change").addEventListener("click", (e) => act(e, confirmChange));
  $("discard-change").addEventListener("click", discardChange);
  $("cancel-form").addEventListener("submit", (e) => act(e, cancel));
  $("resume").addEventListener("click", (e) => act(e, resume));
  $("usage-form").addEventListener("submit", (e) => act(e, recordUsage));
  showSignedIn();
  // The feed and the refreshes run from the start: a slow first answer (a function the watch
  // server builds on its first call) holds up nothing else.
  every(FEED_MS, pollFeed);
  every(REFRESH_MS, async () => {
    if (document.visibilityState !== "visible") return;
    if (!state.plans.length) await loadPlans();
    await Promise.all([showClock(), refreshAll()]);
  });
  await act(null, showClock);
  await act(null, loadPlans);
  await act(null, returnFromCheckout);
  await refreshAll();
}

start();
