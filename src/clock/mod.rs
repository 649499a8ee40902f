//! Wall-clock time as alpi reads and writes it: UTC ISO-8601 stamps and microseconds
//! since the epoch, with no time-zone database. Protocol code takes `now` as an
//! argument (an injected clock); only the edges call [`now_micros`].

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

    /// The calendar time of `micros` since the epoch (negative values clamp to it).
    pub fn from_micros(micros: i64) -> Self {
        Self::from_system(UNIX_EPOCH + Duration::from_micros(micros.max(0) as u64))
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

/// Microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// Parses `YYYY-MM-DD[T ]HH:MM:SS[.f…](Z|±HH:MM)` — what Python's `fromisoformat` reads
/// in an envelope — to microseconds since the epoch. A time without an offset is
/// rejected: it cannot be compared with a UTC clock.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let (month, day) = (digits(&b[5..7])?, digits(&b[8..10])?);
    let (hour, minute, second) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &b[19..];
    let mut micros = 0i64;
    if let Some(frac) = rest.strip_prefix(b".") {
        let len = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 || len > 9 {
            return None;
        }
        let scaled = frac[..len].iter().chain(std::iter::repeat(&b'0')).take(6);
        micros = scaled.fold(0, |acc, d| acc * 10 + i64::from(d - b'0'));
        rest = &frac[len..];
    }
    let offset_secs = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month as u32, day as u32);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(secs * 1_000_000 + micros)
}

fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |acc, c| c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0')))
}

pub(crate) fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
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

    #[test]
    fn parses_every_form_an_envelope_may_carry() {
        let base = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
        assert_eq!(parse_iso8601("2026-01-01T00:00:00Z"), Some(base));
        assert_eq!(parse_iso8601("2026-01-01T00:00:00.000001Z"), Some(base + 1));
        assert_eq!(parse_iso8601("2026-01-01T00:00:00.5+00:00"), Some(base + 500_000));
        assert_eq!(parse_iso8601("2026-01-01T01:30:00+01:30"), Some(base));
        assert_eq!(parse_iso8601("2025-12-31T23:00:00-01:00"), Some(base));
        assert_eq!(parse_iso8601("2026-01-01 00:00:00.123456789Z"), Some(base + 123_456));
        for bad in [
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00.Z",
            "2026-02-29T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00+0100",
            "2026-1-01T00:00:00Z",
            "",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }

    #[test]
    fn formatting_and_parsing_agree() {
        for micros in [0, 1, 951_782_400_005_000, 1_767_225_600_000_042, 4_102_444_799_999_999] {
            let text = UtcTime::from_micros(micros).iso_micros();
            assert_eq!(parse_iso8601(&text), Some(micros), "{text}");
        }
    }

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
