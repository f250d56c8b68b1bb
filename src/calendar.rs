//! UTC days without a date library: today's date, and 'YYYY-MM-DD' <-> days since 1970-01-01
//! on the proleptic Gregorian calendar. Owns only this arithmetic (and one read of the system
//! clock); never a time zone, a time of day or a locale.

use std::time::{SystemTime, UNIX_EPOCH};

/// Today's UTC date as 'YYYY-MM-DD' (the `today` that `store::stats` expects).
pub fn today_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    format_day(secs.div_euclid(86_400))
}

/// Days since 1970-01-01 of a 'YYYY-MM-DD' that is a real date, else `None`.
pub fn parse_day(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let digits = [0, 1, 2, 3, 5, 6, 8, 9];
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !digits.iter().all(|&i| b[i].is_ascii_digit())
    {
        return None;
    }
    let num = |from: usize, to: usize| -> i64 {
        b[from..to]
            .iter()
            .fold(0, |n, c| n * 10 + i64::from(c - b'0'))
    };
    let days = days_from_civil(num(0, 4), num(5, 7), num(8, 10));
    // Round-tripping rejects month 13, 30 February and the like.
    (format_day(days) == s).then_some(days)
}

/// 'YYYY-MM-DD' of a day counted from 1970-01-01.
pub fn format_day(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

// Howard Hinnant's proleptic Gregorian calendar algorithms
// (https://howardhinnant.github.io/date_algorithms.html).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_arithmetic() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(parse_day("2000-02-29"), Some(11_016));
        assert_eq!(parse_day("2100-02-29"), None);
        assert_eq!(parse_day("+202-01-01"), None);
        assert_eq!(format_day(-1), "1969-12-31");
        assert_eq!(
            parse_day("2024-02-29")
                .map(|d| format_day(d + 1))
                .as_deref(),
            Some("2024-03-01")
        );
        // Years 0083..9909, every 997th day.
        for d in (-700_000..2_900_000).step_by(997) {
            assert_eq!(parse_day(&format_day(d)), Some(d));
        }
        let today = today_utc();
        assert!(parse_day(&today).is_some(), "{today}");
    }
}
