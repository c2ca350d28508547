//! Time as a port, so token lifetimes and verification windows are testable.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, as JWT `iat`/`exp`/`nbf` use them.
pub trait Clock: Send + Sync {
    fn now_unix(&self) -> u64;

    /// Time since the Unix epoch with sub-second precision, for cache ages (a secret's TTL is
    /// seconds long, so whole seconds would be too coarse). Defaults to whole seconds.
    fn now(&self) -> Duration {
        Duration::from_secs(self.now_unix())
    }
}

/// The proleptic Gregorian `(year, month, day)` of a Unix time (UTC), for date claims such as
/// LivePerson's `age`. (Howard Hinnant's `civil_from_days`.)
pub fn civil_date(unix: u64) -> (u16, u8, u8) {
    let days = (unix / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year.clamp(0, 9999) as u16, month, day)
}

#[cfg(test)]
mod tests {
    use super::civil_date;

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(951_782_400), (2000, 2, 29));
        assert_eq!(civil_date(1_795_239_802), (2026, 11, 21));
        assert_eq!(civil_date(4_107_542_399), (2100, 2, 28));
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> u64 {
        // A clock before 1970 is a broken host; 0 makes every token look expired rather than panic.
        self.now().as_secs()
    }

    fn now(&self) -> Duration {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO)
    }
}

/// A clock that only moves when told to (unit tests). Counts milliseconds.
#[cfg(any(test, feature = "test-util"))]
#[derive(Debug, Default)]
pub struct FixedClock(std::sync::atomic::AtomicU64);

#[cfg(any(test, feature = "test-util"))]
impl FixedClock {
    pub fn at(unix: u64) -> Self {
        Self(std::sync::atomic::AtomicU64::new(unix.saturating_mul(1000)))
    }
    pub fn advance(&self, seconds: u64) {
        self.0
            .fetch_add(seconds.saturating_mul(1000), std::sync::atomic::Ordering::SeqCst);
    }
    /// Moves the clock by `by`, to the millisecond.
    pub fn advance_by(&self, by: Duration) {
        let millis = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.0.fetch_add(millis, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(any(test, feature = "test-util"))]
impl Clock for FixedClock {
    fn now_unix(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst) / 1000
    }

    fn now(&self) -> Duration {
        Duration::from_millis(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}
