// Helpers of the console's page: calling the API and the console's own routes, showing
// problems, formatting money and times, building elements (text only: nothing the API or a
// user typed is ever parsed as HTML).

const SESSION_KEY = "stripe-lambda-console.session";
/** How long a call may take: the first call to a function may build it (cargo lambda watch). */
const TIMEOUT_MS = 300_000;

/** The signed-in session ({user_id, email, org_id, role, admin, token, expires_at}), or null. */
export function loadSession() {
  try {
    return JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
  } catch {
    return null;
  }
}

export function saveSession(session) {
  if (session) localStorage.setItem(SESSION_KEY, JSON.stringify(session));
  else localStorage.removeItem(SESSION_KEY);
}

/** A failed call, carrying the problem+json body (or one made up for a non-JSON failure). */
export class ProblemError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title);
    this.problem = problem;
  }
}

/**
 * Calls the console's server: `path` is `/api/…` (the HTTP API) or `/console/…`.
 * Resolves to the JSON body (or null for 204); rejects with a ProblemError.
 */
export async function call(path, { method = "GET", body, token, idempotencyKey } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  if (idempotencyKey) headers["idempotency-key"] = idempotencyKey;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    throw new ProblemError(error?.name === "TimeoutError"
      ? { title: "No answer in time", detail: `${method} ${path} did not answer within ${TIMEOUT_MS / 1000} s. The log of ./dev/run.sh says why.`, status: 0 }
      : { title: "The console is not reachable", detail: "The console's server did not answer. Is ./dev/run.sh still running?", status: 0 });
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (response.ok && json !== null) return json;
  if (json && typeof json === "object" && (json.title || json.detail)) throw new ProblemError(json);
  throw new ProblemError({
    title: response.ok ? "Unexpected answer" : `The request failed (${response.status} ${response.statusText})`,
    detail: response.ok
      ? "The server answered something that is not JSON."
      : "The server gave no explanation. The console's terminal (./dev/run.sh) has the log.",
    status: response.status,
  });
}

const pendingKeys = new Map();

/**
 * The idempotency key of an action on `body`: the same key again while the same action has not
 * been answered (a retry after a timeout or a 5xx repeats nothing), a fresh one once it has.
 * Call `settleKey(action)` when the answer is known.
 */
export function keyFor(action, body) {
  const shape = JSON.stringify(body);
  const pending = pendingKeys.get(action);
  if (pending && pending.shape === shape) return pending.key;
  const random = crypto.getRandomValues(new Uint32Array(2));
  const key = `console-${action}-${Date.now().toString(36)}-${random[0].toString(36)}${random[1].toString(36)}`;
  pendingKeys.set(action, { shape, key });
  return key;
}

/** Forgets an action's key once Stripe's answer is known (a success, or a refusal: 4xx). */
export function settleKey(action, error) {
  const status = error?.problem?.status;
  if (!error || (status >= 400 && status < 500)) pendingKeys.delete(action);
}

/** Stripe's currencies without minor units, and with three decimals (as the backend's lists). */
const ZERO_DECIMAL = ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"];
const THREE_DECIMAL = ["bhd", "jod", "kwd", "omr", "tnd"];

/**
 * Money in a currency's minor unit as Stripe counts it, e.g. (2900, "usd") → "$29.00",
 * (500, "jpy") → "¥500", (-450, "eur") → "-€4.50". Stripe's decimals, not the browser's (ISK
 * is two-decimal in Stripe's API).
 */
export function money(amount, currency) {
  if (amount === null || amount === undefined || !currency) return "—";
  const code = currency.toLowerCase();
  const digits = ZERO_DECIMAL.includes(code) ? 0 : THREE_DECIMAL.includes(code) ? 3 : 2;
  const format = new Intl.NumberFormat("en-US", {
    style: "currency", currency: code.toUpperCase(), minimumFractionDigits: digits, maximumFractionDigits: digits,
  });
  return format.format(amount / 10 ** digits);
}

/** A link the page may follow: http(s) only. */
export function safeUrl(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

/** Unix seconds as "2026-12-20 18:00 UTC" (the emulator's clock is the one that matters). */
export function when(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const iso = new Date(seconds * 1000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

export function day(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  return new Date(seconds * 1000).toISOString().slice(0, 10);
}

/** An element with attributes and children (strings become text nodes). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function replace(parent, ...children) {
  parent.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

/** Shows a problem the way a person reads it: its title and detail. */
export function showProblem(error) {
  const problem = error instanceof ProblemError
    ? error.problem
    : { title: "Something went wrong", detail: "The console hit an unexpected error; the browser's console has it." };
  if (!(error instanceof ProblemError)) console.error(error);
  document.getElementById("problem-title").textContent = problem.title || "Something went wrong";
  document.getElementById("problem-detail").textContent = problem.detail || "";
  document.getElementById("problem").hidden = false;
}

export function clearProblem() {
  document.getElementById("problem").hidden = true;
}

export function notice(text) {
  document.getElementById("notice").textContent = text;
}

/** Plain words for the API's status and reason codes. */
const WORDS = {
  active: "active",
  trialing: "trialing",
  past_due: "past due",
  canceled: "canceled",
  unpaid: "unpaid",
  incomplete: "incomplete",
  incomplete_expired: "incomplete, expired",
  paused: "paused",
  none: "no subscription",
  grace_past_due: "past due, in the grace period",
  free_plan: "the free plan includes it",
  period_ended: "the period ended",
  past_due_grace_expired: "past due, the grace period is over",
  unknown_status: "unknown status",
  no_subscription: "no subscription",
  not_in_plan: "not in the plan",
  no_seat: "no seat in the organization",
  grant: "granted by support",
  refunded: "refunded",
  disputed: "disputed",
};

export function words(code) {
  return WORDS[code] || String(code ?? "—");
}
