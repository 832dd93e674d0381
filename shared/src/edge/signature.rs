//! `Stripe-Signature` headers: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}.{body}">[,v1=…]`.
//!
//! [`verify`] accepts a request when ANY `v1` in the header matches the HMAC under ANY configured
//! secret (several while a secret is rolled), compared in constant time, and the timestamp is
//! within the tolerance in both directions. There is no way to switch verification off: an empty
//! secrets list (or one holding only empty strings) is an error, never a pass.

use std::time::Duration;

use hmac::{Hmac, Mac};
use lambda_http::Body;
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

use crate::config::Secret;

type HmacSha256 = Hmac<Sha256>;

/// The header Stripe signs webhooks with (lowercase, as `http` header names are).
pub const HEADER: &str = "stripe-signature";

/// The largest webhook body accepted (1 MiB); Stripe's events are far smaller.
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// Length in bytes of an HMAC-SHA256 tag (a `v1` value is its 64-character lowercase hex).
const MAC_LEN: usize = 32;

/// Why a webhook request was rejected. Messages never contain a secret or a computed signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing Stripe-Signature header")]
    MissingHeader,
    #[error("malformed Stripe-Signature header")]
    MalformedHeader,
    #[error("Stripe-Signature header has no timestamp")]
    NoTimestamp,
    #[error("Stripe-Signature header timestamp is not a number")]
    InvalidTimestamp,
    #[error("Stripe-Signature header has no v1 signature")]
    NoSignature,
    #[error("Stripe-Signature timestamp is older than the tolerance")]
    TimestampTooOld,
    #[error("Stripe-Signature timestamp is further in the future than the tolerance")]
    TimestampInFuture,
    #[error("no Stripe-Signature v1 signature matches the payload")]
    NoMatchingSignature,
    #[error("no webhook signing secrets are configured")]
    NoSecrets,
    #[error("webhook payload of {len} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit")]
    TooLarge { len: usize },
}

impl SignatureError {
    /// A stable code for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingHeader => "missing_header",
            Self::MalformedHeader => "malformed_header",
            Self::NoTimestamp => "no_timestamp",
            Self::InvalidTimestamp => "invalid_timestamp",
            Self::NoSignature => "no_v1_signature",
            Self::TimestampTooOld => "timestamp_too_old",
            Self::TimestampInFuture => "timestamp_in_future",
            Self::NoMatchingSignature => "no_matching_signature",
            Self::NoSecrets => "no_secrets_configured",
            Self::TooLarge { .. } => "payload_too_large",
        }
    }

    /// True when the fault is ours (no secrets configured), not the request's: worth a 500 and
    /// an alarm rather than a 400.
    pub fn is_configuration_error(&self) -> bool {
        matches!(self, Self::NoSecrets)
    }
}

/// The HMAC-SHA256 tag of `"{timestamp}.{payload}"` under `secret`.
fn mac(secret: &str, timestamp: i64, payload: &[u8]) -> [u8; MAC_LEN] {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac.finalize().into_bytes().into()
}

/// Hex HMAC-SHA256 of `"{timestamp}.{payload}"` under `secret` (the whole `whsec_…` string is
/// the key, as Stripe does).
pub fn compute_v1(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, payload))
}

/// A `Stripe-Signature` header value signing `payload` at `timestamp` with each secret
/// (one `v1` per secret, as Stripe does while a secret is rolled).
pub fn sign_header(secrets: &[&str], timestamp: i64, payload: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&compute_v1(secret, timestamp, payload));
    }
    header
}

/// The `Stripe-Signature` header of a request: `Ok(None)` when absent, [`SignatureError::MalformedHeader`]
/// when it is not visible ASCII or is repeated.
pub fn header_value(headers: &http::HeaderMap) -> Result<Option<&str>, SignatureError> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(SignatureError::MalformedHeader);
    }
    first.to_str().map(Some).map_err(|_| SignatureError::MalformedHeader)
}

/// The raw bytes of a request body, exactly as received (lambda_http has already decoded a
/// base64-encoded body into [`Body::Binary`]); bodies over [`MAX_PAYLOAD_BYTES`] are rejected.
pub fn payload_bytes(body: &Body) -> Result<&[u8], SignatureError> {
    // `Body` is non-exhaustive; its `AsRef<[u8]>` gives the bytes of Text/Binary and `&[]` for Empty.
    let bytes: &[u8] = body.as_ref();
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(SignatureError::TooLarge { len: bytes.len() });
    }
    Ok(bytes)
}

/// A parsed header: the timestamp and every well-formed `v1` tag (malformed ones are skipped).
struct ParsedHeader {
    timestamp: i64,
    signatures: Vec<[u8; MAC_LEN]>,
}

/// Decodes a `v1` value: exactly 64 lowercase hex digits (what Stripe sends), else `None`.
fn decode_v1(value: &str) -> Option<[u8; MAC_LEN]> {
    if value.len() != MAC_LEN * 2 || !value.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; MAC_LEN];
    hex::decode_to_slice(value, &mut out).ok()?;
    Some(out)
}

fn parse_header(header: &str) -> Result<ParsedHeader, SignatureError> {
    let mut timestamp: Option<&str> = None;
    let mut seen_v1 = false;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        // Items without `=` and other schemes (`v0`, future ones) are ignored, as Stripe's libraries do.
        let Some((key, value)) = item.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "t" if timestamp.is_some() => return Err(SignatureError::MalformedHeader),
            "t" => timestamp = Some(value),
            "v1" => {
                seen_v1 = true;
                signatures.extend(decode_v1(value));
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::NoTimestamp)?;
    // Digits only: no sign, no spaces, no exponent; overflow is an error too.
    if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::InvalidTimestamp);
    }
    let timestamp = timestamp.parse::<i64>().map_err(|_| SignatureError::InvalidTimestamp)?;
    if !seen_v1 {
        return Err(SignatureError::NoSignature);
    }
    Ok(ParsedHeader { timestamp, signatures })
}

/// Verifies a `Stripe-Signature` header over the raw `payload` and returns its timestamp.
///
/// Accepts when any `v1` matches under any non-empty secret in `secrets` and
/// `|now - t| <= tolerance` (whole seconds). The signature is checked before the timestamp, so
/// a timestamp error means a genuine but stale (or early) event.
pub fn verify(header: Option<&str>, payload: &[u8], secrets: &[Secret], tolerance: Duration, now: i64) -> Result<i64, SignatureError> {
    let secrets: Vec<&str> = secrets.iter().map(Secret::expose).filter(|s| !s.is_empty()).collect();
    if secrets.is_empty() {
        return Err(SignatureError::NoSecrets);
    }
    let header = header.filter(|h| !h.trim().is_empty()).ok_or(SignatureError::MissingHeader)?;
    let parsed = parse_header(header)?;

    let mut matched = Choice::from(0);
    for secret in secrets {
        let expected = mac(secret, parsed.timestamp, payload);
        for candidate in &parsed.signatures {
            matched |= expected.ct_eq(candidate);
        }
    }
    if !bool::from(matched) {
        return Err(SignatureError::NoMatchingSignature);
    }

    let tolerance = i128::from(tolerance.as_secs());
    let age = i128::from(now) - i128::from(parsed.timestamp);
    if age > tolerance {
        return Err(SignatureError::TimestampTooOld);
    }
    if -age > tolerance {
        return Err(SignatureError::TimestampInFuture);
    }
    Ok(parsed.timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const OTHER: &str = "whsec_other_secret";
    const NOW: i64 = 1_700_000_000;
    const PAYLOAD: &[u8] = br#"{"id":"evt_123","object":"event","type":"customer.subscription.updated"}"#;
    const TOLERANCE: Duration = Duration::from_secs(300);

    fn secrets(values: &[&str]) -> Vec<Secret> {
        values.iter().map(|v| Secret::new(*v)).collect()
    }

    fn check(header: &str, payload: &[u8], with: &[&str]) -> Result<i64, SignatureError> {
        verify(Some(header), payload, &secrets(with), TOLERANCE, NOW)
    }

    #[test]
    fn valid_signature_is_accepted() {
        let header = sign_header(&[SECRET], NOW, PAYLOAD);
        assert_eq!(check(&header, PAYLOAD, &[SECRET]), Ok(NOW));
    }

    #[test]
    fn whitespace_and_other_schemes_are_tolerated() {
        let v1 = compute_v1(SECRET, NOW, PAYLOAD);
        let header = format!(" t = {NOW} , v0=abc ,  v1= {v1} ,junk, x=1");
        assert_eq!(check(&header, PAYLOAD, &[SECRET]), Ok(NOW));
    }

    #[test]
    fn second_v1_matching_is_accepted() {
        let header = format!(
            "t={NOW},v1={},v1={}",
            compute_v1(OTHER, NOW, PAYLOAD),
            compute_v1(SECRET, NOW, PAYLOAD)
        );
        assert_eq!(check(&header, PAYLOAD, &[SECRET]), Ok(NOW));
    }

    #[test]
    fn second_secret_matching_is_accepted() {
        // Secret rolling: the old secret is still configured first, the event is signed with the new one.
        let header = sign_header(&[SECRET], NOW, PAYLOAD);
        assert_eq!(check(&header, PAYLOAD, &[OTHER, SECRET]), Ok(NOW));
    }

    #[test]
    fn empty_secret_is_never_a_bypass() {
        let header = sign_header(&[""], NOW, PAYLOAD);
        assert_eq!(check(&header, PAYLOAD, &[""]), Err(SignatureError::NoSecrets));
        assert_eq!(check(&header, PAYLOAD, &["", SECRET]), Err(SignatureError::NoMatchingSignature));
    }

    #[test]
    fn empty_secrets_list_is_rejected() {
        let header = sign_header(&[SECRET], NOW, PAYLOAD);
        assert_eq!(check(&header, PAYLOAD, &[]), Err(SignatureError::NoSecrets));
        assert!(SignatureError::NoSecrets.is_configuration_error());
    }

    #[test]
    fn missing_header_is_rejected() {
        let err = verify(None, PAYLOAD, &secrets(&[SECRET]), TOLERANCE, NOW);
        assert_eq!(err, Err(SignatureError::MissingHeader));
        assert_eq!(check("  ", PAYLOAD, &[SECRET]), Err(SignatureError::MissingHeader));
    }

    #[test]
    fn header_without_timestamp_is_rejected() {
        let header = format!("v1={}", compute_v1(SECRET, NOW, PAYLOAD));
        assert_eq!(check(&header, PAYLOAD, &[SECRET]), Err(SignatureError::NoTimestamp));
    }

    #[test]
    fn non_numeric_timestamp_is_rejected() {
        let v1 = compute_v1(SECRET, NOW, PAYLOAD);
        for t in ["abc", "", "-1", "+1700000000", "1.7e9", "99999999999999999999"] {
            let header = format!("t={t},v1={v1}");
            assert_eq!(check(&header, PAYLOAD, &[SECRET]), Err(SignatureError::InvalidTimestamp), "t={t}");
        }
    }

    #[test]
    fn duplicate_timestamp_is_rejected() {
        let v1 = compute_v1(SECRET, NOW, PAYLOAD);
        let header = format!("t={NOW},t={NOW},v1={v1}");
        assert_eq!(check(&header, PAYLOAD, &[SECRET]), Err(SignatureError::MalformedHeader));
    }

    #[test]
    fn header_without_v1_is_rejected() {
        let header = format!("t={NOW},v0={}", compute_v1(SECRET, NOW, PAYLOAD));
        assert_eq!(check(&header, PAYLOAD, &[SECRET]), Err(SignatureError::NoSignature));
    }

    #[test]
    fn changed_body_byte_is_rejected() {
        let header = sign_header(&[SECRET], NOW, PAYLOAD);
        let mut tampered = PAYLOAD.to_vec();
        tampered[10] ^= 1;
        assert_eq!(check(&header, &tampered, &[SECRET]), Err(SignatureError::NoMatchingSignature));
    }

    #[test]
    fn wrong_secret_is_rejected() {
        let header = sign_header(&[OTHER], NOW, PAYLOAD);
        assert_eq!(check(&header, PAYLOAD, &[SECRET]), Err(SignatureError::NoMatchingSignature));
    }

    #[test]
    fn signature_over_other_timestamp_is_rejected() {
        let header = format!("t={},v1={}", NOW - 1, compute_v1(SECRET, NOW, PAYLOAD));
        assert_eq!(check(&header, PAYLOAD, &[SECRET]), Err(SignatureError::NoMatchingSignature));
    }

    #[test]
    fn uppercase_or_garbage_v1_does_not_match() {
        let v1 = compute_v1(SECRET, NOW, PAYLOAD);
        let garbage = ["", "zz", "not-hex", &v1[..62], &format!("{v1}00"), &format!("{}zz", &v1[..62])];
        for bad in [v1.to_uppercase().as_str()].into_iter().chain(garbage) {
            let header = format!("t={NOW},v1={bad}");
            assert_eq!(
                check(&header, PAYLOAD, &[SECRET]),
                Err(SignatureError::NoMatchingSignature),
                "v1={bad}"
            );
        }
        // A garbage v1 next to a valid one is skipped, not fatal.
        let header = format!("t={NOW},v1=garbage,v1={v1}");
        assert_eq!(check(&header, PAYLOAD, &[SECRET]), Ok(NOW));
    }

    #[test]
    fn exactly_tolerance_old_is_accepted_one_more_is_rejected() {
        let t = NOW - 300;
        assert_eq!(check(&sign_header(&[SECRET], t, PAYLOAD), PAYLOAD, &[SECRET]), Ok(t));
        let t = NOW - 301;
        assert_eq!(
            check(&sign_header(&[SECRET], t, PAYLOAD), PAYLOAD, &[SECRET]),
            Err(SignatureError::TimestampTooOld)
        );
    }

    #[test]
    fn future_timestamp_beyond_tolerance_is_rejected() {
        let t = NOW + 300;
        assert_eq!(check(&sign_header(&[SECRET], t, PAYLOAD), PAYLOAD, &[SECRET]), Ok(t));
        let t = NOW + 301;
        assert_eq!(
            check(&sign_header(&[SECRET], t, PAYLOAD), PAYLOAD, &[SECRET]),
            Err(SignatureError::TimestampInFuture)
        );
    }

    #[test]
    fn extreme_timestamps_and_tolerances_do_not_overflow() {
        let header = sign_header(&[SECRET], i64::MAX, PAYLOAD);
        assert_eq!(check(&header, PAYLOAD, &[SECRET]), Err(SignatureError::TimestampInFuture));
        let header = sign_header(&[SECRET], 0, PAYLOAD);
        let result = verify(Some(&header), PAYLOAD, &secrets(&[SECRET]), Duration::MAX, i64::MIN);
        assert_eq!(result, Ok(0));
    }

    #[test]
    fn errors_never_show_secrets_or_signatures() {
        let v1 = compute_v1(SECRET, NOW, PAYLOAD);
        let cases = [
            format!("t={NOW},v1={}", compute_v1(OTHER, NOW, PAYLOAD)),
            format!("t={},v1={}", NOW - 1000, compute_v1(SECRET, NOW - 1000, PAYLOAD)),
            format!("t=x,v1={v1}"),
        ];
        for header in cases {
            let err = check(&header, PAYLOAD, &[SECRET]).unwrap_err();
            let shown = format!("{err} {err:?} {}", err.reason());
            assert!(!shown.contains(SECRET) && !shown.contains(&v1[..16]), "{shown}");
        }
    }

    #[test]
    fn reasons_are_distinct() {
        let all = [
            SignatureError::MissingHeader,
            SignatureError::MalformedHeader,
            SignatureError::NoTimestamp,
            SignatureError::InvalidTimestamp,
            SignatureError::NoSignature,
            SignatureError::TimestampTooOld,
            SignatureError::TimestampInFuture,
            SignatureError::NoMatchingSignature,
            SignatureError::NoSecrets,
            SignatureError::TooLarge { len: 0 },
        ];
        let reasons: std::collections::HashSet<_> = all.iter().map(SignatureError::reason).collect();
        assert_eq!(reasons.len(), all.len());
    }

    #[test]
    fn header_value_reads_one_ascii_header() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(header_value(&headers), Ok(None));
        headers.insert("Stripe-Signature", http::HeaderValue::from_static("t=1,v1=ab"));
        assert_eq!(header_value(&headers), Ok(Some("t=1,v1=ab")));
        headers.append(HEADER, http::HeaderValue::from_static("t=2"));
        assert_eq!(header_value(&headers), Err(SignatureError::MalformedHeader));
        let mut headers = http::HeaderMap::new();
        headers.insert(HEADER, http::HeaderValue::from_bytes(b"t=1,v1=\xff").unwrap());
        assert_eq!(header_value(&headers), Err(SignatureError::MalformedHeader));
    }

    #[test]
    fn payload_bytes_returns_raw_bytes() {
        assert_eq!(payload_bytes(&Body::Empty), Ok(&b""[..]));
        let text = Body::Text("{\"id\":\"evt_1\"}".into());
        assert_eq!(payload_bytes(&text), Ok(&b"{\"id\":\"evt_1\"}"[..]));
        let binary = Body::Binary(vec![0xff, 0x00, b'{']);
        assert_eq!(payload_bytes(&binary), Ok(&[0xff, 0x00, b'{'][..]));
    }

    #[test]
    fn oversized_payload_is_rejected() {
        let at_limit = Body::Binary(vec![b'a'; MAX_PAYLOAD_BYTES]);
        assert_eq!(payload_bytes(&at_limit).map(<[u8]>::len), Ok(MAX_PAYLOAD_BYTES));
        let over = Body::Binary(vec![b'a'; MAX_PAYLOAD_BYTES + 1]);
        let err = payload_bytes(&over).unwrap_err();
        assert_eq!(
            err,
            SignatureError::TooLarge {
                len: MAX_PAYLOAD_BYTES + 1
            }
        );
        assert_eq!(err.reason(), "payload_too_large");
        let over_text = Body::Text("a".repeat(MAX_PAYLOAD_BYTES + 1));
        assert!(matches!(payload_bytes(&over_text), Err(SignatureError::TooLarge { .. })));
    }
}
