//! Values an experiment file writes as one string (`250ms`, `-200ms`,
//! `replica-1 -> voter-1`, `2k/s`), or as a string or a map: the serde
//! visitors they share, written once.

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::marker::PhantomData;

/// How a value is read from a string; its error says what was wrong.
type Parse<T> = fn(&str) -> Result<T, String>;

/// Deserialize a value written as a string, with `parse`; `expecting` says
/// what such a string looks like (serde's "invalid type ..., expected ...").
pub fn from_str<'de, D: Deserializer<'de>, T>(
    d: D,
    expecting: &'static str,
    parse: Parse<T>,
) -> Result<T, D::Error> {
    d.deserialize_str(Either { expecting, parse, map: None::<fn(()) -> T>, _map: PhantomData })
}

/// Deserialize a value written either as a string, read with `parse`, or as
/// a map, read as an `M` and turned into the value by `map`.
pub fn from_str_or_map<'de, D: Deserializer<'de>, T, M: Deserialize<'de>>(
    d: D,
    expecting: &'static str,
    parse: Parse<T>,
    map: fn(M) -> T,
) -> Result<T, D::Error> {
    d.deserialize_any(Either { expecting, parse, map: Some(map), _map: PhantomData })
}

/// The visitor of both: a string always, a map when `map` is given.
struct Either<T, M, F: FnOnce(M) -> T> {
    expecting: &'static str,
    parse: Parse<T>,
    map: Option<F>,
    _map: PhantomData<M>,
}

impl<'de, T, M: Deserialize<'de>, F: FnOnce(M) -> T> Visitor<'de> for Either<T, M, F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        match self.map {
            Some(into) => M::deserialize(MapAccessDeserializer::new(map)).map(into),
            None => Err(de::Error::invalid_type(de::Unexpected::Map, &self)),
        }
    }
}
