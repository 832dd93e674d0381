//! Stripe-looking ids (`cus_…`, `sub_…`) that are unique per emulator process, generated
//! codes (coupon ids, promotion codes), and a small random source for chaos shuffling.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static COUNTER: AtomicU64 = AtomicU64::new(1);

/// A random 64-bit number (from the std hasher's per-process random keys).
pub fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// `prefix_` followed by 14 base-62 characters.
pub fn new_id(prefix: &str) -> String {
    let mut n = random_u64() as u128 | ((COUNTER.fetch_add(1, Ordering::Relaxed) as u128) << 64);
    let mut out = String::with_capacity(prefix.len() + 15);
    out.push_str(prefix);
    out.push('_');
    for _ in 0..14 {
        out.push(ALPHABET[(n % 62) as usize] as char);
        n /= 62;
    }
    out
}

/// `len` random characters from `A-Z0-9`: generated coupon ids and promotion codes.
pub fn code(len: usize) -> String {
    const UPPER: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut n = random_u64();
    (0..len)
        .map(|i| {
            if i % 12 == 11 {
                n = random_u64();
            }
            let c = UPPER[(n % 36) as usize] as char;
            n /= 36;
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_prefixed_and_distinct() {
        let a = super::new_id("cus");
        let b = super::new_id("cus");
        assert!(a.starts_with("cus_") && a.len() == 18, "{a}");
        assert_ne!(a, b);
    }
}
