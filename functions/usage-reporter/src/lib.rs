//! The usage reporter: metered usage to Stripe's meters, exactly once in effect, run on a
//! schedule (EventBridge Scheduler; the local stack runs it every minute).

pub mod handler;

/// What this function needs configured at startup.
pub const NEEDS: billing::Needs = billing::Needs {
    stripe: true,
    webhook_secrets: false,
    redirects: false,
};
