//! A node's stable storage: one file per record in a directory that survives
//! the node's crash (`<out>/state/<node>/` on the host for the process
//! backend, `/state/<node>/` on the run's volume in a container).
//!
//! A `Put` writes a temporary file and renames it over the record, so a crash
//! leaves the old record or the new one, never half of one. An `Append`
//! appends; a crash may tear its last frame, which the workload's reader
//! drops. Files are not fsynced: the faults we inject kill processes and
//! containers, not the host's kernel, whose page cache survives them.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use workloads::{StableRecords, StableWrite};

/// Suffix of a record being replaced.
const TMP: &str = ".tmp";

/// Where a node's records live (nowhere without a directory: writes are dropped).
#[derive(Debug)]
pub(crate) struct Stable {
    dir: Option<PathBuf>,
}

/// The records in `dir` (none without a directory).
pub(crate) fn load(dir: Option<&Path>) -> std::io::Result<StableRecords> {
    let mut records = StableRecords::new();
    let Some(dir) = dir else { return Ok(records) };
    if !dir.exists() {
        return Ok(records);
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_file() && valid(&name) {
            records.insert(name, fs::read(entry.path())?);
        }
    }
    Ok(records)
}

/// A record key is a plain file name (see [`workloads::node::valid_key`]).
fn valid(key: &str) -> bool {
    workloads::node::valid_key(key)
}

fn bad_key(key: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("invalid stable record key `{key}`"))
}

impl Stable {
    /// Open the directory `dir` (created if missing). A `fresh` node (first
    /// start of a run) starts from an empty store; a restarted one keeps the
    /// records it wrote before its crash ([`load`] reads them).
    pub fn open(dir: Option<&Path>, fresh: bool) -> std::io::Result<Stable> {
        let Some(dir) = dir else { return Ok(Stable { dir: None }) };
        fs::create_dir_all(dir)?;
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let torn = entry.file_name().to_string_lossy().ends_with(TMP);
            if entry.file_type()?.is_file() && (fresh || torn) {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(Stable { dir: Some(dir.to_path_buf()) })
    }

    /// Carry out `writes` in order.
    pub fn write(&mut self, writes: impl IntoIterator<Item = StableWrite>) -> std::io::Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        for w in writes {
            match w {
                StableWrite::Put { key, bytes } => {
                    if !valid(&key) {
                        return Err(bad_key(&key));
                    }
                    let tmp = dir.join(format!("{key}{TMP}"));
                    fs::write(&tmp, &bytes)?;
                    fs::rename(&tmp, dir.join(&key))?;
                }
                StableWrite::Append { key, bytes } => {
                    if !valid(&key) {
                        return Err(bad_key(&key));
                    }
                    let mut f = OpenOptions::new().create(true).append(true).open(dir.join(&key))?;
                    f.write_all(&bytes)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn put(key: &str, bytes: &[u8]) -> StableWrite {
        StableWrite::Put { key: key.into(), bytes: bytes.to_vec() }
    }

    #[test]
    fn records_survive_a_reopen_and_a_fresh_start_clears_them() {
        let dir = std::env::temp_dir().join(format!("faultlab-stable-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut s = Stable::open(Some(&dir), true).unwrap();
        assert!(load(Some(&dir)).unwrap().is_empty());
        s.write([
            put("ck", b"one"),
            put("ck", b"two"),
            StableWrite::Append { key: "log".into(), bytes: b"ab".to_vec() },
            StableWrite::Append { key: "log".into(), bytes: b"cd".to_vec() },
        ])
        .unwrap();
        // A torn replacement left behind by a crash is not a record.
        fs::write(dir.join("ck.tmp"), b"half").unwrap();
        let _ = Stable::open(Some(&dir), false).unwrap();
        let records = load(Some(&dir)).unwrap();
        assert_eq!(records.get("ck").map(Vec::as_slice), Some(&b"two"[..]));
        assert_eq!(records.get("log").map(Vec::as_slice), Some(&b"abcd"[..]));
        assert_eq!(records.len(), 2);
        let mut s = Stable::open(Some(&dir), true).unwrap();
        assert!(load(Some(&dir)).unwrap().is_empty(), "a new run starts empty");
        assert!(s.write([put("../escape", b"x")]).is_err());
        assert!(s.write([put("ck.tmp", b"x")]).is_err());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn without_a_directory_writes_are_accepted_and_nothing_is_loaded() {
        let mut s = Stable::open(None, false).unwrap();
        s.write([put("ck", b"x")]).unwrap();
        assert!(load(None).unwrap().is_empty());
    }
}
