#!/usr/bin/env node
// Drives the Stripe emulator with Stripe's official Node SDK (stripe-node) and asserts what comes
// back: customers (an idempotent create replayed, update, retrieve, list), a Checkout Session
// read back with `expand` and its line items, auto-pagination over events, and Stripe's typed
// errors (a missing object, an unknown parameter, a reused idempotency key, a bad API key, a
// declined card).
// Every check runs; each prints `ok` or `FAIL`, and the script exits non-zero if any failed.
//
// Usage: node stripe_node_check.cjs [BASE_URL]   (default: $STRIPE_API_BASE, then http://127.0.0.1:12111)
//
// stripe-node is pinned in dev/sdk/package.json and package-lock.json; `dev/bootstrap.sh --node`
// installs it with `npm ci` into <venv>/node/, and dev/sdk-check.sh points STRIPE_NODE_MODULES at
// <venv>/node/node_modules. Without STRIPE_NODE_MODULES, `stripe` is resolved as usual
// (NODE_PATH, a node_modules next to this file).
'use strict';

const path = require('node:path');
const crypto = require('node:crypto');

const modules = process.env.STRIPE_NODE_MODULES;
const Stripe = require(modules ? path.join(modules, 'stripe') : 'stripe');

const KEY = 'sk_test_local_emulator_key';

class CheckFailed extends Error {}

function check(condition, what) {
  if (!condition) throw new CheckFailed(what);
}

/** JSON with object keys sorted, so that equal() compares values, not key order. */
function canonical(value) {
  return JSON.stringify(value, (_, v) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  );
}

function equal(actual, expected, what) {
  const a = canonical(actual);
  const e = canonical(expected);
  if (a !== e) throw new CheckFailed(`${what}: expected ${e}, got ${a}`);
}

/** Awaits `call()`, which must throw `kind`; returns the error. */
async function expectError(call, what, kind, { status, code, param, rawType, contains } = {}) {
  let err;
  try {
    await call();
  } catch (caught) {
    err = caught;
  }
  check(err !== undefined, `${what}: no ${kind.name} thrown`);
  check(err instanceof kind, `${what}: expected ${kind.name}, got ${err && err.constructor && err.constructor.name}: ${err && err.message}`);
  check(err instanceof Stripe.errors.StripeError, `${what}: a Stripe.errors.StripeError`);
  equal(err.type, kind.name, `${what}: type`);
  if (status !== undefined) equal(err.statusCode, status, `${what}: statusCode`);
  if (code !== undefined) equal(err.code, code, `${what}: code`);
  if (param !== undefined) equal(err.param, param, `${what}: param`);
  if (rawType !== undefined) equal(err.rawType, rawType, `${what}: rawType`);
  if (contains !== undefined) check(String(err.message).includes(contains), `${what}: ${JSON.stringify(contains)} in ${JSON.stringify(err.message)}`);
  return err;
}

function client(base, key = KEY) {
  const url = new URL(base);
  return new Stripe(key, {
    host: url.hostname,
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    protocol: url.protocol.replace(':', ''),
    maxNetworkRetries: 0,
  });
}

function unique(prefix) {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

async function price(stripe, lookupKey) {
  const prices = await stripe.prices.list({ lookup_keys: [lookupKey] });
  equal(prices.data.length, 1, `one price for ${lookupKey}`);
  return prices.data[0];
}

async function checkCustomers(stripe) {
  const email = `${unique('node')}@example.com`;
  const params = { email, name: 'Ada Node', metadata: { source: 'stripe-node' } };
  const idempotencyKey = unique('node-customer');
  const first = await stripe.customers.create(params, { idempotencyKey });
  equal([first.object, first.email, first.name], ['customer', email, 'Ada Node'], 'the new customer');
  check(first.id.startsWith('cus_'), `a customer id: ${first.id}`);
  const again = await stripe.customers.create(params, { idempotencyKey });
  equal(again.id, first.id, 'the same Idempotency-Key returns the same customer');
  equal(again.lastResponse.headers['idempotent-replayed'], 'true', 'the answer is a replay');
  await expectError(
    () => stripe.customers.create({ ...params, name: 'Someone Else' }, { idempotencyKey }),
    'the key reused with other parameters',
    Stripe.errors.StripeIdempotencyError,
    { status: 400, rawType: 'idempotency_error' },
  );

  const updated = await stripe.customers.update(first.id, { name: 'Ada Lovelace', metadata: { plan: 'pro' } });
  equal([updated.id, updated.name], [first.id, 'Ada Lovelace'], 'the update');
  equal(updated.metadata, { source: 'stripe-node', plan: 'pro' }, 'metadata is merged');
  const read = await stripe.customers.retrieve(first.id);
  equal([read.id, read.email, read.name, read.metadata.plan], [first.id, email, 'Ada Lovelace', 'pro'], 'retrieved');
  const listed = await stripe.customers.list({ email });
  equal(listed.object, 'list', 'a list');
  equal(listed.data.map((c) => c.id), [first.id], 'listed by email, once');
  return first;
}

async function checkCheckoutExpandAndLineItems(stripe) {
  const pro = await price(stripe, 'pro_month');
  const customer = await stripe.customers.create({ email: `${unique('node-checkout')}@example.com` });
  const session = await stripe.checkout.sessions.create({
    mode: 'subscription',
    customer: customer.id,
    line_items: [{ price: pro.id, quantity: 2 }],
    success_url: 'http://localhost:3000/done?session_id={CHECKOUT_SESSION_ID}',
  });
  equal([session.object, session.mode, session.status], ['checkout.session', 'subscription', 'open'], 'a new session');
  check(typeof session.url === 'string' && session.url.length > 0, 'a hosted page url');

  const plain = await stripe.checkout.sessions.retrieve(session.id);
  equal(plain.customer, customer.id, 'customer is an id unless expanded');
  check(plain.line_items === undefined, 'line_items only when expanded');

  const expanded = await stripe.checkout.sessions.retrieve(session.id, { expand: ['line_items', 'customer'] });
  check(expanded.customer !== null && typeof expanded.customer === 'object', `customer expanded: ${JSON.stringify(expanded.customer)}`);
  equal([expanded.customer.object, expanded.customer.id], ['customer', customer.id], 'the expanded customer');
  check(expanded.line_items && expanded.line_items.object === 'list', `line_items expanded: ${JSON.stringify(expanded.line_items)}`);
  equal(expanded.line_items.data.length, 1, 'one line item');
  const line = expanded.line_items.data[0];
  equal([line.object, line.price && line.price.id, line.quantity], ['item', pro.id, 2], 'the expanded line item');
  equal(line.amount_total, pro.unit_amount * 2, 'the line total');

  const items = await stripe.checkout.sessions.listLineItems(session.id);
  equal(items.object, 'list', 'listLineItems answers a list');
  equal(items.data.map((i) => [i.object, i.price.id, i.quantity]), [['item', pro.id, 2]], 'the listed line items');
  equal(items.data[0].id, line.id, 'the same line item both ways');
  equal(items.has_more, false, 'one page');
}

async function checkEventsAutoPagination(stripe) {
  // Five new customers: five customer.created events, so there are always pages to follow.
  const customers = [];
  for (let i = 0; i < 5; i += 1) {
    customers.push((await stripe.customers.create({ email: `${unique('node-events')}@example.com` })).id);
  }
  // Newest first means in the reverse of the order the events were made: the five new
  // customers' come first, last made first, and every page follows on from the one before.
  // (`created` alone cannot show it: events of a test clock's objects carry the clock's time.)
  const seen = [];
  const firstObjects = [];
  for await (const event of stripe.events.list({ limit: 3 })) {
    equal(event.object, 'event', 'an event');
    seen.push(event.id);
    if (firstObjects.length < customers.length) firstObjects.push([event.type, event.data.object.id]);
  }
  equal(firstObjects, customers.reverse().map((id) => ['customer.created', id]), 'the newest events first: the five new customers, last made first');
  check(seen.length > 3, `more than one page of 3 events: ${seen.length}`);
  equal(new Set(seen).size, seen.length, 'no event visited twice');
  const page = await stripe.events.list({ limit: 100 });
  equal(seen.slice(0, page.data.length), page.data.map((e) => e.id), 'the same order as one page of 100');
}

async function checkErrors(stripe, base) {
  await expectError(() => stripe.customers.retrieve('cus_node_missing'), 'a missing customer', Stripe.errors.StripeInvalidRequestError, {
    status: 404,
    code: 'resource_missing',
    param: 'id',
    rawType: 'invalid_request_error',
    contains: "No such customer: 'cus_node_missing'",
  });
  await expectError(() => stripe.customers.create({ nickname: 'Ada' }), 'an unknown parameter', Stripe.errors.StripeInvalidRequestError, {
    status: 400,
    code: 'parameter_unknown',
    param: 'nickname',
  });
  // The emulator takes any sk_test_ key (unless STRIPE_EMULATOR_API_KEY names one), so a live
  // key is one it refuses, with Stripe's 401.
  const live = client(base, 'sk_live_node_check_not_a_key');
  await expectError(() => live.customers.list({ limit: 1 }), 'a live key', Stripe.errors.StripeAuthenticationError, {
    status: 401,
    rawType: 'invalid_request_error',
    contains: 'Invalid API Key provided',
  });
}

async function checkCardError(stripe) {
  const customer = await stripe.customers.create({ email: `${unique('node-declined')}@example.com` });
  const err = await expectError(
    () => stripe.paymentMethods.attach('pm_card_chargeDeclined', { customer: customer.id }),
    'attaching pm_card_chargeDeclined',
    Stripe.errors.StripeCardError,
    { status: 402, code: 'card_declined', rawType: 'card_error', contains: 'Your card was declined.' },
  );
  equal(err.decline_code, 'generic_decline', 'decline_code');
  const visa = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
  check(visa.id.startsWith('pm_') && visa.id !== 'pm_card_visa', `a new payment method: ${visa.id}`);
  equal([visa.object, visa.type, visa.customer, visa.card.last4], ['payment_method', 'card', customer.id, '4242'], 'pm_card_visa attached');
}

async function main() {
  const base = (process.argv[2] || process.env.STRIPE_API_BASE || 'http://127.0.0.1:12111').replace(/\/+$/, '');
  const stripe = client(base);
  const checks = [
    ['customers: idempotent create, update, retrieve, list', () => checkCustomers(stripe)],
    ['a Checkout Session with expand and its line items', () => checkCheckoutExpandAndLineItems(stripe)],
    ['auto-pagination over events', () => checkEventsAutoPagination(stripe)],
    ['typed errors', () => checkErrors(stripe, base)],
    ['a card error: StripeCardError', () => checkCardError(stripe)],
  ];
  let passed = 0;
  let failed = 0;
  for (const [name, step] of checks) {
    try {
      await step();
      passed += 1;
      console.log(`ok   ${name}`);
    } catch (err) {
      failed += 1;
      const kind = err instanceof CheckFailed ? 'CheckFailed' : (err && err.type) || (err && err.constructor && err.constructor.name);
      console.log(`FAIL ${name}: ${kind}: ${err && err.message}`);
    }
  }
  console.log(`stripe-node ${Stripe.PACKAGE_VERSION} (API version ${Stripe.API_VERSION}) on Node ${process.versions.node} against ${base}`);
  console.log(`sdk-check: ${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.log(`FAIL ${err && err.stack}`);
    process.exitCode = 1;
  },
);
