//! Local-stack helper.
//!
//! ```text
//! devtool create-table            create the table (TABLE_NAME at DYNAMODB_ENDPOINT) if missing
//! devtool token <user-id> [email] print a bearer token the local functions accept (1 h)
//! devtool sign-webhook <stripe-event.json>
//!                                 print the API Gateway event POSTing that Stripe event to
//!                                 /webhook, signed now with STRIPE_WEBHOOK_SECRETS
//! devtool reconcile [full | customer <cus_…> | user <user-id>]
//!                                 what the reconcile function does (events since the
//!                                 checkpoint; or fetched snapshots), printing its summary
//! devtool usage-batches [requeue <identifier>]
//!                                 list the metered usage batches the usage reporter parked
//!                                 for review (JSON lines); requeue one after checking that
//!                                 Stripe's meter does not have it
//! ```
//!
//! Reads the same environment as the functions (see `dev/local.env`).

use std::process::ExitCode;

use billing::adapters::store::Store;
use billing::config::{Config, Needs};

const USAGE: &str = "usage: devtool create-table | devtool token <user-id> [email] | devtool sign-webhook <stripe-event.json> | devtool reconcile [full | customer <cus_…> | user <user-id>] | devtool usage-batches [requeue <identifier>]";

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
            let sdk = billing::adapters::aws::sdk_config().await;
            let store = Store::new(billing::adapters::aws::dynamodb_client(&sdk, &config), config.table_name.clone());
            match store.create_table().await {
                Ok(created) => {
                    println!("table {} {}", config.table_name, if created { "created" } else { "already exists" });
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("devtool: {}", billing::edge::problem::cause_chain(&err));
                    ExitCode::FAILURE
                }
            }
        }
        ["token", user, rest @ ..] if rest.len() <= 1 => {
            match billing::edge::identity::issue_token(&config.jwt, user, rest.first().copied(), 3600) {
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
        ["sign-webhook", path] => {
            let payload = match std::fs::read_to_string(path) {
                Ok(payload) => payload,
                Err(err) => {
                    eprintln!("devtool: {path}: {err}");
                    return ExitCode::FAILURE;
                }
            };
            let secrets = match &config.stripe_secrets {
                billing::config::StripeSecrets::Inline { webhook_secrets, .. } if !webhook_secrets.is_empty() => webhook_secrets.clone(),
                _ => {
                    eprintln!("devtool: set STRIPE_WEBHOOK_SECRETS (see dev/local.env)");
                    return ExitCode::FAILURE;
                }
            };
            let secrets: Vec<&str> = secrets.iter().map(|s| s.expose()).collect();
            println!(
                "{}",
                billing::edge::local_events::signed_event(&payload, &secrets, billing::now_epoch())
            );
            ExitCode::SUCCESS
        }
        ["reconcile", rest @ ..] if rest.len() <= 2 => reconcile(rest).await,
        ["usage-batches", rest @ ..] if matches!(rest, [] | ["requeue", _]) => usage_batches(&config, rest).await,
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The reconcile function's work, run here against the configured stack.
async fn reconcile(args: &[&str]) -> ExitCode {
    let needs = Needs {
        stripe: true,
        ..Needs::default()
    };
    let state = match billing::AppState::from_env(needs).await {
        Ok(state) => state,
        Err(err) => {
            eprintln!("devtool: {}", billing::edge::problem::cause_chain(&err));
            return ExitCode::FAILURE;
        }
    };
    let Ok(reconciler) = state.reconciler() else {
        eprintln!("devtool: set STRIPE_SECRET_KEY (see dev/local.env)");
        return ExitCode::FAILURE;
    };
    let result = match args {
        [] => reconciler.events().await,
        ["full"] => reconciler.sweep().await,
        ["customer", customer] => reconciler.customer(customer).await,
        ["user", user] => reconciler.user(user).await,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(summary) => {
            println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default());
            if summary.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("devtool: {}", billing::edge::problem::cause_chain(&err));
            ExitCode::FAILURE
        }
    }
}

/// The batches the usage reporter parked for review, or one of them put back in its queue.
async fn usage_batches(config: &Config, args: &[&str]) -> ExitCode {
    let sdk = billing::adapters::aws::sdk_config().await;
    let store = Store::new(billing::adapters::aws::dynamodb_client(&sdk, config), config.table_name.clone());
    let result = match args {
        ["requeue", identifier] => store.requeue_batch(identifier, billing::now_epoch()).await.inspect(|&found| {
            if found {
                println!("requeued {identifier}: the next reporter run sends it");
            } else {
                eprintln!("devtool: no parked batch {identifier}");
            }
        }),
        _ => store.parked_batches(billing::adapters::store::QUEUE_READ_CAP).await.map(|batches| {
            for batch in batches {
                println!(
                    "{}",
                    serde_json::json!({
                        "identifier": batch.identifier, "customer": batch.customer_id, "meter": batch.meter,
                        "units": batch.value(), "timestamp": batch.timestamp, "sealed_at": batch.created_at,
                        "refusals": batch.refusals, "reason": batch.parked_reason,
                    })
                );
            }
            true
        }),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("devtool: {}", billing::edge::problem::cause_chain(&err));
            ExitCode::FAILURE
        }
    }
}
