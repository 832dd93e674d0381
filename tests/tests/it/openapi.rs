//! `docs/openapi.yaml` against the code: requests sent through the handlers (behind the runtime's
//! guard, as in Lambda) over moto and the Stripe emulator, each answer looked up in the document
//! (operation, status, content type) and its body validated against the documented schema.
//!
//! The validator is a small JSON-Schema subset written here: `$ref` (local `#/components/…`),
//! `type` (a name or a list, `"null"` included), `properties`, `required`,
//! `additionalProperties` (a boolean or a schema), `items`, `enum`, `const`,
//! `oneOf`/`anyOf`/`allOf`, `minimum`/`maximum`, `minLength`/`maxLength`,
//! `minItems`/`maxItems`; `format` and annotations are ignored, and any other keyword fails the
//! test (nothing in the document is silently unchecked). A mismatch names its JSON path
//! (`$.subscriptions[0].plan`).
//!
//! Besides the answers: every operation of the document is exercised, the document's operations
//! are exactly the template's `HttpApi` routes, and `Problem.type` lists exactly the
//! `/errors/*` codes of the code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use billing::testkit;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use crate::checkout::pay;
use crate::helpers::Stack;

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

fn read_yaml(relative: &str) -> serde_yaml::Value {
    let path = repo_file(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()))
}

/// YAML as JSON (mapping keys as strings: `200:` and `'200':` alike; tags dropped).
fn to_json(value: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => json!(i),
            (_, Some(u), _) => json!(u),
            (_, _, f) => json!(f),
        },
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        Y::Number(n) => n.to_string(),
                        Y::Bool(b) => b.to_string(),
                        other => panic!("unsupported mapping key {other:?}"),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => to_json(tagged.value),
    }
}

// ------------------------------------------------------------------ the schema validator

/// Keywords that constrain nothing (annotations) or that the brief says to ignore (`format`).
const IGNORED: &[&str] = &[
    "description",
    "title",
    "summary",
    "format",
    "default",
    "example",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$comment",
];

/// Validates JSON values against the schemas of one document (for its `$ref`s).
pub(crate) struct Validator<'d> {
    doc: &'d Value,
}

impl<'d> Validator<'d> {
    pub(crate) fn new(doc: &'d Value) -> Self {
        Self { doc }
    }

    /// The value a local reference (`#/components/…`) points to.
    fn resolve(&self, reference: &str) -> Result<&'d Value, String> {
        let pointer = reference
            .strip_prefix('#')
            .filter(|p| p.starts_with("/components/"))
            .ok_or_else(|| format!("`{reference}`: only local references to #/components/… are supported"))?;
        self.doc
            .pointer(pointer)
            .ok_or_else(|| format!("`{reference}` does not resolve in the document"))
    }

    /// `node` itself, or what its `$ref` points to (responses, parameters, headers).
    fn follow<'v>(&self, node: &'v Value) -> Result<&'v Value, String>
    where
        'd: 'v,
    {
        match node.get("$ref").and_then(Value::as_str) {
            Some(reference) => self.resolve(reference),
            None => Ok(node),
        }
    }

    /// `Ok` when `value` matches `schema`; else the first mismatch, at its JSON path.
    pub(crate) fn validate(&self, schema: &Value, value: &Value) -> Result<(), String> {
        self.check(schema, value, "$")
    }

    fn check(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        let schema = match schema {
            Value::Bool(true) => return Ok(()),
            Value::Bool(false) => return Err(format!("{at}: no value is allowed here")),
            Value::Object(schema) => schema,
            other => return Err(format!("{at}: the schema is not an object or a boolean: {other}")),
        };
        for (keyword, arg) in schema {
            match keyword.as_str() {
                "$ref" => {
                    let reference = arg.as_str().ok_or_else(|| format!("{at}: `$ref` is not a string"))?;
                    self.check(self.resolve(reference)?, value, at)?;
                }
                "type" => {
                    let types: Vec<&str> = match arg {
                        Value::String(name) => vec![name.as_str()],
                        Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
                        other => return Err(format!("{at}: `type` is neither a name nor a list: {other}")),
                    };
                    if !types.iter().any(|t| has_type(value, t)) {
                        return Err(format!("{at}: expected {}, found {}", types.join(" or "), type_name(value)));
                    }
                }
                "enum" => {
                    let allowed = arg.as_array().ok_or_else(|| format!("{at}: `enum` is not a list"))?;
                    if !allowed.contains(value) {
                        return Err(format!("{at}: {value} is not one of {arg}"));
                    }
                }
                "const" => {
                    if arg != value {
                        return Err(format!("{at}: {value} is not the constant {arg}"));
                    }
                }
                "properties" => {
                    let declared = arg.as_object().ok_or_else(|| format!("{at}: `properties` is not an object"))?;
                    if let Value::Object(object) = value {
                        for (name, sub) in declared {
                            if let Some(member) = object.get(name) {
                                self.check(sub, member, &format!("{at}.{name}"))?;
                            }
                        }
                    }
                }
                "required" => {
                    let names = arg.as_array().ok_or_else(|| format!("{at}: `required` is not a list"))?;
                    if let Value::Object(object) = value {
                        for name in names.iter().filter_map(Value::as_str) {
                            if !object.contains_key(name) {
                                return Err(format!("{at}: the required property `{name}` is missing"));
                            }
                        }
                    }
                }
                "additionalProperties" => {
                    if let Value::Object(object) = value {
                        let declared = schema.get("properties").and_then(Value::as_object);
                        for (name, member) in object {
                            if declared.is_some_and(|d| d.contains_key(name)) {
                                continue;
                            }
                            if *arg == Value::Bool(false) {
                                return Err(format!(
                                    "{at}.{name}: the property is not in the schema (additionalProperties: false)"
                                ));
                            }
                            self.check(arg, member, &format!("{at}.{name}"))?;
                        }
                    }
                }
                "items" => {
                    if let Value::Array(items) = value {
                        for (i, item) in items.iter().enumerate() {
                            self.check(arg, item, &format!("{at}[{i}]"))?;
                        }
                    }
                }
                "allOf" => {
                    for sub in arg.as_array().ok_or_else(|| format!("{at}: `allOf` is not a list"))? {
                        self.check(sub, value, at)?;
                    }
                }
                "anyOf" => {
                    let subs = arg.as_array().ok_or_else(|| format!("{at}: `anyOf` is not a list"))?;
                    let errors: Vec<String> = subs.iter().filter_map(|s| self.check(s, value, at).err()).collect();
                    if errors.len() == subs.len() {
                        return Err(format!("{at}: matches none of anyOf: [{}]", errors.join("; ")));
                    }
                }
                "oneOf" => {
                    let subs = arg.as_array().ok_or_else(|| format!("{at}: `oneOf` is not a list"))?;
                    let errors: Vec<String> = subs.iter().filter_map(|s| self.check(s, value, at).err()).collect();
                    match subs.len() - errors.len() {
                        1 => {}
                        0 => return Err(format!("{at}: matches none of oneOf: [{}]", errors.join("; "))),
                        n => return Err(format!("{at}: matches {n} schemas of oneOf, not exactly one")),
                    }
                }
                "minimum" | "maximum" => {
                    let bound = arg.as_f64().ok_or_else(|| format!("{at}: `{keyword}` is not a number"))?;
                    if let Some(n) = value.as_f64() {
                        let ok = if keyword == "minimum" { n >= bound } else { n <= bound };
                        if !ok {
                            return Err(format!("{at}: {value} breaks `{keyword}: {arg}`"));
                        }
                    }
                }
                "minLength" | "maxLength" => {
                    let bound = arg.as_u64().ok_or_else(|| format!("{at}: `{keyword}` is not a whole number"))? as usize;
                    if let Value::String(text) = value {
                        let len = text.chars().count();
                        let ok = if keyword == "minLength" { len >= bound } else { len <= bound };
                        if !ok {
                            return Err(format!("{at}: a string of {len} characters breaks `{keyword}: {arg}`"));
                        }
                    }
                }
                "minItems" | "maxItems" => {
                    let bound = arg.as_u64().ok_or_else(|| format!("{at}: `{keyword}` is not a whole number"))? as usize;
                    if let Value::Array(items) = value {
                        let ok = if keyword == "minItems" {
                            items.len() >= bound
                        } else {
                            items.len() <= bound
                        };
                        if !ok {
                            return Err(format!("{at}: {} items break `{keyword}: {arg}`", items.len()));
                        }
                    }
                }
                k if IGNORED.contains(&k) || k.starts_with("x-") => {}
                other => return Err(format!("{at}: the schema keyword `{other}` is not supported by this validator")),
            }
        }
        Ok(())
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

// ------------------------------------------------------------------ the document and the routes

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "options", "head", "trace"];

/// `(METHOD, path)` of every `HttpApi` event in template.yaml, with the function (binary) serving it.
fn template_routes() -> BTreeMap<(String, String), String> {
    let template = read_yaml("template.yaml");
    let mut routes = BTreeMap::new();
    for resource in template["Resources"].as_mapping().expect("Resources").values() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap_or_default();
        for event in resource["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flat_map(|m| m.values())
            .filter(|e| e["Type"] == "HttpApi")
        {
            let method = event["Properties"]["Method"].as_str().expect("Method").to_uppercase();
            let path = event["Properties"]["Path"].as_str().expect("Path").to_owned();
            routes.insert((method, path), binary.to_owned());
        }
    }
    routes
}

/// One answer that conforms.
struct Checked {
    template: String,
    body: Value,
    problem_type: Option<String>,
}

/// The document, the template's routes, and what the test has exercised.
pub(crate) struct Conformance {
    doc: Value,
    routes: BTreeMap<(String, String), String>,
    /// `(METHOD, path template)` → the statuses seen.
    exercised: BTreeMap<(String, String), BTreeSet<u16>>,
    /// Every problem type answered.
    problem_types: BTreeSet<String>,
}

impl Conformance {
    pub(crate) fn load() -> Self {
        Self {
            doc: to_json(read_yaml("docs/openapi.yaml")),
            routes: template_routes(),
            exercised: BTreeMap::new(),
            problem_types: BTreeSet::new(),
        }
    }

    fn validator(&self) -> Validator<'_> {
        Validator::new(&self.doc)
    }

    /// Every `(METHOD, path)` the document lists.
    fn operations(&self) -> BTreeSet<(String, String)> {
        let paths = self.doc["paths"].as_object().expect("paths");
        paths
            .iter()
            .flat_map(|(path, item)| {
                METHODS
                    .iter()
                    .filter(|m| item.get(**m).is_some())
                    .map(|m| (m.to_uppercase(), path.clone()))
            })
            .collect()
    }

    /// The document's path template `path` matches (`/checkout/cs_1` → `/checkout/{session_id}`);
    /// a literal segment wins over a parameter.
    fn template_of(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut best: Option<(usize, &String)> = None;
        for template in self.doc["paths"].as_object()?.keys() {
            let parts: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
            if parts.len() != segments.len() {
                continue;
            }
            let mut literal = 0;
            let matches = parts.iter().zip(&segments).all(|(part, segment)| {
                if part.starts_with('{') && part.ends_with('}') {
                    !segment.is_empty()
                } else {
                    literal += 1;
                    part == segment
                }
            });
            if matches && best.is_none_or(|(l, _)| literal > l) {
                best = Some((literal, template));
            }
        }
        best.map(|(_, t)| t.clone())
    }

    /// Checks one answer against the document (and records it as exercised); its JSON body when
    /// it conforms.
    pub(crate) fn check(
        &mut self,
        method: &str,
        path: &str,
        request_body: Option<&str>,
        response: &Response<Body>,
    ) -> Result<Value, String> {
        let checked = self.inspect(method, path, request_body, response)?;
        if let Some(kind) = checked.problem_type {
            self.problem_types.insert(kind);
        }
        self.exercised
            .entry((method.to_uppercase(), checked.template))
            .or_default()
            .insert(response.status().as_u16());
        Ok(checked.body)
    }

    fn inspect(&self, method: &str, path: &str, request_body: Option<&str>, response: &Response<Body>) -> Result<Checked, String> {
        let template = self
            .template_of(path)
            .ok_or_else(|| format!("{method} {path}: no path of docs/openapi.yaml matches"))?;
        let op_key = method.to_lowercase();
        let validator = self.validator();
        let operation = self.doc["paths"][&template]
            .get(&op_key)
            .ok_or_else(|| format!("{method} {template} is not an operation of docs/openapi.yaml"))?;
        let status = response.status().as_u16();
        let responses = operation
            .get("responses")
            .ok_or_else(|| format!("{method} {template}: no responses"))?;
        let documented = responses
            .get(status.to_string())
            .or_else(|| responses.get("default"))
            .ok_or_else(|| format!("{method} {template}: status {status} is not documented"))?;
        let documented = validator.follow(documented)?;

        // Headers the functions send are documented on the response.
        let declared: BTreeSet<String> = documented
            .get("headers")
            .and_then(Value::as_object)
            .map(|h| h.keys().map(|k| k.to_ascii_lowercase()).collect())
            .unwrap_or_default();
        for header in ["retry-after", "cache-control"] {
            if response.headers().contains_key(header) && !declared.contains(header) {
                return Err(format!(
                    "{method} {template} {status}: sends `{header}`, which the document does not declare"
                ));
            }
        }
        for (name, spec) in documented.get("headers").and_then(Value::as_object).into_iter().flatten() {
            let spec = validator.follow(spec)?;
            if spec.get("required") == Some(&Value::Bool(true)) && !response.headers().contains_key(name.as_str()) {
                return Err(format!("{method} {template} {status}: the required header `{name}` is missing"));
            }
        }

        // The content type is one the response documents, and the body matches its schema.
        let bytes: &[u8] = response.body().as_ref();
        let content = documented.get("content").and_then(Value::as_object);
        let Some(content) = content.filter(|c| !c.is_empty()) else {
            if !bytes.is_empty() {
                return Err(format!("{method} {template} {status}: a body, but the document says none"));
            }
            return Ok(Checked {
                template,
                body: Value::Null,
                problem_type: None,
            });
        };
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
            .ok_or_else(|| format!("{method} {template} {status}: no content-type"))?;
        let media = content.get(&content_type).ok_or_else(|| {
            format!(
                "{method} {template} {status}: content type `{content_type}` is not documented (only {:?})",
                content.keys().collect::<Vec<_>>()
            )
        })?;
        let body: Value = serde_json::from_slice(bytes).map_err(|e| {
            format!(
                "{method} {template} {status}: the body is not JSON ({e}): {}",
                String::from_utf8_lossy(bytes)
            )
        })?;
        let schema = media
            .get("schema")
            .ok_or_else(|| format!("{method} {template} {status}: no schema for {content_type}"))?;
        validator
            .validate(schema, &body)
            .map_err(|e| format!("{method} {template} {status} ({content_type}): {e}\nbody: {body}"))?;

        let mut problem_type = None;
        if content_type == billing::edge::problem::PROBLEM_JSON {
            if body["status"] != json!(status) {
                return Err(format!(
                    "{method} {template} {status}: the problem's `status` is {}",
                    body["status"]
                ));
            }
            let kind = body["type"].as_str().unwrap_or_default().to_owned();
            if let Some(listed) = documented.get("x-problem-types").and_then(Value::as_array)
                && !listed.contains(&json!(kind))
            {
                return Err(format!(
                    "{method} {template} {status}: `{kind}` is not in the response's x-problem-types {listed:?}"
                ));
            }
            problem_type = Some(kind);
        }

        // A request that succeeded is one the document allows.
        if (200..300).contains(&status)
            && let Some(text) = request_body.filter(|t| !t.trim().is_empty())
            && let Ok(sent) = serde_json::from_str::<Value>(text)
        {
            let request_schema = match operation.get("requestBody") {
                Some(body) => validator.follow(body)?.pointer("/content/application~1json/schema"),
                None => None,
            };
            let request_schema =
                request_schema.ok_or_else(|| format!("{method} {template}: accepted a JSON body the document does not describe"))?;
            validator
                .validate(request_schema, &sent)
                .map_err(|e| format!("{method} {template}: an accepted request body does not match the document: {e}\nbody: {sent}"))?;
        }
        Ok(Checked {
            template,
            body,
            problem_type,
        })
    }

    /// Sends `req` to the function template.yaml routes it to (through the runtime's guard),
    /// checks the answer against the document: `(status, body)`.
    async fn call(&mut self, state: &billing::AppState, req: Request) -> (u16, Value) {
        let method = req.method().to_string();
        let path = req.uri().path().to_owned();
        let sent = match req.body() {
            Body::Text(text) => Some(text.clone()),
            Body::Binary(bytes) => String::from_utf8(bytes.clone()).ok(),
            _ => None,
        };
        let template = self
            .template_of(&path)
            .unwrap_or_else(|| panic!("{method} {path}: not in the document"));
        let function = self
            .routes
            .get(&(method.clone(), template.clone()))
            .unwrap_or_else(|| panic!("{method} {template}: no HttpApi event in template.yaml"))
            .clone();
        let response = send(state, &function, req).await;
        let body = self
            .check(&method, &path, sent.as_deref(), &response)
            .unwrap_or_else(|e| panic!("{e}"));
        (response.status().as_u16(), body)
    }

    /// [`Conformance::call`] expecting `status` (and, for a problem, `kind`).
    async fn expect(&mut self, state: &billing::AppState, req: Request, status: u16, kind: Option<&str>) -> Value {
        let what = format!("{} {}", req.method(), req.uri());
        let (got, body) = Box::pin(self.call(state, req)).await;
        assert_eq!(got, status, "{what}: {body}");
        if let Some(kind) = kind {
            assert_eq!(body["type"].as_str(), Some(kind), "{what}: {body}");
        }
        body
    }
}

/// The handlers' futures are large: each is boxed, so the test's own future stays small.
async fn send(state: &billing::AppState, function: &str, req: Request) -> Response<Body> {
    use billing::edge::runtime::guarded;
    match function {
        "checkout" => Box::pin(guarded(|r| checkout::handler::handle(state, r))(req)).await,
        "portal" => Box::pin(guarded(|r| portal::handler::handle(state, r))(req)).await,
        "subscription" => Box::pin(guarded(|r| subscription::handler::handle(state, r))(req)).await,
        "usage" => Box::pin(guarded(|r| usage::handler::handle(state, r))(req)).await,
        "entitlements" => Box::pin(guarded(|r| entitlements::handler::handle(state, r))(req)).await,
        "seats" => Box::pin(guarded(|r| seats::handler::handle(state, r))(req)).await,
        "webhook" => Box::pin(guarded(|r| webhook::handler::handle(state, r))(req)).await,
        "admin" => Box::pin(guarded(|r| admin::handler::handle(state, r))(req)).await,
        other => panic!("no HTTP function `{other}` in this test"),
    }
    .unwrap_or_else(|never| match never {})
}

// ------------------------------------------------------------------ requests

/// `events/<name>` as `user_123`, edited.
fn event(name: &str, edit: impl FnOnce(&mut Value)) -> Request {
    testkit::event_with(name, edit)
}

/// `events/<name>` with another JSON body.
fn with_body(name: &str, body: Value) -> Request {
    event(name, |e| e["body"] = body.to_string().into())
}

/// `events/<name>` with `Idempotency-Key: key` and, when given, another body.
fn keyed(name: &str, key: &str, body: Option<Value>) -> Request {
    event(name, |e| {
        e["headers"]["idempotency-key"] = key.into();
        if let Some(body) = body {
            e["body"] = body.to_string().into();
        }
    })
}

/// `events/<name>` without the authorizer's claims (and no `Authorization` header).
fn anonymous(name: &str) -> Request {
    event(name, |e| {
        e["requestContext"].as_object_mut().unwrap().remove("authorizer");
    })
}

/// `events/<name>` at another path.
fn at_path(name: &str, path: &str) -> Request {
    event(name, |e| {
        e["rawPath"] = path.into();
        e["requestContext"]["http"]["path"] = path.into();
    })
}

/// `events/<name>` (a support route) for `user`: its path and path parameter.
fn for_user(name: &str, user: &str) -> Request {
    event(name, |e| {
        let path = e["rawPath"].as_str().unwrap().replace("user_123", user);
        e["rawPath"] = path.clone().into();
        e["requestContext"]["http"]["path"] = path.into();
        e["pathParameters"]["user_id"] = user.into();
    })
}

/// `events/admin-grant.json` with another body.
fn grant(body: Value) -> Request {
    with_body("admin-grant.json", body)
}

/// A coupon (`form`) and an active promotion code `code` for it, made in the stack's emulator.
async fn promotion_code(stack: &Stack, code: &str, form: &[(&str, &str)]) {
    let post = |path: &str, form: Vec<(String, String)>| {
        reqwest::Client::new()
            .post(format!("http://{}{path}", stack.emulator.addr))
            .bearer_auth(testkit::LOCAL_STRIPE_KEY)
            .form(&form)
            .send()
    };
    let owned = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<Vec<_>>();
    let coupon: Value = post("/v1/coupons", owned(form)).await.unwrap().json().await.unwrap();
    let coupon = coupon["id"].as_str().unwrap_or_else(|| panic!("a coupon: {coupon}"));
    let promo = owned(&[("promotion[type]", "coupon"), ("promotion[coupon]", coupon), ("code", code)]);
    let promo: Value = post("/v1/promotion_codes", promo).await.unwrap().json().await.unwrap();
    assert_eq!(promo["code"], code, "a promotion code: {promo}");
}

/// `events/invoices-get.json` with a query string.
fn invoices_query(query: &[(&str, &str)]) -> Request {
    event("invoices-get.json", |e| {
        e["rawQueryString"] = query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&").into();
        e["queryStringParameters"] = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    })
}

/// A Stripe event `payload` as API Gateway delivers it, signed with `secret` now.
fn webhook(payload: &str, secret: &str) -> Request {
    let signature = billing::edge::signature::sign_header(&[secret], billing::now_epoch(), payload.as_bytes());
    billing::edge::runtime::request_from_value(billing::edge::local_events::api_gateway_event(payload, &signature)).unwrap()
}

// ------------------------------------------------------------------ the conformance test

#[tokio::test]
async fn every_route_answers_as_the_document_says() {
    let mut api = Conformance::load();
    // The per-user rate limit has a scenario of its own below.
    let stack = Stack::with_config("oa-main", vec![], |c| c.rate_limit_per_minute = 1000).await;
    let s = &stack.state;

    // GET /plans: public; the guard's 400 applies to every route.
    api.expect(s, event("plans-get-anonymous.json", |_| {}), 200, None).await;
    api.expect(s, event("plans-get.json", |_| {}), 200, None).await;
    let control = event("plans-get-anonymous.json", |e| e["headers"]["x-note"] = "a\u{1}b".into());
    api.expect(s, control, 400, Some("/errors/invalid-header")).await;

    // A user without anything yet.
    api.expect(s, event("subscription-get.json", |_| {}), 200, None).await;
    api.expect(s, anonymous("subscription-get.json"), 401, Some("/errors/unauthorized"))
        .await;
    let token = testkit::token(&s.config, "user_123", Some("ada@example.com"));
    let bearer = event("subscription-get.json", |e| {
        e["requestContext"].as_object_mut().unwrap().remove("authorizer");
        e["headers"]["authorization"] = format!("Bearer {token}").into();
    });
    api.expect(s, bearer, 200, None).await;
    let forged = event("subscription-get.json", |e| {
        e["requestContext"].as_object_mut().unwrap().remove("authorizer");
        e["headers"]["authorization"] = "Bearer not.a.token".into();
    });
    api.expect(s, forged, 401, Some("/errors/unauthorized")).await;

    api.expect(s, event("entitlements-get.json", |_| {}), 200, None).await;
    api.expect(s, anonymous("entitlements-get.json"), 401, Some("/errors/unauthorized"))
        .await;
    let decision = api.expect(s, event("entitlements-feature.json", |_| {}), 200, None).await;
    assert_eq!(decision["allowed"], false, "{decision}");
    api.expect(
        s,
        at_path("entitlements-feature.json", "/entitlements/NOT_A_KEY"),
        400,
        Some("/errors/invalid-feature"),
    )
    .await;
    api.expect(s, anonymous("entitlements-feature.json"), 401, Some("/errors/unauthorized"))
        .await;

    // Seats: an organization without a subscription has none to give.
    let listed = api.expect(s, event("seats-list.json", |_| {}), 200, None).await;
    assert_eq!(listed, json!({"quantity": 0, "assigned": [], "available": 0}));
    let personal = event("seats-list.json", |e| {
        e["requestContext"]["authorizer"]["jwt"]["claims"]
            .as_object_mut()
            .unwrap()
            .remove("org_id");
    });
    api.expect(s, personal, 400, Some("/errors/no-organization")).await;
    api.expect(s, anonymous("seats-list.json"), 401, Some("/errors/unauthorized")).await;
    api.expect(s, event("seats-assign.json", |_| {}), 409, Some("/errors/no-seat-available"))
        .await;
    api.expect(
        s,
        event("seats-assign-member.json", |_| {}),
        403,
        Some("/errors/org-admin-required"),
    )
    .await;
    let reserved = event("seats-assign.json", |e| {
        e["rawPath"] = "/org/seats/org:x".into();
        e["requestContext"]["http"]["path"] = "/org/seats/org:x".into();
        e["pathParameters"]["user_id"] = "org:x".into();
    });
    api.expect(s, reserved, 400, Some("/errors/invalid-user-id")).await;
    api.expect(s, event("seats-release.json", |_| {}), 204, None).await;

    api.expect(s, event("usage-get.json", |_| {}), 200, None).await;
    api.expect(s, anonymous("usage-get.json"), 401, Some("/errors/unauthorized")).await;
    for req in [event("usage-record.json", |_| {}), anonymous("usage-record.json")] {
        api.expect(s, req, 403, Some("/errors/trusted-caller-required")).await;
    }

    // Support routes (IAM) for a user without anything yet.
    let lookup = api.expect(s, event("admin-get-user.json", |_| {}), 200, None).await;
    assert_eq!(lookup["links"]["customer_id"], Value::Null, "{lookup}");
    api.expect(s, event("admin-get-user-with-jwt.json", |_| {}), 403, Some("/errors/iam-required"))
        .await;
    api.expect(s, anonymous("admin-resync.json"), 403, Some("/errors/iam-required"))
        .await;
    api.expect(s, for_user("admin-get-user.json", "org:acme"), 400, Some("/errors/invalid-user-id"))
        .await;
    api.expect(s, event("admin-get-org.json", |_| {}), 200, None).await;
    let bad_org = event("admin-get-org.json", |e| {
        e["rawPath"] = "/admin/orgs/a%23b".into();
        e["requestContext"]["http"]["path"] = "/admin/orgs/a%23b".into();
        e["pathParameters"]["org_id"] = "a%23b".into();
    });
    api.expect(s, bad_org, 400, Some("/errors/invalid-org-id")).await;
    api.expect(s, event("admin-resync.json", |_| {}), 409, Some("/errors/no-customer"))
        .await;
    let past = json!({"feature": "api_access", "until": billing::now_epoch() - 1, "reason": "Ticket 1"});
    api.expect(s, grant(past), 400, Some("/errors/invalid-grant")).await;
    api.expect(
        s,
        grant(json!({"feature": "api_access", "reason": "Ticket 1"})),
        400,
        Some("/errors/missing-field"),
    )
    .await;
    api.expect(s, event("admin-revoke-grant.json", |_| {}), 204, None).await;

    api.expect(s, event("portal-create.json", |_| {}), 409, Some("/errors/no-customer"))
        .await;
    api.expect(
        s,
        with_body("portal-create.json", json!({"flow": "delete_everything"})),
        400,
        Some("/errors/invalid-field"),
    )
    .await;
    api.expect(
        s,
        with_body("portal-create.json", json!({"return_url": "https://evil.example.com/"})),
        400,
        Some("/errors/invalid-redirect"),
    )
    .await;
    api.expect(s, anonymous("portal-create.json"), 401, Some("/errors/unauthorized"))
        .await;

    api.expect(s, event("customer-address-update.json", |_| {}), 409, Some("/errors/no-customer"))
        .await;
    api.expect(
        s,
        with_body("customer-address-update.json", json!({"line1": "x", "country": "XX"})),
        400,
        Some("/errors/invalid-address"),
    )
    .await;
    let plain = event("customer-address-update.json", |e| {
        e["headers"]["content-type"] = "text/plain".into()
    });
    api.expect(s, plain, 415, Some("/errors/unsupported-media-type")).await;
    let large = event("customer-address-update.json", |e| e["body"] = " ".repeat(20 * 1024).into());
    api.expect(s, large, 413, Some("/errors/body-too-large")).await;
    api.expect(s, anonymous("customer-address-update.json"), 401, Some("/errors/unauthorized"))
        .await;

    for name in [
        "subscription-cancel.json",
        "subscription-resume.json",
        "subscription-change.json",
        "subscription-pause.json",
        "subscription-discount.json",
    ] {
        api.expect(s, event(name, |_| {}), 409, Some("/errors/no-subscription")).await;
        api.expect(s, anonymous(name), 401, Some("/errors/unauthorized")).await;
        api.expect(s, with_body(name, json!({"surprise": 1})), 400, Some("/errors/unknown-field"))
            .await;
    }
    api.expect(
        s,
        with_body("subscription-cancel.json", json!({"feedback": "meh"})),
        400,
        Some("/errors/invalid-field"),
    )
    .await;
    api.expect(
        s,
        with_body("subscription-change.json", json!({})),
        400,
        Some("/errors/missing-field"),
    )
    .await;
    api.expect(
        s,
        with_body("subscription-change.json", json!({"plan": "gold"})),
        400,
        Some("/errors/unknown-plan"),
    )
    .await;
    api.expect(
        s,
        with_body("subscription-change.json", json!({"plan": "lifetime"})),
        400,
        Some("/errors/one-time-plan"),
    )
    .await;
    api.expect(
        s,
        with_body("subscription-pause.json", json!({"resumes_at": billing::now_epoch() - 60})),
        400,
        Some("/errors/invalid-field"),
    )
    .await;
    api.expect(
        s,
        with_body("subscription-discount.json", json!({})),
        400,
        Some("/errors/missing-field"),
    )
    .await;
    let bad_key = keyed("subscription-resume.json", &"k".repeat(201), None);
    api.expect(s, bad_key, 400, Some("/errors/invalid-header")).await;

    let empty = api.expect(s, event("invoices-get.json", |_| {}), 200, None).await;
    assert_eq!(empty, json!({"invoices": [], "has_more": false}));
    api.expect(s, invoices_query(&[("limit", "0")]), 400, Some("/errors/invalid-field"))
        .await;
    api.expect(s, invoices_query(&[("page", "2")]), 400, Some("/errors/unknown-field"))
        .await;
    api.expect(s, anonymous("invoices-get.json"), 401, Some("/errors/unauthorized"))
        .await;

    // Checkout.
    api.expect(
        s,
        with_body("checkout-create.json", json!({"plan": "gold"})),
        400,
        Some("/errors/unknown-plan"),
    )
    .await;
    api.expect(
        s,
        with_body("checkout-create.json", json!({"plan": "pro", "interval": "month", "extra": 1})),
        400,
        Some("/errors/unknown-field"),
    )
    .await;
    api.expect(
        s,
        with_body("checkout-create.json", json!({"interval": "month"})),
        400,
        Some("/errors/missing-field"),
    )
    .await;
    api.expect(
        s,
        with_body("checkout-create.json", json!({"plan": "pro", "interval": "month", "amount": 5})),
        400,
        Some("/errors/amount-not-allowed"),
    )
    .await;
    api.expect(
        s,
        event("checkout-create-unauthenticated.json", |_| {}),
        401,
        Some("/errors/unauthorized"),
    )
    .await;
    api.expect(
        s,
        at_path("checkout-get.json", "/checkout/not_a_session"),
        404,
        Some("/errors/not-found"),
    )
    .await;
    api.expect(s, anonymous("checkout-get.json"), 401, Some("/errors/unauthorized"))
        .await;

    let created = api.expect(s, keyed("checkout-create.json", "oa-checkout-1", None), 201, None).await;
    let session = created["id"].as_str().unwrap().to_owned();
    api.expect(s, event("checkout-create-custom-amount.json", |_| {}), 201, None).await;
    let open = api
        .expect(s, at_path("checkout-get.json", &format!("/checkout/{session}")), 200, None)
        .await;
    assert_eq!(open["subscription"], Value::Null, "not paid yet: {open}");
    pay(&stack, &session, "4242424242424242").await;
    let synced = api
        .expect(s, at_path("checkout-get.json", &format!("/checkout/{session}")), 200, None)
        .await;
    assert_eq!(synced["subscription"]["plan"], "pro", "{synced}");
    let subscription = synced["subscription"]["id"].as_str().unwrap().to_owned();
    let again = api
        .expect(s, event("checkout-create.json", |_| {}), 409, Some("/errors/already-subscribed"))
        .await;
    assert_eq!(again["portal"], "/portal");

    // A subscriber.
    api.expect(s, event("portal-create.json", |_| {}), 200, None).await;
    api.expect(s, keyed("customer-address-update.json", "oa-address-1", None), 200, None)
        .await;
    let listed = api.expect(s, event("subscription-get.json", |_| {}), 200, None).await;
    assert_eq!(listed["subscriptions"][0]["id"], subscription.as_str());
    api.expect(s, event("entitlements-get.json", |_| {}), 200, None).await;
    let decision = api.expect(s, event("entitlements-feature.json", |_| {}), 200, None).await;
    assert_eq!(decision["allowed"], true, "{decision}");
    api.expect(s, event("usage-get.json", |_| {}), 200, None).await;

    // Support: a grant for a month, the lookup, its removal, a resync.
    let until = billing::now_epoch() + 30 * 86_400;
    let granted = api
        .expect(
            s,
            grant(json!({"feature": "api_access", "until": until, "reason": "Ticket 4182: a month on us"})),
            201,
            None,
        )
        .await;
    assert_eq!((granted["until"].as_i64(), &granted["active"]), (Some(until), &json!(true)));
    let lookup = api.expect(s, event("admin-get-user.json", |_| {}), 200, None).await;
    assert_eq!(lookup["subscriptions"][0]["id"], subscription.as_str(), "{lookup}");
    assert_eq!(lookup["grants"][0]["feature"], "api_access", "{lookup}");
    assert_eq!(lookup["access"]["decisions"]["api_access"]["allowed"], true, "{lookup}");
    let audited = lookup["audit"]
        .as_array()
        .unwrap()
        .iter()
        .any(|row| row["event_type"] == "support.grant" && row["actor"] == "arn:aws:sts::123456789012:assumed-role/support/ada");
    assert!(audited, "the grant is audited with the caller's ARN: {lookup}");
    api.expect(s, event("admin-revoke-grant.json", |_| {}), 204, None).await;
    let resynced = api.expect(s, event("admin-resync.json", |_| {}), 200, None).await;
    assert_eq!(resynced["failed"], 0, "{resynced}");

    // The direct invocation (not HTTP) against its x-direct-invocations schemas.
    let invocation = api.doc["x-direct-invocations"]["usage-record"].clone();
    for (payload, allowed) in [
        (
            json!({"user_id": "user_123", "feature": "api_calls", "quantity": 2, "idempotency_key": "oa-usage-1"}),
            true,
        ),
        (json!({"user_id": "user_123", "feature": "api_calls", "quantity": 0}), false),
    ] {
        if allowed {
            api.validator().validate(&invocation["payload"], &payload).unwrap();
        }
        let answer = Box::pin(usage::direct::invoke(s, payload)).await;
        api.validator()
            .validate(&invocation["result"], &answer)
            .unwrap_or_else(|e| panic!("direct usage answer: {e}\n{answer}"));
        assert_eq!(answer["allowed"], allowed, "{answer}");
    }

    // Changes, previews, cancel and resume.
    let preview = api
        .expect(
            s,
            with_body(
                "subscription-change-preview.json",
                json!({"plan": "starter", "preview": true, "proration": "always_invoice"}),
            ),
            200,
            None,
        )
        .await;
    assert!(preview.get("amount_due").is_some(), "a preview: {preview}");
    let changed = api
        .expect(
            s,
            keyed("subscription-change.json", "oa-change-1", Some(json!({"quantity": 2}))),
            200,
            None,
        )
        .await;
    assert_eq!(changed["subscription"]["quantity"], 2, "{changed}");
    api.expect(
        s,
        with_body("subscription-change.json", json!({"quantity": 2})),
        400,
        Some("/errors/no-change"),
    )
    .await;
    api.expect(
        s,
        with_body("subscription-change.json", json!({"subscription": "sub_nope", "quantity": 3})),
        404,
        Some("/errors/not-found"),
    )
    .await;
    api.expect(s, keyed("subscription-cancel.json", "oa-cancel-1", None), 200, None)
        .await;
    api.expect(
        s,
        keyed("subscription-resume.json", "oa-cancel-1", None),
        409,
        Some("/errors/idempotency-key-reused"),
    )
    .await;
    api.expect(s, event("subscription-resume.json", |_| {}), 200, None).await;
    api.expect(s, event("subscription-resume.json", |_| {}), 409, Some("/errors/nothing-to-resume"))
        .await;
    // A promotion code on the live subscription: applied once, never stacked.
    promotion_code(&stack, "OATWENTY", &[("percent_off", "20"), ("duration", "forever")]).await;
    promotion_code(
        &stack,
        "OAFIVE",
        &[("amount_off", "500"), ("currency", "usd"), ("duration", "once")],
    )
    .await;
    let code = |code: &str| with_body("subscription-discount.json", json!({"promotion_code": code}));
    let discounted = api.expect(s, code("OATWENTY"), 200, None).await;
    assert_eq!(discounted["applied"], true, "{discounted}");
    assert_eq!(discounted["promotion_code"]["coupon"]["duration"], "forever", "{discounted}");
    let again = api.expect(s, code("OATWENTY"), 200, None).await;
    assert_eq!(again["applied"], false, "the same code again changes nothing: {again}");
    api.expect(s, code("OAFIVE"), 409, Some("/errors/discount-exists")).await;
    // Pro bills metered usage at its renewal, which a paused renewal would void: no pause (the
    // pause of a plan without metered usage is in retention.rs); a code that does not exist.
    api.expect(s, event("subscription-pause.json", |_| {}), 409, Some("/errors/not-pausable"))
        .await;
    api.expect(
        s,
        with_body("subscription-discount.json", json!({"promotion_code": "NOSUCHCODE"})),
        400,
        Some("/errors/invalid-promotion-code"),
    )
    .await;
    api.expect(s, with_body("subscription-cancel.json", json!({})), 200, None).await;
    api.expect(s, event("subscription-pause.json", |_| {}), 409, Some("/errors/cancel-pending"))
        .await;
    api.expect(
        s,
        with_body("subscription-change-preview.json", json!({"plan": "starter", "preview": true})),
        409,
        Some("/errors/cancel-pending"),
    )
    .await;
    let invoices = api.expect(s, event("invoices-get.json", |_| {}), 200, None).await;
    assert!(!invoices["invoices"].as_array().unwrap().is_empty(), "{invoices}");

    // The per-user rate limit, and the webhook, on a stack of their own.
    let other = Stack::with_config("oa-rate", vec![], |c| c.rate_limit_per_minute = 1).await;
    let o = &other.state;
    api.expect(o, event("invoices-get.json", |_| {}), 200, None).await;
    api.expect(o, event("invoices-get.json", |_| {}), 429, Some("/errors/rate-limited"))
        .await;
    api.expect(o, event("portal-create.json", |_| {}), 429, Some("/errors/rate-limited"))
        .await;
    let payload = testkit::event_text("stripe/checkout.session.completed.json");
    let received = api.expect(o, webhook(&payload, testkit::LOCAL_WEBHOOK_SECRET), 200, None).await;
    assert_eq!(received["received"], true);
    api.expect(o, webhook(&payload, "whsec_not_ours"), 400, Some("/errors/invalid-signature"))
        .await;
    api.expect(
        o,
        webhook("{\"id\": 1}", testkit::LOCAL_WEBHOOK_SECRET),
        400,
        Some("/errors/malformed-event"),
    )
    .await;
    let mut live: Value = serde_json::from_str(&payload).unwrap();
    live["livemode"] = true.into();
    api.expect(
        o,
        webhook(&live.to_string(), testkit::LOCAL_WEBHOOK_SECRET),
        400,
        Some("/errors/livemode-mismatch"),
    )
    .await;

    // The store down: 503 with Retry-After, never a guess.
    let down = testkit::state(
        testkit::config("oa-down", "http://127.0.0.1:9", None),
        billing::Needs {
            stripe: true,
            webhook_secrets: true,
            redirects: true,
        },
    )
    .unwrap();
    for name in [
        "usage-get.json",
        "entitlements-get.json",
        "entitlements-feature.json",
        "subscription-get.json",
        "admin-get-user.json",
    ] {
        api.expect(&down, event(name, |_| {}), 503, Some("/errors/unavailable")).await;
    }

    // Every operation of the document was exercised (the document lists no route the code does
    // not answer).
    let missing: Vec<_> = api.operations().into_iter().filter(|op| !api.exercised.contains_key(op)).collect();
    assert!(missing.is_empty(), "operations of docs/openapi.yaml never exercised: {missing:?}");
    for ((method, path), statuses) in &api.exercised {
        println!("{method} {path}: {statuses:?}");
    }
    println!("problem types answered: {:?}", api.problem_types);
}

#[test]
fn the_document_lists_exactly_the_templates_http_routes() {
    let api = Conformance::load();
    let template: BTreeSet<(String, String)> = api.routes.keys().cloned().collect();
    let documented = api.operations();
    let undocumented: Vec<_> = template.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "HttpApi routes of template.yaml missing from docs/openapi.yaml: {undocumented:?}"
    );
    let extra: Vec<_> = documented.difference(&template).collect();
    assert!(
        extra.is_empty(),
        "operations of docs/openapi.yaml that template.yaml does not route: {extra:?}"
    );
}

/// Every `"/errors/…"` string literal in the `.rs` files under `dir`.
fn problem_types_in(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            problem_types_in(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for (at, _) in text.match_indices("\"/errors/") {
                let rest = &text[at + 1..];
                let end = rest.find('"').unwrap_or(rest.len());
                let kind = &rest[..end];
                if kind.len() > "/errors/".len()
                    && kind
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'/')
                {
                    found.insert(kind.to_owned());
                }
            }
        }
    }
}

/// Every `x-problem-types` list anywhere in `node`.
fn listed_problem_types(node: &Value, found: &mut BTreeSet<String>) {
    match node {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "x-problem-types" {
                    found.extend(value.as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()));
                } else {
                    listed_problem_types(value, found);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| listed_problem_types(i, found)),
        _ => {}
    }
}

#[test]
fn problem_type_lists_every_error_code_of_the_code() {
    let api = Conformance::load();
    let mut in_code = BTreeSet::new();
    problem_types_in(&repo_file("shared/src"), &mut in_code);
    problem_types_in(&repo_file("functions"), &mut in_code);
    assert!(in_code.len() > 30, "the scan found the codes: {in_code:?}");
    let enumerated: BTreeSet<String> = api.doc["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]
        .as_array()
        .expect("Problem.type enum")
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        enumerated.difference(&in_code).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "Problem.type lists codes the code never answers"
    );
    assert_eq!(
        in_code.difference(&enumerated).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "codes of the code missing from Problem.type"
    );
    // Each code is answered by some route (x-problem-types) or is the library's own.
    let mut listed = BTreeSet::new();
    listed_problem_types(&api.doc["paths"], &mut listed);
    listed_problem_types(&api.doc["components"]["responses"], &mut listed);
    let library: BTreeSet<String> = api.doc["x-library-problem-types"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    for kind in listed.iter().chain(&library) {
        assert!(enumerated.contains(kind), "`{kind}` is listed but not in Problem.type");
    }
    let nowhere: Vec<_> = enumerated
        .iter()
        .filter(|k| !listed.contains(*k) && !library.contains(*k))
        .filter(|k| !["/errors/method-not-allowed"].contains(&k.as_str()))
        .collect();
    assert!(
        nowhere.is_empty(),
        "codes neither in any response's x-problem-types nor the library's: {nowhere:?}"
    );
}

// ------------------------------------------------------------------ the check can fail

fn response(status: u16, content_type: &str, body: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Body::Text(body.to_string()))
        .unwrap()
}

fn subscription_view() -> Value {
    json!({
        "id": "sub_1", "plan": "pro", "interval": "month", "status": "active", "quantity": 1,
        "current_period_end": 1_800_000_000, "cancel_at_period_end": false, "cancel_at": null,
        "trial_end": null, "days_until_renewal": 3, "scheduled_change": null,
        "pause_collection": null, "unpaid_period": false
    })
}

#[test]
fn the_check_rejects_answers_the_document_does_not_allow() {
    let mut api = Conformance::load();
    let json_ct = "application/json";
    let ok = response(200, json_ct, json!({"subscriptions": [subscription_view()]}));
    assert!(
        api.check("GET", "/subscription", None, &ok).is_ok(),
        "{:?}",
        api.check("GET", "/subscription", None, &ok)
    );

    let mut missing = subscription_view();
    missing.as_object_mut().unwrap().remove("status");
    let err = api
        .check(
            "GET",
            "/subscription",
            None,
            &response(200, json_ct, json!({"subscriptions": [missing]})),
        )
        .unwrap_err();
    assert!(err.contains("$.subscriptions[0]") && err.contains("`status` is missing"), "{err}");

    let mut wrong = subscription_view();
    wrong["quantity"] = "one".into();
    let err = api
        .check(
            "GET",
            "/subscription",
            None,
            &response(200, json_ct, json!({"subscriptions": [wrong]})),
        )
        .unwrap_err();
    assert!(err.contains("$.subscriptions[0].quantity: expected integer, found string"), "{err}");

    let mut extra = subscription_view();
    extra["secret"] = "sk_live".into();
    let err = api
        .check(
            "GET",
            "/subscription",
            None,
            &response(200, json_ct, json!({"subscriptions": [extra]})),
        )
        .unwrap_err();
    assert!(err.contains("$.subscriptions[0].secret"), "{err}");

    let mut bad_enum = subscription_view();
    bad_enum["interval"] = "fortnight".into();
    let err = api
        .check(
            "GET",
            "/subscription",
            None,
            &response(200, json_ct, json!({"subscriptions": [bad_enum]})),
        )
        .unwrap_err();
    assert!(err.contains("$.subscriptions[0].interval"), "{err}");

    let err = api
        .check("GET", "/subscription", None, &response(418, json_ct, json!({})))
        .unwrap_err();
    assert!(err.contains("status 418 is not documented"), "{err}");
    let err = api
        .check(
            "GET",
            "/subscription",
            None,
            &response(200, "text/html", json!({"subscriptions": []})),
        )
        .unwrap_err();
    assert!(err.contains("content type `text/html`"), "{err}");
    let err = api.check("GET", "/nope", None, &response(200, json_ct, json!({}))).unwrap_err();
    assert!(err.contains("no path"), "{err}");
    let err = api.check("DELETE", "/plans", None, &response(405, json_ct, json!({}))).unwrap_err();
    assert!(err.contains("not an operation"), "{err}");

    let problem = |kind: &str, status: u16| json!({"type": kind, "title": "t", "status": status, "detail": "d"});
    let ct = billing::edge::problem::PROBLEM_JSON;
    assert!(
        api.check("POST", "/portal", None, &response(409, ct, problem("/errors/no-customer", 409)))
            .is_ok()
    );
    let err = api
        .check("POST", "/portal", None, &response(409, ct, problem("/errors/no-such-code", 409)))
        .unwrap_err();
    assert!(err.contains("$.type"), "{err}");
    let err = api
        .check(
            "POST",
            "/portal",
            None,
            &response(409, ct, problem("/errors/already-subscribed", 409)),
        )
        .unwrap_err();
    assert!(err.contains("x-problem-types"), "{err}");
    let err = api
        .check("POST", "/portal", None, &response(409, ct, problem("/errors/no-customer", 400)))
        .unwrap_err();
    assert!(err.contains("`status`"), "{err}");
    let mut retry = response(409, ct, problem("/errors/no-customer", 409));
    retry.headers_mut().insert("retry-after", "5".parse().unwrap());
    let err = api.check("POST", "/portal", None, &retry).unwrap_err();
    assert!(err.contains("retry-after"), "{err}");

    // An accepted request body the document does not allow.
    let created = response(201, json_ct, json!({"id": "cs_1", "url": "https://checkout.example/cs_1"}));
    assert!(api.check("POST", "/checkout", Some(r#"{"plan": "pro"}"#), &created).is_ok());
    let err = api
        .check("POST", "/checkout", Some(r#"{"plan": "pro", "colour": "red"}"#), &created)
        .unwrap_err();
    assert!(err.contains("$.colour"), "{err}");
}

#[test]
fn the_validator_handles_each_keyword_of_its_subset() {
    let doc = json!({"components": {"schemas": {"Id": {"type": "string", "minLength": 2}}}});
    let v = Validator::new(&doc);
    let id = json!({"$ref": "#/components/schemas/Id"});
    assert!(v.validate(&id, &json!("ab")).is_ok());
    assert!(v.validate(&id, &json!("a")).unwrap_err().contains("minLength"));
    assert!(v.validate(&json!({"$ref": "#/components/schemas/Nope"}), &json!(1)).is_err());
    assert!(v.validate(&json!({"$ref": "other.yaml#/x"}), &json!(1)).is_err());
    let nullable = json!({"type": ["integer", "null"], "minimum": 0});
    assert!(v.validate(&nullable, &json!(null)).is_ok());
    assert!(v.validate(&nullable, &json!(3)).is_ok());
    assert!(v.validate(&nullable, &json!(-1)).unwrap_err().contains("minimum"));
    assert!(
        v.validate(&nullable, &json!(1.5))
            .unwrap_err()
            .contains("expected integer or null, found number")
    );
    assert!(v.validate(&json!({"const": true}), &json!(false)).is_err());
    assert!(v.validate(&json!({"enum": ["a", null]}), &json!(null)).is_ok());
    let map = json!({"type": "object", "additionalProperties": {"type": "integer"}});
    assert!(v.validate(&map, &json!({"a": 1, "b": 2})).is_ok());
    assert_eq!(
        v.validate(&map, &json!({"a": 1, "b": "2"})).unwrap_err(),
        "$.b: expected integer, found string"
    );
    let items = json!({"type": "array", "items": {"type": "object", "required": ["x"]}, "maxItems": 2});
    assert!(v.validate(&items, &json!([{"x": 1}, {}])).unwrap_err().starts_with("$[1]:"));
    assert!(
        v.validate(&items, &json!([{"x": 1}, {"x": 1}, {"x": 1}]))
            .unwrap_err()
            .contains("maxItems")
    );
    let one = json!({"oneOf": [{"type": "integer"}, {"type": "number"}]});
    assert!(v.validate(&one, &json!(1.5)).is_ok());
    assert!(v.validate(&one, &json!(1)).unwrap_err().contains("exactly one"), "both match");
    assert!(v.validate(&one, &json!("x")).unwrap_err().contains("none of oneOf"));
    let any = json!({"anyOf": [{"type": "integer"}, {"type": "number"}]});
    assert!(v.validate(&any, &json!(1)).is_ok());
    assert!(v.validate(&any, &json!("x")).is_err());
    let all = json!({"allOf": [{"type": "string"}, {"maxLength": 1}]});
    assert!(v.validate(&all, &json!("xy")).unwrap_err().contains("maxLength"));
    assert!(
        v.validate(&json!({"type": "string", "format": "uri"}), &json!("not a uri")).is_ok(),
        "format is ignored"
    );
    assert!(
        v.validate(&json!({"type": "string", "pattern": "^a$"}), &json!("b"))
            .unwrap_err()
            .contains("not supported"),
        "an unknown keyword fails rather than passing unchecked"
    );
}
