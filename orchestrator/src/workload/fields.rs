//! The keys a serde struct accepts, read from serde itself: a deserializer
//! that records the field list `deserialize_struct` is given, then stops.

use serde::de::{self, Deserialize, Deserializer, Visitor};
use std::fmt;

/// The fields `T` deserializes (empty for anything but a struct).
pub fn of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut probe = Probe { fields: &[] };
    let _ = T::deserialize(&mut probe);
    probe.fields
}

struct Probe {
    fields: &'static [&'static str],
}

#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field list recorded")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl<'de> Deserializer<'de> for &mut Probe {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Stop> {
        self.fields = fields;
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_keys_are_those_serde_accepts() {
        assert_eq!(super::of::<super::super::HeartbeatFile>(), &["nodes"]);
        let tmr = super::of::<super::super::TmrFile>();
        assert!(tmr.contains(&"voters") && tmr.contains(&"vote_timeout") && !tmr.contains(&"nodes"));
        assert_eq!(super::super::kinds_accepting("voters"), vec!["tmr"]);
        assert_eq!(super::super::kinds_accepting("replicas"), vec!["tmr", "primary-backup", "multi-paxos"]);
        assert_eq!(
            super::super::kinds_accepting("deadline"),
            vec!["tmr", "primary-backup", "echo", "external", "multi-paxos"]
        );
    }
}
