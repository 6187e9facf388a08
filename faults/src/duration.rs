//! Humane durations (`250ms`, `30s`, `2m`) as they appear in experiment files.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A duration written as a humane string: `250ms`, `30s`, `2m`, `1m30s`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub Duration);

impl Dur {
    /// Parse a humane duration string.
    pub fn parse(s: &str) -> Result<Dur, String> {
        humantime::parse_duration(s.trim())
            .map(Dur)
            .map_err(|e| format!("`{s}` is not a duration ({e}); expected a duration like 250ms, 30s or 2m"))
    }

    /// Seconds as a float.
    pub fn as_secs_f64(self) -> f64 {
        self.0.as_secs_f64()
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl From<Duration> for Dur {
    fn from(d: Duration) -> Self {
        Dur(d)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::text::from_str(d, "a duration like 250ms, 30s or 2m", Dur::parse)
    }
}

/// A signed duration (a clock offset): `200ms`, `-1s`, `+30ms`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Offset(pub i64);

impl Offset {
    /// Parse a humane duration with an optional sign.
    pub fn parse(s: &str) -> Result<Offset, String> {
        let t = s.trim();
        let (negative, rest) = match t.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let d = Dur::parse(rest).map_err(|_| {
            format!("`{s}` is not an offset; expected a duration with an optional sign, like -200ms or 1s")
        })?;
        let nanos = i64::try_from(d.0.as_nanos())
            .map_err(|_| format!("`{s}` is too large an offset (at most 292 years)"))?;
        Ok(Offset(if negative { -nanos } else { nanos }))
    }

    /// Nanoseconds, negative for a clock behind the host's.
    pub fn as_nanos(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let magnitude = Duration::from_nanos(self.0.unsigned_abs());
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}{}", humantime::format_duration(magnitude))
    }
}

impl Serialize for Offset {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Offset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::text::from_str(d, "a duration with an optional sign, like -200ms or 1s", Offset::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_take_a_sign_and_print_it_back() {
        assert_eq!(Offset::parse("-200ms"), Ok(Offset(-200_000_000)));
        assert_eq!(Offset::parse("+1s"), Ok(Offset(1_000_000_000)));
        assert_eq!(Offset::parse("30ms"), Ok(Offset(30_000_000)));
        assert!(Offset::parse("--1s").is_err());
        assert!(Offset::parse("-").is_err());
        assert_eq!(Offset(-1_500_000_000).to_string(), "-1s 500ms");
        assert_eq!(Offset::parse(&Offset(-7_000_000).to_string()), Ok(Offset(-7_000_000)));
    }

    #[test]
    fn parses_humane_forms_and_rejects_bare_numbers() {
        assert_eq!(Dur::parse("250ms"), Ok(Dur(Duration::from_millis(250))));
        assert_eq!(Dur::parse("2m"), Ok(Dur(Duration::from_secs(120))));
        assert_eq!(Dur::parse("1m30s"), Ok(Dur(Duration::from_secs(90))));
        assert!(Dur::parse("10").is_err());
        assert!(Dur::parse("soon").is_err());
    }
}
