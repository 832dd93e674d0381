//! The events the live feed keeps for the page: the last [`KEEP`], numbered from 1 as they
//! arrive, and why there is no feed while there is none.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde_json::Value;

/// Events kept for the page.
const KEEP: usize = 500;

#[derive(Default)]
pub struct Feed {
    state: Mutex<Kept>,
}

#[derive(Default)]
pub struct Kept {
    /// The sequence number of the last event kept (the first is 1).
    pub last: u64,
    pub events: VecDeque<(u64, Value)>,
    /// Why there is no feed, while there is none.
    pub trouble: Option<String>,
}

impl Feed {
    pub fn push(&self, event: Value) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.last += 1;
        let seq = state.last;
        state.events.push_back((seq, event));
        if state.events.len() > KEEP {
            state.events.pop_front();
        }
    }

    /// What is kept now (held until dropped: read and let go).
    pub fn read(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn trouble(&self, trouble: Option<String>) {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).trouble = trouble;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_feed_keeps_the_last_events_in_order() {
        let feed = Feed::default();
        for n in 0..(KEEP + 3) {
            feed.push(json!({ "n": n }));
        }
        let state = feed.state.lock().unwrap();
        assert_eq!(state.last, (KEEP + 3) as u64);
        assert_eq!(state.events.len(), KEEP);
        assert_eq!(state.events.front().map(|(seq, _)| *seq), Some(4));
    }
}
