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
    assert_eq!(attrs, vec![(TABLE_SCHEMA.hash_key, "S"), (TABLE_SCHEMA.range_key, "S")]);
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
        for event in resource["Properties"]["Events"].as_mapping().into_iter().flat_map(|m| m.values()) {
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
