//! Wall-clock time as alpi writes it: UTC ISO-8601 stamps, with no time-zone database.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A UTC calendar time split into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub micros: u32,
}

impl UtcTime {
    pub fn from_system(t: SystemTime) -> Self {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let secs = since.as_secs() as i64;
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        Self {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem / 60 % 60) as u32,
            second: (rem % 60) as u32,
            micros: since.subsec_micros(),
        }
    }

    pub fn now() -> Self {
        Self::from_system(SystemTime::now())
    }

    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, the envelope timestamp form.
    pub fn iso_micros(&self) -> String {
        format!("{}.{:06}Z", self.iso_seconds_body(), self.micros)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn iso_seconds(&self) -> String {
        format!("{}Z", self.iso_seconds_body())
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`, the log line form.
    pub fn iso_millis(&self) -> String {
        format!("{}.{:03}Z", self.iso_seconds_body(), self.micros / 1000)
    }

    fn iso_seconds_body(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Seconds since the Unix epoch, as the float the profile files store.
pub fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, micros: u32) -> UtcTime {
        UtcTime::from_system(UNIX_EPOCH + Duration::new(secs, micros * 1000))
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(at(0, 0).iso_micros(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(1_767_225_600, 42).iso_micros(), "2026-01-01T00:00:00.000042Z");
        // 2024-02-29 (leap day) 23:59:59.
        assert_eq!(at(1_709_251_199, 999_999).iso_seconds(), "2024-02-29T23:59:59Z");
        assert_eq!(at(951_782_400, 5_000).iso_millis(), "2000-02-29T00:00:00.005Z");
    }
}
