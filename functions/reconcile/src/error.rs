//! The function's one error enum and what an invoker sees of it (its kind; the cause chain goes
//! to the log only).

use billing::services::reconcile::ReconcileError;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileFnError {
    /// The invoke payload is not one this function takes.
    #[error("bad payload: {0}")]
    Payload(String),
    #[error("the reconcile function has no stripe client")]
    Stripe(#[from] billing::adapters::stripe::GatewayError),
    #[error(transparent)]
    Run(#[from] ReconcileError),
}

impl From<ReconcileFnError> for lambda_runtime::Diagnostic {
    fn from(err: ReconcileFnError) -> Self {
        let (error_type, error_message) = match &err {
            // The caller's own input (or an id it sent): safe and useful to say back.
            ReconcileFnError::Payload(problem) => ("BadPayload", problem.clone()),
            ReconcileFnError::Run(ReconcileError::NotFound(what)) => ("NotFound", what.clone()),
            ReconcileFnError::Stripe(_) => ("NotConfigured", "the reconcile run failed; see the function's log".to_owned()),
            ReconcileFnError::Run(ReconcileError::Store(_)) => {
                ("StoreUnavailable", "the reconcile run failed; see the function's log".to_owned())
            }
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message,
        }
    }
}
