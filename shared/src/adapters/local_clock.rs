//! The shared clock of a local run: the Stripe emulator writes how far its clock is ahead of the
//! system's (whole seconds) to a file whenever it moves; every function of the local stack reads
//! it (`LOCAL_CLOCK_FILE`, refused outside a local run by [`crate::config`]). Renewals, trial
//! ends and grace periods then happen at the same time for Stripe and for the access rules, as
//! they do in production, where both follow the real clock.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::clock::{Clock, now_epoch};

/// How long an offset read from the file is trusted.
const REREAD: Duration = Duration::from_millis(100);

/// The system clock plus the offset in a file (0 while the file is missing or unreadable).
#[derive(Debug)]
pub struct FileOffsetClock {
    path: PathBuf,
    last: Mutex<Option<(Instant, i64)>>,
}

impl FileOffsetClock {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            last: Mutex::new(None),
        }
    }

    fn offset(&self) -> i64 {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, offset)) = *last
            && at.elapsed() < REREAD
        {
            return offset;
        }
        let offset = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok())
            .unwrap_or(0);
        *last = Some((Instant::now(), offset));
        offset
    }
}

impl Clock for FileOffsetClock {
    fn now(&self) -> i64 {
        now_epoch() + self.offset()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_moves_the_clock() {
        let path = std::env::temp_dir().join(format!("stripe-lambda-clock-{}", std::process::id()));
        let clock = FileOffsetClock::new(path.clone());
        assert!((clock.now() - now_epoch()).abs() <= 1, "no file: the system clock");
        std::fs::write(&path, "86400\n").unwrap();
        std::thread::sleep(REREAD);
        assert!((clock.now() - now_epoch() - 86_400).abs() <= 1);
        std::fs::remove_file(&path).unwrap();
    }
}
