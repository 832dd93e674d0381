//! Signed webhook delivery: every batch of events an operation produced is POSTed to each
//! configured endpoint with `Stripe-Signature: t=…,v1=…` (one v1 per configured secret).
//! Non-2xx responses and connection errors are retried with exponential backoff; every attempt
//! is recorded. Chaos switches duplicate, shuffle or delay deliveries.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::ids::random_u64;
use crate::model::Event;
use crate::shared::Shared;
use crate::world::{Attempt, Delivery};

/// Runs until the sender side closes.
pub async fn run(shared: Arc<Shared>, mut batches: mpsc::UnboundedReceiver<Vec<Event>>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    while let Some(batch) = batches.recv().await {
        let (urls, secrets, chaos, retries, backoff) = {
            let world = shared.world.lock().await;
            let s = &world.settings;
            (
                s.webhook_urls.clone(),
                s.webhook_secrets.clone(),
                world.chaos.clone(),
                s.delivery_retries,
                s.delivery_backoff_ms,
            )
        };
        if urls.is_empty() {
            shared.batch_done();
            continue;
        }
        let mut retries_of_batch = Vec::new();
        let mut batch: Vec<Event> = if chaos.duplicates {
            batch.into_iter().flat_map(|e| [e.clone(), e]).collect()
        } else {
            batch
        };
        if chaos.shuffle {
            for i in (1..batch.len()).rev() {
                batch.swap(i, (random_u64() % (i as u64 + 1)) as usize);
            }
        }
        for event in batch {
            if chaos.drop_percent > 0 && random_u64() % 100 < u64::from(chaos.drop_percent) {
                let mut world = shared.world.lock().await;
                for url in &urls {
                    world.deliveries.push(Delivery::of(&event, url, true));
                }
                continue;
            }
            if chaos.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(chaos.delay_ms)).await;
            }
            let payload = serde_json::to_vec(&event.render()).expect("event renders");
            for url in &urls {
                let index = {
                    let mut world = shared.world.lock().await;
                    world.deliveries.push(Delivery::of(&event, url, false));
                    world.deliveries.len() - 1
                };
                let job = Job {
                    shared: shared.clone(),
                    client: client.clone(),
                    url: url.clone(),
                    payload: payload.clone(),
                    secrets: secrets.clone(),
                    index,
                };
                // The first attempt is awaited so that, without chaos, events arrive in order;
                // retries run in the background.
                if !job.attempt().await {
                    retries_of_batch.push(tokio::spawn(job.retry(retries, backoff)));
                }
            }
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            for retry in retries_of_batch {
                let _ = retry.await;
            }
            shared.batch_done();
        });
    }
}

struct Job {
    shared: Arc<Shared>,
    client: reqwest::Client,
    url: String,
    payload: Vec<u8>,
    secrets: Vec<String>,
    index: usize,
}

impl Job {
    async fn attempt(&self) -> bool {
        // Signatures carry wall-clock time (the receiver checks it against its own clock), even
        // after the emulator clock was advanced.
        let now = billing::now_epoch();
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        let signature = billing::edge::signature::sign_header(&secrets, now, &self.payload);
        let result = self
            .client
            .post(&self.url)
            .header("content-type", "application/json; charset=utf-8")
            .header("stripe-signature", signature)
            .header("user-agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks) emulator")
            .body(self.payload.clone())
            .send()
            .await;
        let (status, error, ok) = match result {
            Ok(response) => {
                let status = response.status();
                (Some(status.as_u16()), None, status.is_success())
            }
            Err(err) => (None, Some(err.to_string()), false),
        };
        let mut world = self.shared.world.lock().await;
        let at = world.now();
        if let Some(delivery) = world.deliveries.get_mut(self.index) {
            delivery.attempts.push(Attempt { at, status, error });
            delivery.delivered |= ok;
        }
        if !ok {
            tracing::warn!(url = %self.url, ?status, "webhook delivery failed");
        }
        ok
    }

    async fn retry(self, retries: u32, backoff_ms: u64) {
        let mut wait = backoff_ms;
        for _ in 0..retries {
            tokio::time::sleep(Duration::from_millis(wait)).await;
            if self.attempt().await {
                return;
            }
            wait = wait.saturating_mul(2);
        }
    }
}
