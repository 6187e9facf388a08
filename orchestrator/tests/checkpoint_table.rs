//! `faultlab table` on sim: one run per protocol under the same crash and
//! one without it, and the numbers that fill the seed's table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn section(dir: &Path, protocol: &str, run: &str) -> Value {
    let path = dir.join(protocol).join(run).join("report.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str::<Value>(&text).unwrap()["checkpointing"].clone()
}

#[test]
fn the_table_measures_every_protocol_under_the_same_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let library = Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments/checkpoint-table.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_faultlab"))
        .arg("table")
        .arg(&library)
        .arg("--out")
        .arg(tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let protocols = ["independent", "coordinated", "pessimistic-logging", "optimistic-logging"];
    let page = std::fs::read_to_string(tmp.path().join("table.html")).unwrap();
    for p in protocols {
        assert!(stdout.lines().any(|l| l.trim_start().starts_with(p) && l.ends_with("yes")), "{p}: {stdout}");
        assert!(page.contains(&format!("href=\"{p}/crash/report.html\"")), "{p}");
        let (free, crash) = (section(tmp.path(), p, "failure-free"), section(tmp.path(), p, "crash"));
        assert_eq!(crash["golden_match"], Value::Bool(true), "{p}: {crash:#}");
        assert_eq!(crash["golden_mismatch"], Value::Null, "{p}");
        assert_eq!(free["rollbacks"], 0, "{p}: the reference run has no crash");
        assert!(crash["rollbacks"].as_u64().unwrap() >= 1, "{p}");
    }
    let n = |p: &str, run: &str, k: &str| section(tmp.path(), p, run)[k].as_u64().unwrap();
    // Blocking and orphans, as the seed's table has them.
    assert_eq!(n("pessimistic-logging", "crash", "survivors_rolled_back"), 0, "pessimistic: nobody else");
    assert_eq!(n("pessimistic-logging", "crash", "orphans"), 0);
    assert!(n("optimistic-logging", "crash", "orphans") > 0, "optimistic: orphans");
    assert!(n("independent", "crash", "survivors_rolled_back") >= 3, "independent: the domino");
    assert!(n("coordinated", "crash", "survivors_rolled_back") >= 3, "coordinated: everyone to the snapshot");
    // What each adds without failures: pessimistic logging sends nothing
    // more but writes every message; the others add messages.
    assert_eq!(n("pessimistic-logging", "failure-free", "protocol_messages"), 0);
    for p in ["independent", "coordinated", "optimistic-logging"] {
        assert!(n(p, "failure-free", "protocol_messages") > 0, "{p}");
    }
    assert!(
        n("pessimistic-logging", "failure-free", "logged_messages")
            > n("optimistic-logging", "failure-free", "checkpoints"),
        "pessimistic logs every delivery"
    );
    let wait =
        |p: &str| section(tmp.path(), p, "failure-free")["output_wait_seconds"]["p50"].as_f64().unwrap();
    assert_eq!(wait("pessimistic-logging"), 0.0, "output commit is immediate");
    assert!(wait("coordinated") > wait("optimistic-logging"), "outputs wait for the next committed snapshot");
}
