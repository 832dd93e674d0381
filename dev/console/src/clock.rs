//! The emulator's clock (`/_emulator/clock`), which the local functions share
//! (`LOCAL_CLOCK_FILE`): read it, and move it by days or by calendar months, so that "a month"
//! reaches a monthly renewal whatever the month's length.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::problem::Problem;
use crate::state::Console;

/// The most the console moves the clock in one step.
const MAX_DAYS: i64 = 400;
const MAX_MONTHS: i64 = 12;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advance {
    #[serde(default)]
    days: i64,
    #[serde(default)]
    months: i64,
}

pub async fn now(State(console): State<Arc<Console>>) -> Response {
    match read(&console).await {
        Ok(now) => Json(json!({ "now": now })).into_response(),
        Err(problem) => problem.into_response(),
    }
}

pub async fn advance(State(console): State<Arc<Console>>, body: axum::body::Bytes) -> Response {
    match move_clock(&console, &body).await {
        Ok(answer) => Json(answer).into_response(),
        Err(problem) => problem.into_response(),
    }
}

async fn move_clock(console: &Console, body: &[u8]) -> Result<Value, Problem> {
    let request: Advance = serde_json::from_slice(body)
        .map_err(|err| Problem::invalid("body", format!("Send {{\"days\": n}} or {{\"months\": n}}: {err}.")))?;
    if !(0..=MAX_DAYS).contains(&request.days) {
        return Err(Problem::invalid("days", format!("days must be between 0 and {MAX_DAYS}.")));
    }
    if !(0..=MAX_MONTHS).contains(&request.months) {
        return Err(Problem::invalid("months", format!("months must be between 0 and {MAX_MONTHS}.")));
    }
    let from = read(console).await?;
    let to = add_months(from, request.months)
        .map(|t| t + request.days * 86_400)
        .ok_or_else(|| Problem::invalid("months", "The clock cannot move that far."))?;
    let answer = console
        .http
        .post(format!("{}/_emulator/clock/advance", console.stripe))
        .json(&json!({ "seconds": to - from }))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|err| Problem::unavailable("Stripe emulator", &err))?;
    let moved: Value = answer.json().await.map_err(|err| Problem::unavailable("Stripe emulator", &err))?;
    Ok(json!({ "from": from, "now": moved["now"] }))
}

async fn read(console: &Console) -> Result<i64, Problem> {
    let answer = console
        .http
        .get(format!("{}/_emulator/clock", console.stripe))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|err| Problem::unavailable("Stripe emulator", &err))?;
    let clock: Value = answer.json().await.map_err(|err| Problem::unavailable("Stripe emulator", &err))?;
    clock["now"]
        .as_i64()
        .ok_or_else(|| Problem::unavailable("Stripe emulator", &NoClock))
}

#[derive(Debug, thiserror::Error)]
#[error("GET /_emulator/clock answered without a `now`")]
struct NoClock;

/// `at` moved by whole calendar months, the day of the month kept where the month has it (else
/// its last day), as Stripe moves a monthly billing cycle.
fn add_months(at: i64, months: i64) -> Option<i64> {
    let start = OffsetDateTime::from_unix_timestamp(at).ok()?;
    let index = i64::from(start.year()) * 12 + i64::from(u8::from(start.month())) - 1 + months;
    let year = i32::try_from(index.div_euclid(12)).ok()?;
    let month = time::Month::try_from(u8::try_from(index.rem_euclid(12) + 1).ok()?).ok()?;
    let day = start.day().min(month.length(year));
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    Some(start.replace_date(date).unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_calendar_months() {
        // 2026-01-31T12:00:00Z → 2026-02-28T12:00:00Z → (from Jan 31, two months) 2026-03-31.
        let jan31 = 1_769_860_800;
        assert_eq!(add_months(jan31, 1), Some(jan31 + 28 * 86_400));
        assert_eq!(add_months(jan31, 2), Some(jan31 + 59 * 86_400));
        // 2026-12-06 → 2027-01-06: across a year.
        let dec6 = 1_796_558_400;
        assert_eq!(add_months(dec6, 1), Some(dec6 + 31 * 86_400));
        assert_eq!(add_months(dec6, 0), Some(dec6));
    }
}
