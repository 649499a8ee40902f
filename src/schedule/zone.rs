//! Local time for the scheduler: the offset from UTC at an instant (the C library's
//! `localtime_r`, which reads `TZ` or `/etc/localtime`), and the way back from a wall
//! clock reading to an instant across daylight-saving changes.

use crate::clock::{civil_from_days, days_from_civil};

/// A time zone: how far local time is ahead of UTC at an instant.
pub trait Zone {
    /// Seconds east of UTC at `utc` (seconds since the epoch).
    fn offset_at(&self, utc: i64) -> i64;
}

/// The process's local zone.
pub struct SystemZone;

impl Zone for SystemZone {
    fn offset_at(&self, utc: i64) -> i64 {
        // libc marks musl's `time_t` deprecated over the time64 move; on 32-bit musl it is
        // the 32-bit one, which matches the `localtime_r` symbol it links (until 2038).
        #[allow(deprecated)]
        let t = utc as libc::time_t;
        // SAFETY: localtime_r only writes the struct we pass; both pointers are valid.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
        // `c_long`: 32 bits on i686 and armv7, 64 elsewhere.
        #[allow(clippy::unnecessary_cast)]
        let offset = tm.tm_gmtoff as i64;
        if ok { offset } else { 0 }
    }
}

/// UTC itself.
pub struct Utc;

impl Zone for Utc {
    fn offset_at(&self, _: i64) -> i64 {
        0
    }
}

/// A wall-clock reading: seconds since the epoch as if local time were UTC.
pub type Wall = i64;

/// The wall clock at `utc` in `zone`.
pub fn wall_at(zone: &dyn Zone, utc: i64) -> Wall {
    utc + zone.offset_at(utc)
}

/// The instant a wall-clock reading names. A reading the clock passes twice (autumn)
/// is its first pass; one it skips (spring) is taken with the offset before the jump,
/// so a job set in the skipped hour still runs that day, one hour later on the clock.
pub fn instant_of(zone: &dyn Zone, wall: Wall) -> i64 {
    let before = zone.offset_at(wall - 86_400);
    let after = zone.offset_at(wall + 86_400);
    let valid = |offset: i64| (zone.offset_at(wall - offset) == offset).then_some(wall - offset);
    match (valid(before), valid(after)) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => wall - before,
    }
}

/// Calendar fields of a wall-clock reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    /// 0 = Sunday.
    pub weekday: u32,
}

pub fn fields(wall: Wall) -> Fields {
    let days = wall.div_euclid(86_400);
    let secs = wall.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Fields {
        year,
        month,
        day,
        hour: (secs / 3600) as u32,
        minute: (secs % 3600 / 60) as u32,
        weekday: (days + 4).rem_euclid(7) as u32,
    }
}

pub fn wall_of(year: i64, month: u32, day: u32, hour: u32, minute: u32) -> Wall {
    days_from_civil(year, month, day) * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60
}

/// `YYYY-MM-DD[T ]HH:MM[:SS]` with `Z` or `±HH:MM` → that instant; without an offset it
/// is a local wall-clock time in `zone`. Seconds since the epoch.
pub fn parse_time(text: &str, zone: &dyn Zone) -> Option<i64> {
    let text = text.trim();
    if let Some(micros) = crate::clock::parse_iso8601(text) {
        return Some(micros.div_euclid(1_000_000));
    }
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<u32>().ok();
    let sep_ok =
        b.len() >= 16 && b[4] == b'-' && b[7] == b'-' && matches!(b[10], b'T' | b' ') && b[13] == b':';
    if !sep_ok || !(b.len() == 16 || (b.len() == 19 && b[16] == b':')) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute) = (num(11..13)?, num(14..16)?);
    let second = if b.len() == 19 { num(17..19)? } else { 0 };
    let valid_day = day >= 1 && i64::from(day) <= crate::clock::days_in_month(year.into(), month.into());
    if !(1..=12).contains(&month) || !valid_day || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(instant_of(zone, wall_of(year.into(), month, day, hour, minute) + i64::from(second)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Central European time with the EU rules: UTC+1, UTC+2 from the last Sunday of
    /// March 01:00 UTC to the last Sunday of October 01:00 UTC.
    pub struct Berlin;

    fn last_sunday(year: i64, month: u32) -> i64 {
        let last = wall_of(year, month, crate::clock::days_in_month(year, month.into()) as u32, 1, 0);
        last - i64::from(fields(last).weekday) * 86_400
    }

    impl Zone for Berlin {
        fn offset_at(&self, utc: i64) -> i64 {
            let year = fields(utc).year;
            let summer = utc >= last_sunday(year, 3) && utc < last_sunday(year, 10);
            if summer { 7200 } else { 3600 }
        }
    }

    #[test]
    fn wall_clock_readings_map_back_across_both_changes() {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST.
        let skipped = wall_of(2026, 3, 29, 2, 30);
        assert_eq!(instant_of(&Berlin, skipped), wall_of(2026, 3, 29, 1, 30), "03:30 CEST");
        let normal = wall_of(2026, 3, 29, 9, 0);
        assert_eq!(instant_of(&Berlin, normal), wall_of(2026, 3, 29, 7, 0));
        // 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
        let twice = wall_of(2026, 10, 25, 2, 30);
        assert_eq!(instant_of(&Berlin, twice), wall_of(2026, 10, 25, 0, 30), "the first pass");
    }

    #[test]
    fn times_with_and_without_an_offset() {
        assert_eq!(parse_time("2026-12-01T09:00", &Berlin), Some(wall_of(2026, 12, 1, 8, 0)));
        assert_eq!(parse_time("2026-12-01 09:00:30", &Utc), Some(wall_of(2026, 12, 1, 9, 0) + 30));
        assert_eq!(parse_time("2026-12-01T09:00:00+00:00", &Berlin), Some(wall_of(2026, 12, 1, 9, 0)));
        assert_eq!(parse_time("2026-02-30T09:00", &Utc), None);
        assert_eq!(parse_time("tomorrow", &Utc), None);
        assert_eq!(fields(wall_of(2026, 11, 29, 0, 0)).weekday, 0, "a Sunday");
    }
}
