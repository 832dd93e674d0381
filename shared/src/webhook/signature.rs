//! `Stripe-Signature` headers: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}.{body}">[,v1=…]`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Hex HMAC-SHA256 of `"{timestamp}.{payload}"` under `secret` (the whole `whsec_…` string is
/// the key, as Stripe does).
pub fn compute_v1(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    hex::encode(mac.finalize().into_bytes())
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
