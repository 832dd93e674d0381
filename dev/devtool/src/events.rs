//! `devtool create-bus` and `devtool events …`: the local domain-event bus, a consumer that
//! prints what arrives, the publisher run by hand, and the parked events.

use std::process::ExitCode;

use billing::adapters::bus::Bus;
use billing::adapters::store::{OUTBOX_READ_CAP, Store};
use billing::config::Config;
use billing::domain::records::keys;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum EventsAction {
    /// Print domain events as they arrive (JSON lines): attaches a rule and an SQS queue to the
    /// bus, as a team's consumer would, and removes them on Ctrl-C.
    Tail {
        /// Only this detail type (e.g. payment.failed).
        #[arg(long)]
        detail_type: Option<String>,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<usize>,
    },
    /// Run the publisher once: the outbox to the bus.
    Publish,
    /// List the domain events parked after repeated refusals (JSON lines).
    Parked,
    /// Put a parked domain event back in the outbox.
    Requeue { id: String },
}

fn fail(err: &dyn std::error::Error) -> ExitCode {
    eprintln!("devtool: {}", billing::edge::problem::cause_chain(err));
    ExitCode::FAILURE
}

async fn bus(config: &Config) -> Bus {
    let sdk = billing::adapters::aws::sdk_config().await;
    Bus::from_config(&sdk, &config.events)
}

/// Creates the bus (EVENT_BUS_NAME at EVENTBRIDGE_ENDPOINT) if missing, and makes EMAIL_SENDER
/// a verified SES identity (at SES_ENDPOINT) when both are set: what the template does in AWS.
pub async fn create_bus(config: &Config) -> ExitCode {
    let bus = bus(config).await;
    match bus.create().await {
        Ok(created) => println!("event bus {} {}", bus.name(), if created { "created" } else { "already exists" }),
        Err(err) => return fail(&err),
    }
    if let (Some(sender), Some(_)) = (&config.events.email_sender, &config.events.ses_endpoint) {
        let sdk = billing::adapters::aws::sdk_config().await;
        let mailer = billing::adapters::mail::Mailer::from_config(&sdk, &config.events, sender);
        match mailer.client().create_email_identity().email_identity(sender).send().await {
            Ok(_) => println!("ses identity {sender} verified"),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_already_exists_exception()) => {}
            Err(err) => return fail(&err),
        }
    }
    ExitCode::SUCCESS
}

pub async fn events(config: &Config, action: EventsAction) -> ExitCode {
    match action {
        EventsAction::Tail { detail_type, count } => tail(config, detail_type, count).await,
        EventsAction::Publish => publish().await,
        EventsAction::Parked => {
            let sdk = billing::adapters::aws::sdk_config().await;
            let store = Store::new(billing::adapters::aws::dynamodb_client(&sdk, config), config.table_name.clone());
            match store.outbox_under(keys::OUTBOX_PARKED, OUTBOX_READ_CAP).await {
                Ok(parked) => {
                    for record in parked {
                        println!(
                            "{}",
                            serde_json::json!({"id": record.id, "detail_type": record.kind, "attempts": record.attempts, "detail": record.detail})
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(err) => fail(&err),
            }
        }
        EventsAction::Requeue { id } => {
            let sdk = billing::adapters::aws::sdk_config().await;
            let store = Store::new(billing::adapters::aws::dynamodb_client(&sdk, config), config.table_name.clone());
            match store.requeue_outbox(&id).await {
                Ok(true) => {
                    println!("requeued {id}: the next publisher run puts it");
                    ExitCode::SUCCESS
                }
                Ok(false) => {
                    eprintln!("devtool: no parked domain event {id}");
                    ExitCode::FAILURE
                }
                Err(err) => fail(&err),
            }
        }
    }
}

async fn publish() -> ExitCode {
    let state = match billing::AppState::from_env(billing::Needs::default()).await {
        Ok(state) => state,
        Err(err) => return fail(&err),
    };
    let bus = bus(&state.config).await;
    match state.publisher(&bus).run().await {
        Ok(summary) => {
            println!("{}", serde_json::to_string(&summary).unwrap_or_default());
            if summary.refused == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => fail(&err),
    }
}

/// A rule with an SQS target on the bus, polled until Ctrl-C (or `count` events).
async fn tail(config: &Config, detail_type: Option<String>, count: Option<usize>) -> ExitCode {
    let sdk = billing::adapters::aws::sdk_config().await;
    let bus = bus(config).await;
    let sqs = billing::testkit::consumer::sqs_client(&sdk, config.events.eventbridge_endpoint.as_ref());
    let name = format!("devtool-tail-{}", std::process::id());
    let consumer =
        match billing::testkit::consumer::Consumer::attach(&sqs, &bus, &name, &config.events.source, detail_type.as_deref()).await {
            Ok(consumer) => consumer,
            Err(err) => return fail(&*err),
        };
    eprintln!("tailing bus {} (rule {name}); Ctrl-C stops", bus.name());
    let mut seen = 0;
    let result = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break Ok(()),
            received = consumer.receive(&sqs) => match received {
                Ok(bodies) => {
                    for body in bodies {
                        println!("{body}");
                        seen += 1;
                    }
                    if count.is_some_and(|c| seen >= c) {
                        break Ok(());
                    }
                }
                Err(err) => break Err(err),
            },
        }
    };
    consumer.detach(&sqs, &bus).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&*err),
    }
}
