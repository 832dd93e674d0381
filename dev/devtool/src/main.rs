//! Local-stack helper.
//!
//! ```text
//! devtool create-table            create the table (TABLE_NAME at DYNAMODB_ENDPOINT) if missing
//! devtool token <user-id> [email] [--org ID --role ROLE --org-name NAME]
//!                                  print a bearer token the local functions accept (1 h)
//! devtool sign-webhook <stripe-event.json>
//!                                 print the API Gateway event POSTing that Stripe event to
//!                                 /webhook, signed now with STRIPE_WEBHOOK_SECRETS
//! devtool reconcile [full | customer <cus_…> | user <user-id>]
//!                                 what the reconcile function does (events since the
//!                                 checkpoint; or fetched snapshots), printing its summary
//! devtool create-bus             create the event bus (EVENT_BUS_NAME at EVENTBRIDGE_ENDPOINT)
//!                                 and verify EMAIL_SENDER in the local SES, if missing
//! devtool events tail [--detail-type T] [--count N]
//!                                 print domain events as they arrive (a rule and an SQS queue
//!                                 on the bus, removed on exit)
//! devtool events publish          run the publisher once (the outbox to the bus)
//! devtool events parked | requeue <id>
//!                                 the domain events parked after repeated refusals
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
use clap::{Parser, Subcommand};

mod events;

/// Local-stack helper: reads the same environment as the functions (see `dev/local.env`).
#[derive(Debug, Parser)]
#[command(name = "devtool", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the table (TABLE_NAME at DYNAMODB_ENDPOINT) if missing.
    CreateTable,
    /// Create the event bus (EVENT_BUS_NAME at EVENTBRIDGE_ENDPOINT), and verify EMAIL_SENDER in
    /// the local SES, if missing.
    CreateBus,
    /// Domain events: print them as they arrive, publish the outbox, review parked ones.
    Events {
        #[command(subcommand)]
        action: events::EventsAction,
    },
    /// Print a bearer token the local functions accept (1 h).
    Token {
        /// The user id (the token's `sub`).
        user_id: String,
        /// The token's `email` claim.
        email: Option<String>,
        /// Act for this organization (the `ORG_ID_CLAIM` claim).
        #[arg(long)]
        org: Option<String>,
        /// The role in the organization (the `ORG_ROLE_CLAIM` claim), e.g. `org:admin`.
        #[arg(long)]
        role: Option<String>,
        /// The organization's name (the `org_name` claim).
        #[arg(long)]
        org_name: Option<String>,
    },
    /// Print the API Gateway event POSTing a Stripe event to /webhook, signed now with
    /// STRIPE_WEBHOOK_SECRETS.
    SignWebhook {
        /// A Stripe event as JSON.
        event_file: std::path::PathBuf,
    },
    /// What the reconcile function does (events since the checkpoint; or fetched snapshots),
    /// printing its summary.
    Reconcile {
        #[command(subcommand)]
        scope: Option<Scope>,
    },
    /// List the metered usage batches the usage reporter parked for review (JSON lines).
    UsageBatches {
        #[command(subcommand)]
        action: Option<BatchAction>,
    },
}

#[derive(Debug, Subcommand)]
enum Scope {
    /// Every customer, from fetched snapshots.
    Full,
    /// One customer (`cus_…`).
    Customer { customer_id: String },
    /// One user's customers.
    User { user_id: String },
}

#[derive(Debug, Subcommand)]
enum BatchAction {
    /// Put a parked batch back in its queue, after checking that Stripe's meter does not have it.
    Requeue { identifier: String },
}

/// The organization claims of a minted token, under the configured claim names.
fn org_claims(
    names: &billing::config::OrgClaims,
    org: Option<String>,
    role: Option<String>,
    org_name: Option<String>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut claims = serde_json::Map::new();
    for (name, value) in [
        (names.id_claim.as_str(), org),
        (names.role_claim.as_str(), role),
        ("org_name", org_name),
    ] {
        if let Some(value) = value {
            claims.insert(name.to_owned(), value.into());
        }
    }
    claims
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env(Needs::default()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("devtool: {err}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::CreateTable => create_table(&config).await,
        Command::CreateBus => events::create_bus(&config).await,
        Command::Events { action } => events::events(&config, action).await,
        Command::Token {
            user_id,
            email,
            org,
            role,
            org_name,
        } => match billing::edge::identity::issue_token_with(
            &config.jwt,
            &user_id,
            email.as_deref(),
            org_claims(&config.jwt.orgs, org, role, org_name),
            3600,
        ) {
            Ok(token) => {
                println!("{token}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("devtool: cannot mint a token ({err}); set JWT_HS256_SECRET, JWT_ISSUER and JWT_AUDIENCE");
                ExitCode::FAILURE
            }
        },
        Command::SignWebhook { event_file } => sign_webhook(&config, &event_file),
        Command::Reconcile { scope } => reconcile(scope).await,
        Command::UsageBatches { action } => usage_batches(&config, action).await,
    }
}

async fn create_table(config: &Config) -> ExitCode {
    let sdk = billing::adapters::aws::sdk_config().await;
    let store = Store::new(billing::adapters::aws::dynamodb_client(&sdk, config), config.table_name.clone());
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

fn sign_webhook(config: &Config, path: &std::path::Path) -> ExitCode {
    let payload = match std::fs::read_to_string(path) {
        Ok(payload) => payload,
        Err(err) => {
            eprintln!("devtool: {}: {err}", path.display());
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

/// The reconcile function's work, run here against the configured stack.
async fn reconcile(scope: Option<Scope>) -> ExitCode {
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
    let result = match scope {
        None => reconciler.events().await,
        Some(Scope::Full) => reconciler.sweep().await,
        Some(Scope::Customer { customer_id }) => reconciler.customer(&customer_id).await,
        Some(Scope::User { user_id }) => reconciler.user(&user_id).await,
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
async fn usage_batches(config: &Config, action: Option<BatchAction>) -> ExitCode {
    let sdk = billing::adapters::aws::sdk_config().await;
    let store = Store::new(billing::adapters::aws::dynamodb_client(&sdk, config), config.table_name.clone());
    let result = match action {
        Some(BatchAction::Requeue { identifier }) => store.requeue_batch(&identifier, billing::now_epoch()).await.inspect(|&found| {
            if found {
                println!("requeued {identifier}: the next reporter run sends it");
            } else {
                eprintln!("devtool: no parked batch {identifier}");
            }
        }),
        None => store.parked_batches(billing::adapters::store::QUEUE_READ_CAP).await.map(|batches| {
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
