//! Stable-storage records of the checkpointing processes: checkpoints are
//! whole records (`Put`), logs are sequences of length-prefixed frames
//! (`Append`). A crash may tear the last frame of a log; reading stops there,
//! which is sound because the driver writes a record before the sends of the
//! same call, so nothing outside depends on a torn frame.

use crate::{StableRecords, StableWrite};
use serde::{de::DeserializeOwned, Serialize};

/// Encode a record (postcard). Encoding our own plain types cannot fail; an
/// empty record is returned if it ever did, and reading it back fails loudly.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).unwrap_or_default()
}

/// Decode the record `key`, if present and readable.
pub fn get<T: DeserializeOwned>(records: &StableRecords, key: &str) -> Option<T> {
    records.get(key).and_then(|b| postcard::from_bytes(b).ok())
}

/// A write replacing `key` with `value`.
pub fn put<T: Serialize>(key: &str, value: &T) -> StableWrite {
    StableWrite::Put { key: key.to_string(), bytes: encode(value) }
}

/// The bytes a write puts on stable storage.
pub fn size(write: &StableWrite) -> u64 {
    match write {
        StableWrite::Put { bytes, .. } | StableWrite::Append { bytes, .. } => bytes.len() as u64,
    }
}

/// One log frame: length (u32 little-endian) then the record.
pub fn frame<T: Serialize>(value: &T) -> Vec<u8> {
    let body = encode(value);
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// A write appending `values` to the log `key`; also returns its size in bytes.
pub fn append<T: Serialize>(key: &str, values: &[T]) -> (StableWrite, u64) {
    let bytes: Vec<u8> = values.iter().flat_map(frame).collect();
    let len = bytes.len() as u64;
    (StableWrite::Append { key: key.to_string(), bytes }, len)
}

/// A write replacing the log `key` with exactly `values`.
pub fn rewrite<T: Serialize>(key: &str, values: &[T]) -> StableWrite {
    let bytes: Vec<u8> = values.iter().flat_map(frame).collect();
    StableWrite::Put { key: key.to_string(), bytes }
}

/// Every whole frame of the log `key`, stopping at a torn or unreadable one.
pub fn read_log<T: DeserializeOwned>(records: &StableRecords, key: &str) -> Vec<T> {
    let mut out = Vec::new();
    let Some(mut rest) = records.get(key).map(Vec::as_slice) else { return out };
    while rest.len() >= 4 {
        let (len, body) = rest.split_at(4);
        let n = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if body.len() < n {
            break;
        }
        let (frame, next) = body.split_at(n);
        match postcard::from_bytes(frame) {
            Ok(v) => out.push(v),
            Err(_) => break,
        }
        rest = next;
    }
    out
}

/// Carry out `writes` on an in-memory store, as a driver would on disk.
pub fn apply(records: &mut StableRecords, writes: impl IntoIterator<Item = StableWrite>) {
    for w in writes {
        match w {
            StableWrite::Put { key, bytes } => {
                records.insert(key, bytes);
            }
            StableWrite::Append { key, bytes } => records.entry(key).or_default().extend_from_slice(&bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_reads_back_its_frames_and_stops_at_a_torn_tail() {
        let mut s = StableRecords::new();
        apply(&mut s, [append("log", &[1u64, 2]).0, append("log", &[300u64]).0]);
        assert_eq!(read_log::<u64>(&s, "log"), vec![1, 2, 300]);
        let full = s["log"].clone();
        s.insert("log".into(), full[..full.len() - 1].to_vec());
        assert_eq!(read_log::<u64>(&s, "log"), vec![1, 2], "torn frame dropped");
        apply(&mut s, [rewrite::<u64>("log", &[])]);
        assert!(read_log::<u64>(&s, "log").is_empty());
        apply(&mut s, [put("ck", &(5u32, -3i64))]);
        assert_eq!(get::<(u32, i64)>(&s, "ck"), Some((5, -3)));
        assert_eq!(get::<(u32, i64)>(&s, "none"), None);
    }
}
