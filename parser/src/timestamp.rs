//! The access-log timestamp `10/Oct/2000:13:55:36 -0700` (Apache `%t`, nginx `$time_local`),
//! parsed by hand into microseconds since the Unix epoch, UTC.
//!
//! Hand-written because it runs once per line on the hot path: a fixed-width layout lets us
//! validate and convert it in a few dozen instructions, where a general date library would
//! dominate the cost of the whole line.

/// Microseconds in one second.
pub const MICROS_PER_SECOND: i64 = 1_000_000;
/// Microseconds in one hour, the lake's partition granularity.
pub const MICROS_PER_HOUR: i64 = 3_600 * MICROS_PER_SECOND;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// Bytes between the brackets: `dd/Mon/yyyy:HH:MM:SS +zzzz`.
pub const TIMESTAMP_LEN: usize = 26;

/// Parses the 26 bytes between `[` and `]` into UTC microseconds, or `None` when the text is not
/// a valid clock reading (bad digits, Feb 30, hour 24, an offset beyond ±14:00, ...).
pub fn parse_clf_timestamp(text: &[u8]) -> Option<i64> {
    let t: &[u8; TIMESTAMP_LEN] = text.try_into().ok()?;
    if t[2] != b'/' || t[6] != b'/' || t[11] != b':' || t[14] != b':' || t[17] != b':' {
        return None;
    }
    if t[20] != b' ' {
        return None;
    }
    let day = two_digits(t[0], t[1])?;
    let month = month_number([t[3], t[4], t[5]])?;
    let year = two_digits(t[7], t[8])? * 100 + two_digits(t[9], t[10])?;
    let hour = two_digits(t[12], t[13])?;
    let minute = two_digits(t[15], t[16])?;
    // 60 is allowed: a leap second is a real reading, counted as the next second.
    let second = two_digits(t[18], t[19])?;
    if day == 0 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let sign = match t[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let offset_hours = two_digits(t[22], t[23])?;
    let offset_minutes = two_digits(t[24], t[25])?;
    if offset_minutes > 59 || offset_hours * 60 + offset_minutes > 14 * 60 {
        return None;
    }
    let offset_seconds = sign * (offset_hours * 3_600 + offset_minutes * 60);

    let days = days_from_civil(year, month, day);
    let local_seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
    Some((local_seconds - offset_seconds) * MICROS_PER_SECOND)
}

/// Parses a UTC instant given on a command line or in an event: `YYYY-MM-DD` (midnight) or
/// `YYYY-MM-DDTHH:MM:SSZ`, into microseconds since the epoch. `None` when it is not a real date
/// and time.
pub fn parse_utc_instant(text: &str) -> Option<i64> {
    let t = text.as_bytes();
    if t.len() < 10 || t[4] != b'-' || t[7] != b'-' {
        return None;
    }
    let year = two_digits(t[0], t[1])? * 100 + two_digits(t[2], t[3])?;
    let month = two_digits(t[5], t[6])?;
    let day = two_digits(t[8], t[9])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let seconds_in_day = match &t[10..] {
        [] => 0,
        [b'T', h1, h2, b':', m1, m2, b':', s1, s2, b'Z'] => {
            let (hour, minute, second) = (
                two_digits(*h1, *h2)?,
                two_digits(*m1, *m2)?,
                two_digits(*s1, *s2)?,
            );
            if hour > 23 || minute > 59 || second > 59 {
                return None;
            }
            hour * 3_600 + minute * 60 + second
        }
        _ => return None,
    };
    Some((days_from_civil(year, month, day) * 86_400 + seconds_in_day) * MICROS_PER_SECOND)
}

/// Parses an ISO 8601 UTC timestamp as AWS writes it in load-balancer and CDN logs,
/// `YYYY-MM-DDTHH:MM:SS[.f…]Z` (up to nine fraction digits; beyond microseconds they are
/// dropped), into microseconds since the epoch. `None` when it is not that shape or not a real
/// date and time.
pub fn parse_iso8601_utc(text: &[u8]) -> Option<i64> {
    let (t, fraction) = match text {
        [head @ .., b'Z'] if head.len() >= 19 => (&head[..19], &head[19..]),
        _ => return None,
    };
    if t[4] != b'-' || t[7] != b'-' || t[10] != b'T' || t[13] != b':' || t[16] != b':' {
        return None;
    }
    let year = two_digits(t[0], t[1])? * 100 + two_digits(t[2], t[3])?;
    let month = two_digits(t[5], t[6])?;
    let day = two_digits(t[8], t[9])?;
    let hour = two_digits(t[11], t[12])?;
    let minute = two_digits(t[14], t[15])?;
    let second = two_digits(t[17], t[18])?;
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let micros = match fraction {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let mut micros = 0;
            for place in 0..6 {
                let digit = match digits.get(place) {
                    Some(d) if d.is_ascii_digit() => i64::from(d - b'0'),
                    Some(_) => return None,
                    None => 0,
                };
                micros = micros * 10 + digit;
            }
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            micros
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(seconds * MICROS_PER_SECOND + micros)
}

/// Remembers the last timestamp's minute: consecutive log lines nearly always share the date,
/// hour, minute and offset, so only the seconds need reading.
#[derive(Debug, Default, Clone)]
pub struct TimestampCache {
    /// `dd/Mon/yyyy:HH:MM` and ` +zzzz` of the last valid timestamp.
    minute: [u8; 17],
    offset: [u8; 6],
    minute_micros: i64,
    filled: bool,
}

impl TimestampCache {
    /// Same result as [`parse_clf_timestamp`].
    pub fn parse(&mut self, text: &[u8]) -> Option<i64> {
        let t: &[u8; TIMESTAMP_LEN] = text.try_into().ok()?;
        if self.filled && t[..17] == self.minute && t[20..] == self.offset && t[17] == b':' {
            let second = two_digits(t[18], t[19]).filter(|s| *s <= 60)?;
            return Some(self.minute_micros + second * MICROS_PER_SECOND);
        }
        let micros = parse_clf_timestamp(text)?;
        let second = two_digits(t[18], t[19])?;
        self.minute.copy_from_slice(&t[..17]);
        self.offset.copy_from_slice(&t[20..]);
        self.minute_micros = micros - second * MICROS_PER_SECOND;
        self.filled = true;
        Some(micros)
    }
}

/// A clock reading taken apart, as a custom format's time field gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClockReading {
    pub(crate) year: i64,
    pub(crate) month: i64,
    pub(crate) day: i64,
    pub(crate) hour: i64,
    pub(crate) minute: i64,
    pub(crate) second: i64,
    /// Seconds east of UTC.
    pub(crate) offset_seconds: i64,
}

impl ClockReading {
    /// UTC microseconds, or `None` when it is not a real reading.
    pub(crate) fn micros(&self) -> Option<i64> {
        let valid = (1..=12).contains(&self.month)
            && (1..=days_in_month(self.year, self.month)).contains(&self.day)
            && (0..24).contains(&self.hour)
            && (0..60).contains(&self.minute)
            && (0..=60).contains(&self.second)
            && self.offset_seconds.abs() <= 14 * 3_600;
        let days = days_from_civil(self.year, self.month, self.day);
        let seconds = days * 86_400 + self.hour * 3_600 + self.minute * 60 + self.second;
        valid.then_some((seconds - self.offset_seconds) * MICROS_PER_SECOND)
    }
}

/// ISO 8601 with a UTC offset, as nginx writes `$time_iso8601`: `2026-10-10T13:55:36+02:00`
/// (or `+0200`, or `Z`; a fraction before the offset is read too).
pub(crate) fn parse_iso8601_offset(text: &[u8]) -> Option<i64> {
    if text.last() == Some(&b'Z') {
        return parse_iso8601_utc(text);
    }
    let sign_at = text
        .len()
        .checked_sub(6)
        .filter(|&at| text[at + 3] == b':')
        .or_else(|| text.len().checked_sub(5))?;
    let (local, offset) = text.split_at(sign_at);
    let sign = match offset[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let minutes_at = offset.len() - 2;
    let hours = two_digits(offset[1], offset[2])?;
    let minutes = two_digits(offset[minutes_at], offset[minutes_at + 1])?;
    if minutes > 59 || hours * 60 + minutes > 14 * 60 || local.len() > 40 {
        return None;
    }
    let mut utc = [0u8; 41];
    utc[..local.len()].copy_from_slice(local);
    utc[local.len()] = b'Z';
    let local_micros = parse_iso8601_utc(&utc[..=local.len()])?;
    Some(local_micros - sign * (hours * 3_600 + minutes * 60) * MICROS_PER_SECOND)
}

/// Seconds since the epoch with an optional fraction (nginx `$msec`: `1791640536.123`), or a
/// whole count of `1 / per_second` units (Apache `%{msec}t`: `per_second` 1000).
pub(crate) fn parse_epoch(text: &[u8], per_second: i64) -> Option<i64> {
    let (whole, fraction) = match memchr::memchr(b'.', text) {
        Some(dot) if per_second == 1 => (&text[..dot], &text[dot + 1..]),
        _ => (text, &b""[..]),
    };
    let digits = |t: &[u8]| !t.is_empty() && t.len() <= 18 && t.iter().all(u8::is_ascii_digit);
    if !digits(whole) || !(fraction.is_empty() || digits(fraction)) {
        return None;
    }
    // At most 18 digits: no overflow.
    let whole = (whole.iter()).fold(0i64, |value, &d| value * 10 + i64::from(d - b'0'));
    let mut micros = 0;
    for place in 0..6 {
        micros = micros * 10 + fraction.get(place).map_or(0, |d| i64::from(d - b'0'));
    }
    Some(whole.checked_mul(MICROS_PER_SECOND / per_second.clamp(1, MICROS_PER_SECOND))? + micros)
}

fn two_digits(a: u8, b: u8) -> Option<i64> {
    let (a, b) = (a.wrapping_sub(b'0'), b.wrapping_sub(b'0'));
    (a < 10 && b < 10).then(|| i64::from(a * 10 + b))
}

pub(crate) fn month_number(name: [u8; 3]) -> Option<i64> {
    Some(match &name {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    })
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The UTC calendar hour a timestamp falls in: what the lake partitions by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcHour {
    /// Hours since 1970-01-01T00:00Z.
    pub hours_since_epoch: i64,
}

impl UtcHour {
    pub fn of_micros(ts_micros: i64) -> Self {
        Self {
            hours_since_epoch: ts_micros.div_euclid(MICROS_PER_HOUR),
        }
    }

    /// The `dt` partition value, `YYYY-MM-DD`.
    pub fn date_string(self) -> String {
        let (year, month, day) =
            civil_from_days((self.hours_since_epoch * MICROS_PER_HOUR).div_euclid(MICROS_PER_DAY));
        format!("{year:04}-{month:02}-{day:02}")
    }

    /// The `hour` partition value, 0–23.
    pub fn hour_of_day(self) -> i32 {
        self.hours_since_epoch.rem_euclid(24) as i32
    }
}

/// Formats UTC microseconds as RFC 3339 with microseconds, e.g. `2000-10-10T20:55:36.000000Z`.
pub fn format_rfc3339_micros(ts_micros: i64) -> String {
    let mut out = Vec::with_capacity(27);
    write_rfc3339_micros(ts_micros, &mut out);
    String::from_utf8(out).expect("digits and ASCII punctuation")
}

/// Appends [`format_rfc3339_micros`]'s text to `out` without allocating: it is written once per
/// row sent to Firehose.
pub fn write_rfc3339_micros(ts_micros: i64, out: &mut Vec<u8>) {
    fn digits(value: u64, width: usize, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + width, b'0');
        let mut rest = value;
        for digit in out[start..].iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
    }
    let days = ts_micros.div_euclid(MICROS_PER_DAY);
    let in_day = ts_micros.rem_euclid(MICROS_PER_DAY) as u64;
    let (year, month, day) = civil_from_days(days);
    let seconds = in_day / MICROS_PER_SECOND as u64;
    // Years outside 0..=9999 cannot come from a parsed timestamp; keep them readable anyway.
    if (0..=9_999).contains(&year) {
        digits(year as u64, 4, out);
    } else {
        out.extend_from_slice(year.to_string().as_bytes());
    }
    out.push(b'-');
    digits(u64::from(month), 2, out);
    out.push(b'-');
    digits(u64::from(day), 2, out);
    out.push(b'T');
    digits(seconds / 3_600, 2, out);
    out.push(b':');
    digits(seconds / 60 % 60, 2, out);
    out.push(b':');
    digits(seconds % 60, 2, out);
    out.push(b'.');
    digits(in_day % MICROS_PER_SECOND as u64, 6, out);
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Option<i64> {
        parse_clf_timestamp(text.as_bytes())
    }

    #[test]
    fn converts_the_offset_to_utc() {
        // 2000-10-10T20:55:36Z, the Apache documentation's example.
        assert_eq!(ts("10/Oct/2000:13:55:36 -0700"), Some(971_211_336_000_000));
        assert_eq!(ts("10/Oct/2000:20:55:36 +0000"), Some(971_211_336_000_000));
        assert_eq!(ts("11/Oct/2000:06:25:36 +0930"), Some(971_211_336_000_000));
        assert_eq!(ts("01/Jan/1970:00:00:00 +0000"), Some(0));
        assert_eq!(ts("31/Dec/1969:23:59:59 +0000"), Some(-MICROS_PER_SECOND));
    }

    #[test]
    fn parses_utc_instants_for_ranges() {
        let midnight = parse_utc_instant("2000-10-10").unwrap();
        assert_eq!(
            format_rfc3339_micros(midnight),
            "2000-10-10T00:00:00.000000Z"
        );
        let later = parse_utc_instant("2000-10-10T20:55:36Z").unwrap();
        assert_eq!(later, 971_211_336_000_000);
        for bad in [
            "2000-02-30",
            "2000-13-01",
            "2000-10-10T24:00:00Z",
            "2000-10-10 20:55:36",
            "10/Oct/2000",
            "",
        ] {
            assert_eq!(parse_utc_instant(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_iso8601_utc_as_aws_writes_it() {
        let at = |text: &str| parse_iso8601_utc(text.as_bytes());
        assert_eq!(
            at("2019-10-14T12:00:20.694172Z"),
            Some(1_571_054_420_694_172)
        );
        assert_eq!(at("2019-10-14T12:00:20Z"), Some(1_571_054_420_000_000));
        assert_eq!(at("2019-10-14T12:00:20.5Z"), Some(1_571_054_420_500_000));
        assert_eq!(
            at("2019-10-14T12:00:20.123456789Z"),
            Some(1_571_054_420_123_456)
        );
        for bad in [
            "2019-02-30T12:00:20Z",
            "2019-10-14T24:00:20Z",
            "2019-10-14 12:00:20Z",
            "2019-10-14T12:00:20",
            "2019-10-14T12:00:20.Z",
            "2019-10-14T12:00:20.12x4Z",
            "2019-10-14T12:00:20.1234567890Z",
            "Z",
            "",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }

    #[test]
    fn validates_the_calendar() {
        assert_eq!(ts("30/Feb/2020:00:00:00 +0000"), None);
        assert!(ts("29/Feb/2020:00:00:00 +0000").is_some());
        assert_eq!(ts("29/Feb/2100:00:00:00 +0000"), None);
        assert!(ts("29/Feb/2000:00:00:00 +0000").is_some());
        assert_eq!(ts("31/Apr/2020:00:00:00 +0000"), None);
        assert_eq!(ts("00/Apr/2020:00:00:00 +0000"), None);
        assert_eq!(ts("10/Foo/2020:00:00:00 +0000"), None);
        assert_eq!(ts("10/Oct/2020:24:00:00 +0000"), None);
        assert_eq!(ts("10/Oct/2020:23:60:00 +0000"), None);
    }

    #[test]
    fn validates_the_offset() {
        assert!(ts("10/Oct/2020:00:00:00 +1400").is_some());
        assert!(ts("10/Oct/2020:00:00:00 -1400").is_some());
        assert_eq!(ts("10/Oct/2020:00:00:00 +1401"), None);
        assert_eq!(ts("10/Oct/2020:00:00:00 -1500"), None);
        assert_eq!(ts("10/Oct/2020:00:00:00 +0060"), None);
        assert_eq!(ts("10/Oct/2020:00:00:00 0000"), None);
        assert_eq!(ts("10/Oct/2020:00:00:00 *0000"), None);
    }

    #[test]
    fn rejects_wrong_shapes_and_bytes() {
        for bad in [
            "",
            "10/Oct/2000:13:55:36",
            "10/Oct/2000 13:55:36 -0700",
            "1/Oct/2000:13:55:36 -07000",
            "10/Oct/2000:13:55:3x -0700",
            "\u{ff}0/Oct/2000:13:55:36 -070",
        ] {
            assert_eq!(ts(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_cache_agrees_with_the_parser() {
        let mut cache = TimestampCache::default();
        for text in [
            "10/Oct/2000:13:55:36 -0700",
            "10/Oct/2000:13:55:59 -0700",
            "10/Oct/2000:13:55:60 -0700",
            "10/Oct/2000:13:55:61 -0700",
            "10/Oct/2000:13:55:6x -0700",
            "10/Oct/2000:13:55:00 +0000",
            "10/Oct/2000:13:56:00 +0000",
            "30/Feb/2000:13:56:00 +0000",
            "10/Oct/2000:13:56:01 +0000",
            "10/Oct/2000:13:56",
        ] {
            assert_eq!(cache.parse(text.as_bytes()), ts(text), "{text}");
        }
    }

    #[test]
    fn civil_conversions_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
        }
    }

    #[test]
    fn partitions_by_utc_hour() {
        let t = ts("10/Oct/2000:13:55:36 -0700").unwrap();
        let hour = UtcHour::of_micros(t);
        assert_eq!(hour.date_string(), "2000-10-10");
        assert_eq!(hour.hour_of_day(), 20);
        let before_epoch = UtcHour::of_micros(-1);
        assert_eq!(before_epoch.date_string(), "1969-12-31");
        assert_eq!(before_epoch.hour_of_day(), 23);
        assert_eq!(format_rfc3339_micros(t + 5), "2000-10-10T20:55:36.000005Z");
    }

    #[test]
    fn rfc3339_text_at_the_edges() {
        assert_eq!(format_rfc3339_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(format_rfc3339_micros(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(
            format_rfc3339_micros(253_402_300_799_999_999),
            "9999-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            format_rfc3339_micros(951_782_400_123_456),
            "2000-02-29T00:00:00.123456Z"
        );
    }
}
