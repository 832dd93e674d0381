//! template.yaml repeats the table's key schema by hand; this keeps it equal to
//! `billing::domain::records::TABLE_SCHEMA`, and checks the routes against the functions.

use billing::domain::records::TABLE_SCHEMA;
use serde_yaml::Value;

fn template() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).expect("template.yaml");
    serde_yaml::from_str(&text).expect("template.yaml parses")
}

fn table(template: &Value) -> &Value {
    let resources = template["Resources"].as_mapping().expect("Resources");
    let tables: Vec<&Value> = resources.values().filter(|r| r["Type"] == "AWS::DynamoDB::Table").collect();
    assert_eq!(tables.len(), 1, "one table");
    &tables[0]["Properties"]
}

#[test]
fn table_key_schema_matches_the_store() {
    let template = template();
    let props = table(&template);
    let keys: Vec<(&str, &str)> = props["KeySchema"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| (k["AttributeName"].as_str().unwrap(), k["KeyType"].as_str().unwrap()))
        .collect();
    assert_eq!(keys, vec![(TABLE_SCHEMA.hash_key, "HASH"), (TABLE_SCHEMA.range_key, "RANGE")]);
    let attrs: Vec<(&str, &str)> = props["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| (a["AttributeName"].as_str().unwrap(), a["AttributeType"].as_str().unwrap()))
        .collect();
    assert_eq!(
        attrs,
        vec![
            (TABLE_SCHEMA.hash_key, "S"),
            (TABLE_SCHEMA.range_key, "S"),
            (billing::domain::records::keys::REPORT, "S")
        ]
    );
    assert_eq!(
        props["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(TABLE_SCHEMA.ttl_attribute)
    );
    assert_eq!(props["TimeToLiveSpecification"]["Enabled"].as_bool(), Some(true));
    assert_eq!(props["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(props["SSESpecification"]["SSEEnabled"].as_bool(), Some(true));
    let index = &props["GlobalSecondaryIndexes"][0];
    assert_eq!(index["IndexName"].as_str(), Some(billing::domain::records::REPORT_INDEX));
    assert_eq!(
        index["KeySchema"][0]["AttributeName"].as_str(),
        Some(billing::domain::records::keys::REPORT)
    );
}

#[test]
fn routes_match_the_watch_router_and_public_routes_skip_the_authorizer() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let mut routes = Vec::new();
    for resource in resources.values().filter(|r| r["Type"] == "AWS::Serverless::Function") {
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("Binary build property");
        for event in resource["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flat_map(|m| m.values())
            .filter(|e| e["Type"] == "HttpApi")
        {
            let props = &event["Properties"];
            let path = props["Path"].as_str().unwrap().to_owned();
            let method = props["Method"].as_str().unwrap().to_uppercase();
            let auth = props["Auth"]["Authorizer"].as_str().unwrap_or("default").to_owned();
            routes.push((method, path, binary.to_owned(), auth));
        }
    }
    routes.sort();
    let public: Vec<_> = routes
        .iter()
        .filter(|r| r.3 == "NONE")
        .map(|r| format!("{} {}", r.0, r.1))
        .collect();
    assert_eq!(public, vec!["GET /plans", "POST /webhook"]);

    let manifest: toml::Table = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let router = &manifest["workspace"]["metadata"]["lambda"]["watch"]["router"];
    for (_, path, binary, _) in &routes {
        assert_eq!(
            router.get(path.as_str()).and_then(|v| v.as_str()),
            Some(binary.as_str()),
            "cargo lambda watch serves {path} with {binary}"
        );
    }
}

/// `!Ref Name` (and other short tags) as the string `Ref Name`, for comparisons.
fn tag(value: &Value) -> String {
    match value {
        Value::Tagged(tagged) => format!("{} {}", tagged.tag.to_string().trim_start_matches('!'), tag(&tagged.value)),
        Value::String(s) => s.clone(),
        Value::Sequence(items) => items.iter().map(tag).collect::<Vec<_>>().join(","),
        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_owned(),
    }
}

fn functions(template: &Value) -> Vec<(String, &Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(name, r)| (name.as_str().unwrap().to_owned(), r))
        .collect()
}

#[test]
fn browsers_on_the_app_origins_may_call_the_api_and_the_api_is_throttled() {
    let template = template();
    let api = &template["Resources"]["HttpApi"]["Properties"];
    let cors = &api["CorsConfiguration"];
    assert_eq!(tag(&cors["AllowOrigins"]), "Ref AllowedRedirectOrigins");
    for header in ["authorization", "content-type", "idempotency-key"] {
        assert!(tag(&cors["AllowHeaders"]).split(',').any(|h| h == header), "{header}");
    }
    for method in ["OPTIONS", "DELETE"] {
        assert!(tag(&cors["AllowMethods"]).split(',').any(|m| m == method), "{method}");
    }
    assert_eq!(tag(&api["DefaultRouteSettings"]["ThrottlingRateLimit"]), "Ref ApiThrottleRate");
    assert_eq!(tag(&api["DefaultRouteSettings"]["ThrottlingBurstLimit"]), "Ref ApiThrottleBurst");
    for name in ["CheckoutFunction", "PortalFunction"] {
        let reserved = tag(&template["Resources"][name]["Properties"]["ReservedConcurrentExecutions"]);
        assert!(reserved.contains("UserFunctionConcurrency"), "{name}: {reserved}");
    }
}

#[test]
fn each_function_gets_the_table_actions_it_uses_and_nothing_more() {
    let template = template();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    assert!(!text.contains("DynamoDBCrudPolicy"), "no blanket CRUD (Scan, BatchWriteItem, …)");
    let expected: &[(&str, &[&str])] = &[
        (
            "CheckoutFunction",
            &[
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:Query",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
                "dynamodb:UpdateItem",
            ],
        ),
        ("PortalFunction", &["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"]),
        (
            "WebhookFunction",
            &[
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
            ],
        ),
        (
            "EntitlementsFunction",
            &["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PartiQLSelect"],
        ),
        (
            "SeatsFunction",
            &[
                "dynamodb:GetItem",
                "dynamodb:Query",
                "dynamodb:PartiQLSelect",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
            ],
        ),
        (
            "UsageFunction",
            &[
                "dynamodb:GetItem",
                "dynamodb:Query",
                "dynamodb:PartiQLSelect",
                "dynamodb:UpdateItem",
                "dynamodb:PutItem",
                "dynamodb:ConditionCheckItem",
            ],
        ),
        (
            "UsageReporterFunction",
            &[
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:Query",
                "dynamodb:UpdateItem",
                "dynamodb:PutItem",
            ],
        ),
        ("AuthorizerFunction", &["dynamodb:Query", "dynamodb:PartiQLSelect"]),
        (
            "ReconcileFunction",
            &[
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:Query",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
            ],
        ),
        (
            "SubscriptionFunction",
            &[
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:Query",
                "dynamodb:PartiQLSelect",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
            ],
        ),
        (
            "EventsPublisherFunction",
            &[
                "dynamodb:Query",
                "dynamodb:BatchWriteItem",
                "dynamodb:UpdateItem",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
            ],
        ),
        ("NotifierFunction", &["dynamodb:GetItem", "dynamodb:PutItem"]),
        (
            "AdminFunction",
            &[
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:Query",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
            ],
        ),
    ];
    for (name, function) in functions(&template) {
        let policies = function["Properties"]["Policies"].as_sequence().unwrap();
        let actions: Vec<String> = policies
            .iter()
            .flat_map(|p| p["Statement"].as_sequence().cloned().unwrap_or_default())
            .filter(|s| s["Effect"] == "Allow")
            .flat_map(|s| s["Action"].as_sequence().cloned().unwrap_or_default())
            .map(|a| a.as_str().unwrap().to_owned())
            .filter(|a| a.starts_with("dynamodb:"))
            .collect();
        let want = expected
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("{name} is listed"));
        assert_eq!(actions, want, "{name}");
        assert!(
            policies.iter().any(|p| tag(p) == "Ref CatalogReadPolicy"),
            "{name} reads the catalog parameter"
        );
        assert_eq!(
            policies.iter().any(|p| tag(p) == "Ref PartiQLNoScanPolicy"),
            want.contains(&"dynamodb:PartiQLSelect"),
            "{name}: a PartiQL SELECT may read partitions by key, never scan the table"
        );
        let reads_stripe_secret = policies.iter().any(|p| tag(p) == "Ref StripeSecretReadPolicy");
        let keyless = [
            "EntitlementsFunction",
            "SeatsFunction",
            "UsageFunction",
            "AuthorizerFunction",
            "EventsPublisherFunction",
            "NotifierFunction",
        ];
        assert_eq!(
            reads_stripe_secret,
            !keyless.contains(&name.as_str()),
            "{name}: only the functions that call Stripe read its key"
        );
    }
    assert_eq!(table(&template)["DeletionProtectionEnabled"].as_bool(), Some(true));
    let secret_policy = &template["Resources"]["StripeSecretReadPolicy"]["Properties"]["PolicyDocument"]["Statement"];
    assert!(
        tag(secret_policy).contains("If HasSecretsKey"),
        "kms:Decrypt only with a customer-managed key"
    );
    assert!(serde_yaml::to_string(secret_policy).unwrap().contains("kms:Decrypt"));
    let no_scan = &template["Resources"]["PartiQLNoScanPolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(no_scan["Effect"].as_str(), Some("Deny"));
    assert_eq!(no_scan["Action"].as_str(), Some("dynamodb:PartiQLSelect"));
    assert_eq!(no_scan["Condition"]["Bool"]["dynamodb:FullTableScan"].as_str(), Some("true"));
    let catalog_policy = &template["Resources"]["CatalogReadPolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(catalog_policy["Action"].as_str(), Some("ssm:GetParameter"));
    assert!(
        tag(&catalog_policy["Resource"]).ends_with(":parameter${PlansParameterName}"),
        "the parameter's name carries its leading slash: {}",
        tag(&catalog_policy["Resource"])
    );
    let pattern = template["Parameters"]["PlansParameterName"]["AllowedPattern"].as_str().unwrap();
    assert!(pattern.starts_with("^/"), "SSM names with a path start with a slash");
    let env = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(tag(&env["STRIPE_MODE"]), "Ref StripeMode", "every function knows the stack's mode");
    assert_eq!(template["Parameters"]["StripeMode"]["Default"].as_str(), Some("live"));
    assert_eq!(
        tag(&env["PLANS_PARAMETER"]),
        "Ref PlansParameterName",
        "production loads its catalog"
    );
    // Every function reads the organization claims the same way, with the library's defaults.
    let orgs = billing::config::OrgClaims::default();
    let admin_roles = orgs.admin_roles.join(",");
    for (var, parameter, default) in [
        (billing::config::vars::ORG_ID_CLAIM, "OrgIdClaim", orgs.id_claim.as_str()),
        (billing::config::vars::ORG_ROLE_CLAIM, "OrgRoleClaim", orgs.role_claim.as_str()),
        (billing::config::vars::ORG_ADMIN_ROLES, "OrgAdminRoles", admin_roles.as_str()),
    ] {
        assert_eq!(tag(&env[var]), format!("Ref {parameter}"), "{var}");
        assert_eq!(template["Parameters"][parameter]["Default"].as_str(), Some(default), "{parameter}");
    }
}

#[test]
fn alarms_cover_the_webhook_every_function_and_the_table() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let alarms: Vec<&Value> = resources.values().filter(|r| r["Type"] == "AWS::CloudWatch::Alarm").collect();
    assert!(alarms.iter().all(|a| {
        a["Condition"]
            .as_str()
            .is_some_and(|c| ["HasAlarms", "HasNotifierAlarms", "HasStripePartnerAlarms"].contains(&c))
            && tag(&a["Properties"]["AlarmActions"]) == "Ref AlarmTopicArn"
    }));
    // An alarm of an optional part exists with it, and only when alarms are on.
    for condition in ["HasNotifierAlarms", "HasStripePartnerAlarms"] {
        let both = tag(&template["Conditions"][condition]);
        assert!(both.contains("HasAlarms"), "{condition}: {both}");
    }
    let metric_names: Vec<String> = alarms.iter().map(|a| tag(&a["Properties"]["MetricName"])).collect();
    for metric in [
        "Webhook5xx",
        "WebhookBadSignatures",
        "FailingOldEvents",
        "UsageUnitsRejected",
        "ReconcileApplied",
        "DomainEventsParked",
        "OutboxOldestAgeSeconds",
    ] {
        assert!(metric_names.iter().any(|m| m == metric), "{metric}");
    }
    let text = serde_yaml::to_string(&alarms).unwrap();
    assert!(
        text.contains("ReadThrottleEvents") && text.contains("WriteThrottleEvents"),
        "table throttles"
    );
    for (name, _) in functions(&template) {
        let watched = alarms.iter().any(|a| {
            let alarm = serde_yaml::to_string(a).unwrap();
            alarm.contains("AWS/Lambda") && alarm.contains("Throttles") && alarm.contains(&name)
        });
        assert!(watched, "errors and throttles of {name}");
    }
}

#[test]
fn the_feature_gate_caches_per_token_and_route() {
    let template = template();
    let authorizer = &template["Resources"]["FeatureGateAuthorizer"]["Properties"];
    let sources: Vec<&str> = authorizer["IdentitySource"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        ["$request.header.Authorization", "$context.routeKey"],
        "a token-only cache key would leak one route's answer to another"
    );
    assert_eq!(authorizer["AuthorizerPayloadFormatVersion"].as_str(), Some("2.0"));
    assert_eq!(authorizer["EnableSimpleResponses"].as_bool(), Some(true));
    let outputs = template["Outputs"].as_mapping().unwrap();
    assert!(outputs.contains_key("AuthorizerFunctionArn"));
    let mappings = template["Resources"]["GatedExampleIntegration"]["Properties"]["RequestParameters"]
        .as_mapping()
        .unwrap();
    assert!(
        mappings.keys().all(|k| k.as_str().unwrap().starts_with("overwrite:")),
        "a client's own x-billing-user header must never reach the backend beside ours"
    );
}

#[test]
fn usage_is_recorded_by_invoking_the_function_with_a_policy_a_caller_attaches() {
    let template = template();
    let outputs = template["Outputs"].as_mapping().unwrap();
    assert!(outputs.contains_key("UsageFunctionArn"), "the trusted caller's target");
    assert!(outputs.contains_key("UsageRecordPolicyArn"));
    let statement = &template["Resources"]["UsageRecordPolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(statement["Action"].as_str(), Some("lambda:InvokeFunction"));
    assert_eq!(tag(&statement["Resource"]), "GetAtt UsageFunction.Arn", "only the usage function");
    // The parameters every Stripe-calling function reads.
    for name in ["CheckoutFunction", "PortalFunction", "SubscriptionFunction"] {
        let env = &template["Resources"][name]["Properties"]["Environment"]["Variables"];
        assert_eq!(tag(&env["USER_RATE_LIMIT_PER_MINUTE"]), "Ref UserRateLimitPerMinute", "{name}");
    }
    assert!(template["Resources"]["UsageParkedAlarm"].is_mapping(), "parked usage is alarmed");
}

#[test]
fn support_routes_are_iam_authorized_and_no_other_route_reaches_the_admin_function() {
    let template = template();
    assert_eq!(
        template["Resources"]["HttpApi"]["Properties"]["Auth"]["EnableIamAuthorizer"].as_bool(),
        Some(true)
    );
    let mut admin_routes = Vec::new();
    for (name, function) in functions(&template) {
        let Some(events) = function["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"] != "HttpApi" {
                continue;
            }
            let path = event["Properties"]["Path"].as_str().unwrap_or_default().to_owned();
            let authorizer = event["Properties"]["Auth"]["Authorizer"].as_str();
            if name == "AdminFunction" {
                assert_eq!(authorizer, Some("AWS_IAM"), "{path} is signed with SigV4");
                admin_routes.push(path);
            } else {
                assert!(!path.starts_with("/admin"), "{name} serves {path}");
                assert_ne!(authorizer, Some("AWS_IAM"), "{name}: {path} is a user's route");
            }
        }
    }
    admin_routes.sort();
    assert_eq!(
        admin_routes,
        [
            "/admin/orgs/{org_id}",
            "/admin/users/{user_id}",
            "/admin/users/{user_id}/grants",
            "/admin/users/{user_id}/grants/{feature}",
            "/admin/users/{user_id}/resync",
        ]
    );
}
