//! Reconcile's checkpoint and the dedupe markers it reads in bulk.

use std::collections::HashSet;

use super::{Store, StoreError, backend, to_item};
use crate::domain::records::{ReconcileState, keys};

/// Keys per BatchGetItem (DynamoDB's limit).
const BATCH: usize = 100;

impl Store {
    /// The stored checkpoint, if a run saved one.
    pub async fn reconcile_state(&self) -> Result<Option<ReconcileState>, StoreError> {
        self.get_as(keys::RECONCILE, keys::SK_RECONCILE_EVENTS).await
    }

    /// Saves the checkpoint. Unconditional: one run at a time is the deployment's rule
    /// (reserved concurrency 1), and an older value written by an overlapping manual run only
    /// makes the next run list a little more again.
    pub async fn save_reconcile_state(&self, state: &ReconcileState) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(state)?))
            .send()
            .await
            .map_err(backend("put_item"))?;
        Ok(())
    }

    /// Which of `event_ids` carry a dedupe marker (were processed), in one BatchGetItem per 100.
    pub async fn event_markers(&self, event_ids: &[&str]) -> Result<HashSet<String>, StoreError> {
        let mut marked = HashSet::new();
        for chunk in event_ids.chunks(BATCH) {
            let wanted: Vec<(String, String)> = chunk.iter().map(|id| (keys::event(id), keys::SK_EVENT.to_owned())).collect();
            // Any stored marker counts, as it does for the engine's own condition (expired ones
            // are deleted by DynamoDB eventually; the engine would refuse them as well).
            for (id, item) in chunk.iter().zip(self.get_many(&wanted).await?) {
                if item.is_some() {
                    marked.insert((*id).to_owned());
                }
            }
        }
        Ok(marked)
    }
}
