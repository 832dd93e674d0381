//! Test clocks (`clock_…`): a frozen time the objects of the clock's customers live on, moved
//! forward only by an advance.

use serde_json::{Value, json};

use super::DAY;

/// How long after its creation Stripe deletes a test clock (`deletes_after`).
pub const TEST_CLOCK_LIFETIME: i64 = 30 * DAY;

#[derive(Debug, Clone)]
pub struct TestClock {
    pub id: String,
    pub name: Option<String>,
    /// Real (emulator) time of creation, not the clock's own.
    pub created: i64,
    pub frozen_time: i64,
    /// `ready`, or `advancing` while an advance walks the clock's objects forward.
    pub status: &'static str,
}

impl TestClock {
    pub fn render(&self) -> Value {
        json!({
            "id": self.id, "object": "test_helpers.test_clock", "created": self.created,
            "deletes_after": self.created + TEST_CLOCK_LIFETIME, "frozen_time": self.frozen_time, "livemode": false,
            "name": self.name, "status": self.status, "status_details": {}
        })
    }

    /// The clock as an advance to `target` answers it: still at its old `frozen_time`,
    /// `advancing` towards `status_details.advancing.target_frozen_time`.
    pub fn render_advancing(&self, target: i64) -> Value {
        let mut value = self.render();
        value["status"] = json!("advancing");
        value["status_details"] = json!({"advancing": {"target_frozen_time": target}});
        value
    }

    pub fn render_deleted(&self) -> Value {
        json!({"id": self.id, "object": "test_helpers.test_clock", "deleted": true})
    }
}
