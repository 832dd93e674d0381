//! The audit's way into the stack: the API as a user calls it (through `cargo lambda watch`),
//! the functions' invoke endpoint (direct invocations, the scheduled functions), the Stripe
//! emulator's API and its `/_emulator` controls, and the table.

use std::time::{Duration, Instant};

use billing::adapters::store::Store;
use billing::domain::records::UserItems;
use serde_json::Value;

/// Where the stack listens (`dev/audit.sh` passes them).
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub api: String,
    pub stripe: String,
    pub dynamodb: String,
    pub table: String,
}

impl Endpoints {
    /// From `AUDIT_API`, `AUDIT_STRIPE`, `AUDIT_DYNAMODB`, `AUDIT_TABLE`.
    pub fn from_env() -> std::result::Result<Self, String> {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set: run ./dev/audit.sh, which starts the stack"));
        Ok(Self {
            api: var("AUDIT_API")?,
            stripe: var("AUDIT_STRIPE")?,
            dynamodb: var("AUDIT_DYNAMODB")?,
            table: var("AUDIT_TABLE")?,
        })
    }
}

/// A failed call the audit cannot go on without.
#[derive(Debug)]
pub struct CallError(pub String);

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CallError {}

pub type Result<T> = std::result::Result<T, CallError>;

fn failed(what: &str, err: impl std::fmt::Display) -> CallError {
    CallError(format!("{what}: {err}"))
}

pub struct Client {
    endpoints: Endpoints,
    http: reqwest::Client,
    store: Store,
    config: billing::Config,
}

impl Client {
    /// Where the stack listens.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    pub fn new(endpoints: Endpoints) -> Self {
        let store = Store::new(billing::testkit::dynamodb_client(&endpoints.dynamodb), endpoints.table.clone());
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("http client"),
            store,
            // The local stack's token settings (dev/local.env), to mint users' tokens.
            config: billing::testkit::config("unused", "http://127.0.0.1:9", None),
            endpoints,
        }
    }

    /// A user's token; for an organization's billable id, its admin's token acting for it.
    fn token(&self, user: &str) -> String {
        match billing::domain::billable::Billable::of(user) {
            billing::domain::billable::Billable::Org(org) => billing::testkit::org_token(&self.config, &admin_of(org), org, "org:admin"),
            billing::domain::billable::Billable::User(_) => {
                billing::testkit::token(&self.config, user, Some(&format!("{user}@audit.example.com")))
            }
        }
    }

    /// An API call as `member` acting for organization `org` with `role`, or for themselves
    /// (`org` `None`): (status, JSON body).
    pub async fn member_api(&self, method: reqwest::Method, path: &str, member: &str, org: Option<(&str, &str)>) -> Result<(u16, Value)> {
        let token = match org {
            Some((org, role)) => billing::testkit::org_token(&self.config, member, org, role),
            None => billing::testkit::token(&self.config, member, None),
        };
        let response = self
            .http
            .request(method, format!("{}{path}", self.endpoints.api))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| failed(path, e))?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// An API call as `user`: (status, JSON body).
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        user: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.endpoints.api))
            .bearer_auth(self.token(user));
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.map_err(|e| failed(path, e))?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// A direct invocation of a function through `cargo lambda watch`'s Lambda Invoke API.
    pub async fn invoke(&self, function: &str, payload: &Value) -> Result<Value> {
        let url = format!("{}/2015-03-31/functions/{function}/invocations", self.endpoints.api);
        let response = self.http.post(url).json(payload).send().await.map_err(|e| failed(function, e))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(failed(function, format!("{status}: {body}")));
        }
        Ok(body)
    }

    /// A support route of the admin function, as API Gateway hands on an IAM-signed request
    /// (invoked through `cargo lambda watch`: plain HTTP to it carries no IAM caller and is
    /// refused). Its status and JSON body.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        let mut event = serde_json::json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
            "headers": {"host": "api.example.com", "content-type": "application/json"},
            "requestContext": {"accountId": "123456789012", "apiId": "audit", "domainName": "api.example.com",
                "domainPrefix": "api", "requestId": "audit", "routeKey": "$default", "stage": "$default",
                "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0,
                "http": {"method": method.as_str(), "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "audit"},
                "authorizer": {"iam": {"accessKey": "ASIAAUDIT", "accountId": "123456789012", "callerId": "AROAAUDIT:audit",
                    "userArn": "arn:aws:sts::123456789012:assumed-role/support/audit", "userId": "AROAAUDIT:audit"}}},
            "isBase64Encoded": false
        });
        if let Some(body) = body {
            event["body"] = body.to_string().into();
        }
        let answer = self.invoke("admin", &event).await?;
        let status = answer["statusCode"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or(0);
        let body = answer["body"]
            .as_str()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// `GET` of the emulator's Stripe API.
    pub async fn stripe_get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value> {
        let mut url = url::Url::parse(&format!("{}/v1{path}", self.endpoints.stripe)).map_err(|e| failed(path, e))?;
        url.query_pairs_mut().extend_pairs(query);
        let response = self
            .http
            .get(url)
            .bearer_auth(billing::testkit::LOCAL_STRIPE_KEY)
            .send()
            .await
            .map_err(|e| failed(path, e))?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| failed(path, e))?;
        if !status.is_success() {
            return Err(failed(path, format!("{status}: {body}")));
        }
        Ok(body)
    }

    /// Every object of a Stripe list, page after page.
    pub async fn stripe_list(&self, path: &str, query: &[(&str, &str)]) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut params: Vec<(&str, &str)> = query.to_vec();
            params.push(("limit", "100"));
            if let Some(after) = &after {
                params.push(("starting_after", after));
            }
            let page = self.stripe_get(path, &params).await?;
            let data = page["data"].as_array().cloned().unwrap_or_default();
            let last = data.last().and_then(|o| o["id"].as_str()).map(str::to_owned);
            out.extend(data);
            match (page["has_more"].as_bool(), last) {
                (Some(true), Some(last)) => after = Some(last),
                _ => return Ok(out),
            }
        }
    }

    /// `POST` of the emulator's Stripe API (form-encoded).
    pub async fn stripe_post(&self, path: &str, form: &[(&str, &str)]) -> Result<(u16, Value)> {
        let response = self
            .http
            .post(format!("{}/v1{path}", self.endpoints.stripe))
            .bearer_auth(billing::testkit::LOCAL_STRIPE_KEY)
            .form(form)
            .send()
            .await
            .map_err(|e| failed(path, e))?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// A `/_emulator` control.
    pub async fn control(&self, path: &str, body: &Value) -> Result<(u16, Value)> {
        let response = self
            .http
            .post(format!("{}/_emulator{path}", self.endpoints.stripe))
            .json(body)
            .send()
            .await
            .map_err(|e| failed(path, e))?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// The emulator's clock.
    pub async fn now(&self) -> Result<i64> {
        let response = self
            .http
            .get(format!("{}/_emulator/clock", self.endpoints.stripe))
            .send()
            .await
            .map_err(|e| failed("clock", e))?;
        let body: Value = response.json().await.map_err(|e| failed("clock", e))?;
        body["now"].as_i64().ok_or_else(|| failed("clock", body))
    }

    /// Waits until every event the emulator emitted was delivered (or dropped, or out of
    /// retries), then until the functions see the emulator's clock. Answers how many
    /// deliveries ran out of retries so far (missed webhooks).
    pub async fn settle(&self) -> Result<u64> {
        let start = Instant::now();
        loop {
            let response = self
                .http
                .get(format!("{}/_emulator/deliveries/in_flight", self.endpoints.stripe))
                .send()
                .await
                .map_err(|e| failed("deliveries", e))?;
            let body: Value = response.json().await.map_err(|e| failed("deliveries", e))?;
            if body["in_flight"].as_u64() == Some(0) {
                // The functions read the shared clock's file at most every 100 ms.
                tokio::time::sleep(Duration::from_millis(120)).await;
                return Ok(body["undelivered"].as_u64().unwrap_or(0));
            }
            if start.elapsed() > Duration::from_secs(120) {
                return Err(failed("deliveries", "still in flight after 120 s"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A user's items, read consistently.
    pub async fn table(&self, user: &str) -> Result<UserItems> {
        self.store
            .user_items_consistent(user)
            .await
            .map_err(|e| failed("table", billing::edge::problem::cause_chain(&e)))
    }
}

/// The admin who buys and manages for organization `org` in the audit.
pub fn admin_of(org: &str) -> String {
    format!("{org}-admin")
}
