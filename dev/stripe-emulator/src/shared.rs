//! What the HTTP surface and webhook delivery share: the world behind one lock, the queue of
//! events waiting for delivery, and counters.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Mutex, MutexGuard, mpsc};

use crate::model::Event;
use crate::world::World;

pub struct Shared {
    pub world: Mutex<World>,
    deliveries: mpsc::UnboundedSender<Vec<Event>>,
    /// TCP connections accepted by the API listener (clients that pool connections open few).
    connections: AtomicU64,
    /// Stripe API requests received (with any key), for tests that assert "no call" and clocks
    /// that move when Stripe has served a request.
    api_requests: AtomicU64,
    /// Batches of events handed to delivery and not finished yet (every attempt made, retries
    /// included): what a test waits for before it reads what the receiver made of them.
    in_flight: AtomicU64,
}

impl Shared {
    /// The shared state and the receiving end of its delivery queue.
    pub fn new(world: World) -> (Self, mpsc::UnboundedReceiver<Vec<Event>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Self {
            world: Mutex::new(world),
            deliveries: tx,
            connections: AtomicU64::new(0),
            api_requests: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
        };
        (shared, rx)
    }

    /// Ends an operation: its events go to webhook delivery when it succeeded and are dropped
    /// when it failed (a failed operation changed nothing).
    pub fn settle(&self, world: &mut MutexGuard<'_, World>, succeeded: bool) {
        let events = std::mem::take(&mut world.pending);
        if succeeded && !events.is_empty() {
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            if self.deliveries.send(events).is_err() {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// A batch's delivery finished (delivered, dropped, or out of retries).
    pub fn batch_done(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    /// Batches whose delivery is not finished.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub fn count_connection(&self) {
        self.connections.fetch_add(1, Ordering::SeqCst);
    }

    pub fn count_api_request(&self) {
        self.api_requests.fetch_add(1, Ordering::SeqCst);
    }

    /// Stripe API requests received so far.
    pub fn api_requests(&self) -> u64 {
        self.api_requests.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
}
