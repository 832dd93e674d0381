//! `audit`: run by `./dev/audit.sh`, which starts the stack and passes its addresses
//! (`AUDIT_API`, `AUDIT_STRIPE`, `AUDIT_DYNAMODB`, `AUDIT_TABLE`). Prints each violation with
//! its customer's history, then one line: `audit: <N> users, <D> days, <K> operations, <V>
//! violations`. Exits 1 on any violation, 2 when the stack cannot be driven.

use std::process::ExitCode;

use audit::client::{Client, Endpoints};
use audit::driver::{Plan, run};
use clap::Parser;

/// Random customer histories against the local stack, checked against the money invariants.
#[derive(Parser, Debug)]
#[command(name = "audit")]
struct Args {
    /// Simulated customers.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=500))]
    users: u16,
    /// Simulated days (the clock moves one day at a time).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..=1000))]
    days: u32,
    /// The seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print every customer's history, not only those of violations.
    #[arg(long)]
    verbose: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let endpoints = match Endpoints::from_env() {
        Ok(endpoints) => endpoints,
        Err(err) => {
            eprintln!("audit: {err}");
            return ExitCode::from(2);
        }
    };
    let client = Client::new(endpoints);
    let plan = Plan {
        users: usize::from(args.users),
        days: args.days,
        seed: args.seed,
    };
    let report = match run(&client, plan).await {
        Ok(report) => report,
        Err(err) => {
            eprintln!("audit: the stack could not be driven: {err}");
            return ExitCode::from(2);
        }
    };
    if args.verbose {
        for (user, log) in &report.histories {
            println!("history of {user}:");
            for line in log {
                println!("    {line}");
            }
        }
    }
    for (violation, log) in &report.violations {
        println!("VIOLATION {} ({}): {}", violation.invariant, violation.user, violation.detail);
        for line in log {
            println!("    {line}");
        }
    }
    let seconds = report.elapsed.as_secs_f64().max(0.001);
    println!(
        "audit: seed {}, {:.0} s, {:.1} operations per second",
        args.seed,
        seconds,
        report.operations as f64 / seconds
    );
    println!(
        "audit: {} users, {} days, {} operations, {} violations",
        args.users,
        args.days,
        report.operations,
        report.violations.len()
    );
    if report.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
