//! Local-stack helper.
//!
//! ```text
//! devtool create-table            create the table (TABLE_NAME at DYNAMODB_ENDPOINT) if missing
//! devtool token <user-id> [email] print a bearer token the local functions accept (1 h)
//! ```
//!
//! Reads the same environment as the functions (see `dev/local.env`).

use std::process::ExitCode;

use billing::config::{Config, Needs};
use billing::store::Store;

const USAGE: &str = "usage: devtool create-table | devtool token <user-id> [email]";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match Config::from_env(Needs::default()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("devtool: {err}");
            return ExitCode::FAILURE;
        }
    };
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["create-table"] => {
            let sdk = billing::aws::sdk_config().await;
            let store = Store::new(billing::aws::dynamodb_client(&sdk, &config), config.table_name.clone());
            match store.create_table().await {
                Ok(created) => {
                    println!("table {} {}", config.table_name, if created { "created" } else { "already exists" });
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("devtool: {}", billing::problem::cause_chain(&err));
                    ExitCode::FAILURE
                }
            }
        }
        ["token", user, rest @ ..] if rest.len() <= 1 => {
            match billing::identity::issue_token(&config.jwt, user, rest.first().copied(), 3600) {
                Ok(token) => {
                    println!("{token}");
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("devtool: cannot mint a token ({err}); set JWT_HS256_SECRET, JWT_ISSUER and JWT_AUDIENCE");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
