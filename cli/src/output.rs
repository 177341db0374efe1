//! How replies and events look on stdout.

use qemu_qmp::protocol::Timestamp;
use serde_json::Value;

/// A reply: pretty JSON, or one line with `--compact`.
pub fn json(value: &Value, compact: bool) -> String {
    let text = if compact {
        serde_json::to_string(value)
    } else {
        serde_json::to_string_pretty(value)
    };
    // Serialising a `Value` cannot fail (its keys are strings).
    text.unwrap_or_default()
}

/// An event as QEMU sent it, one line: `{"event": ..., "data": ..., "timestamp": ...}`.
pub fn event_json(name: &str, data: &Value, timestamp: &Timestamp) -> Value {
    let mut message = serde_json::json!({
        "event": name,
        "timestamp": {"seconds": timestamp.seconds, "microseconds": timestamp.microseconds},
    });
    if !data.is_null() {
        message["data"] = data.clone();
    }
    message
}

/// QEMU's timestamp as UTC, `2026-12-03 13:45:01.123456`. QEMU writes `-1` for both
/// fields when its clock failed; that shows as `(no time)`.
pub fn timestamp(ts: &Timestamp) -> String {
    if ts.seconds < 0 || !(0..1_000_000).contains(&ts.microseconds) {
        return "(no time)".into();
    }
    let days = ts.seconds.div_euclid(86_400);
    let secs = ts.seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:06}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        ts.microseconds
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
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

    #[test]
    fn timestamps_read_as_utc() {
        let ts = Timestamp {
            seconds: 1_764_769_501,
            microseconds: 42,
        };
        assert_eq!(timestamp(&ts), "2025-12-03 13:45:01.000042");
        assert_eq!(
            timestamp(&Timestamp {
                seconds: 0,
                microseconds: 0
            }),
            "1970-01-01 00:00:00.000000"
        );
        assert_eq!(
            timestamp(&Timestamp {
                seconds: -1,
                microseconds: -1
            }),
            "(no time)"
        );
    }
}
