//! Five-field cron expressions (`minute hour day-of-month month day-of-week`) in local
//! time: `*`, lists, ranges, steps, month and day names, `7` for Sunday, the `@daily`
//! family, and Vixie cron's rule that a restricted day-of-month and day-of-week match
//! when either does.

use super::zone::{Fields, Wall, Zone, fields, instant_of, wall_at, wall_of};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Both day fields restricted: either may match.
    either_day: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad cron expression {expression:?}: {why}")]
pub struct CronError {
    pub expression: String,
    pub why: String,
}

const MONTHS: [&str; 12] =
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    pub fn parse(expression: &str) -> Result<Cron, CronError> {
        let fail = |why: String| CronError { expression: expression.to_owned(), why };
        let expanded = match expression.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = parts[..] else {
            return Err(fail(format!("expected 5 fields, found {}", parts.len())));
        };
        let weekdays = field(weekday, 0, 7, &DAYS).map_err(|e| fail(format!("day of week: {e}")))?;
        Ok(Cron {
            minutes: field(minute, 0, 59, &[]).map_err(|e| fail(format!("minute: {e}")))?,
            hours: field(hour, 0, 23, &[]).map_err(|e| fail(format!("hour: {e}")))?,
            days: field(day, 1, 31, &[]).map_err(|e| fail(format!("day of month: {e}")))?,
            months: field(month, 1, 12, &MONTHS).map_err(|e| fail(format!("month: {e}")))?,
            // 7 is Sunday too.
            weekdays: (weekdays | (weekdays >> 7)) & 0x7f,
            either_day: !day.starts_with('*') && !weekday.starts_with('*'),
        })
    }

    fn day_matches(&self, f: &Fields) -> bool {
        let by_date = self.days & (1 << f.day) != 0;
        let by_weekday = self.weekdays & (1 << f.weekday) != 0;
        if self.either_day { by_date || by_weekday } else { by_date && by_weekday }
    }

    /// The first wall-clock minute strictly after `wall` that matches; `None` if none
    /// within eight years (e.g. `0 0 30 2 *`).
    pub fn next_wall(&self, wall: Wall) -> Option<Wall> {
        let mut t = (wall.div_euclid(60) + 1) * 60;
        let limit = t + 8 * 366 * 86_400;
        while t < limit {
            let f = fields(t);
            if self.months & (1 << f.month) == 0 {
                let (year, month) = if f.month == 12 { (f.year + 1, 1) } else { (f.year, f.month + 1) };
                t = wall_of(year, month, 1, 0, 0);
            } else if !self.day_matches(&f) {
                t = wall_of(f.year, f.month, f.day, 0, 0) + 86_400;
            } else if self.hours & (1 << f.hour) == 0 {
                t = wall_of(f.year, f.month, f.day, f.hour, 0) + 3600;
            } else if self.minutes & (1 << f.minute) == 0 {
                t += 60;
            } else {
                return Some(t);
            }
        }
        None
    }

    /// The first run strictly after the instant `after`, in `zone`'s local time.
    pub fn next_after(&self, after: i64, zone: &dyn Zone) -> Option<i64> {
        let mut wall = wall_at(zone, after);
        for _ in 0..4 {
            let next = self.next_wall(wall)?;
            let instant = instant_of(zone, next);
            if instant > after {
                return Some(instant);
            }
            // The clock fell back over this reading: it already ran; look further on.
            wall = next;
        }
        None
    }
}

/// One field as a bit set over `min..=max`.
fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let mut bits = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                (r, s.parse::<u32>().ok().filter(|s| *s > 0).ok_or(format!("bad step in {item:?}"))?)
            }
            None => (item, 1),
        };
        let (low, high) = match range {
            "*" => (min, max),
            _ => match range.split_once('-') {
                Some((a, b)) => (value(a, min, max, names)?, value(b, min, max, names)?),
                None if step > 1 => (value(range, min, max, names)?, max),
                None => {
                    let v = value(range, min, max, names)?;
                    (v, v)
                }
            },
        };
        if low > high {
            return Err(format!("{item:?} runs backwards"));
        }
        for v in (low..=high).step_by(step as usize) {
            bits |= 1 << v;
        }
    }
    Ok(bits)
}

fn value(text: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    let named = names.iter().position(|n| *n == lower).map(|i| i as u32 + min);
    let v = named.or_else(|| text.parse().ok()).ok_or(format!("{text:?} is not a number"))?;
    if v < min || v > max {
        return Err(format!("{v} is outside {min}–{max}"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::super::zone::tests::Berlin;
    use super::super::zone::{Utc, wall_of};
    use super::*;

    fn next(expr: &str, from: Wall) -> Wall {
        Cron::parse(expr).unwrap().next_wall(from).unwrap()
    }

    #[test]
    fn fields_lists_ranges_steps_and_names() {
        let monday_9 = wall_of(2026, 11, 30, 9, 0);
        assert_eq!(next("0 9 * * *", wall_of(2026, 11, 29, 9, 0)), monday_9);
        assert_eq!(next("*/15 * * * *", wall_of(2026, 11, 30, 9, 1)), wall_of(2026, 11, 30, 9, 15));
        assert_eq!(next("0 9 * * mon-fri", wall_of(2026, 11, 28, 12, 0)), monday_9, "Saturday → Monday");
        assert_eq!(next("0 0 1 jan *", wall_of(2026, 3, 1, 0, 0)), wall_of(2027, 1, 1, 0, 0));
        assert_eq!(
            next("0 12 * * 7", wall_of(2026, 11, 30, 0, 0)),
            wall_of(2026, 12, 6, 12, 0),
            "7 is Sunday"
        );
        assert_eq!(next("@hourly", wall_of(2026, 11, 30, 9, 0)), wall_of(2026, 11, 30, 10, 0));
        assert_eq!(next("0 0 29 2 *", wall_of(2026, 3, 1, 0, 0)), wall_of(2028, 2, 29, 0, 0));
        // Day of month OR day of week when both are restricted: the 1st, or a Friday.
        assert_eq!(next("0 0 1 * fri", wall_of(2026, 11, 30, 0, 0)), wall_of(2026, 12, 1, 0, 0));
        assert_eq!(next("0 0 1 * fri", wall_of(2026, 12, 1, 0, 0)), wall_of(2026, 12, 4, 0, 0));
        assert!(Cron::parse("0 0 30 2 *").unwrap().next_wall(0).is_none());
    }

    #[test]
    fn bad_expressions_say_which_field() {
        for (expr, says) in [
            ("0 9 * *", "expected 5 fields"),
            ("60 * * * *", "minute"),
            ("0 9 * * funday", "day of week"),
            ("0 5-1 * * *", "backwards"),
            ("*/0 * * * *", "bad step"),
        ] {
            let e = Cron::parse(expr).unwrap_err().to_string();
            assert!(e.contains(says), "{expr}: {e}");
        }
    }

    #[test]
    fn daily_runs_keep_their_wall_time_across_both_dst_changes() {
        let cron = Cron::parse("0 9 * * *").unwrap();
        // Saturday 28 March 2026, 09:00 CET = 08:00 UTC; Sunday is CEST.
        let sat = wall_of(2026, 3, 28, 8, 0);
        let sun = cron.next_after(sat, &Berlin).unwrap();
        assert_eq!(sun, wall_of(2026, 3, 29, 7, 0), "09:00 CEST");
        let oct_sat = wall_of(2026, 10, 24, 7, 0);
        assert_eq!(cron.next_after(oct_sat, &Berlin), Some(wall_of(2026, 10, 25, 8, 0)), "09:00 CET");
    }

    #[test]
    fn the_skipped_and_the_doubled_hour_each_run_once() {
        let cron = Cron::parse("30 2 * * *").unwrap();
        let before_spring = wall_of(2026, 3, 28, 12, 0);
        let spring = cron.next_after(before_spring, &Berlin).unwrap();
        assert_eq!(spring, wall_of(2026, 3, 29, 1, 30), "runs at 03:30 CEST that day");
        assert_eq!(cron.next_after(spring, &Berlin), Some(wall_of(2026, 3, 30, 0, 30)));
        let before_autumn = wall_of(2026, 10, 24, 12, 0);
        let first = cron.next_after(before_autumn, &Berlin).unwrap();
        assert_eq!(first, wall_of(2026, 10, 25, 0, 30), "the first 02:30");
        assert_eq!(cron.next_after(first, &Berlin), Some(wall_of(2026, 10, 26, 1, 30)), "not the second");
        assert_eq!(Cron::parse("0 * * * *").unwrap().next_after(0, &Utc), Some(3600));
    }
}
