//! RPC orphans on the sim backend: the same client crash mid-call under no
//! remedy and under each of the four, and the numbers that tell them apart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::Value;

fn orphans(policy: &str) -> Value {
    let tmp = tempfile::tempdir().unwrap();
    let file = common::library().join(format!("rpc-orphans-{policy}.yaml"));
    let code = common::run_on(&file, "sim", tmp.path(), &[]);
    let r = common::report(tmp.path());
    assert_eq!(code, 0, "{policy}: {}", r["expect"]);
    r["rpc"].clone()
}

fn f(v: &Value, key: &str) -> f64 {
    v["orphans"][key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"))
}

#[test]
fn the_four_remedies_differ_from_none_and_from_each_other_in_numbers() {
    let none = orphans("none");
    let ext = orphans("extermination");
    let rein = orphans("reincarnation");
    let gentle = orphans("gentle");
    let exp = orphans("expiration");
    // The same crash orphans the same computations in every run.
    let n = f(&none, "orphans");
    assert!(n >= 8.0, "{none}");
    for r in [&ext, &rein, &gentle, &exp] {
        assert_eq!(f(r, "orphans"), n, "{r}");
    }
    // No remedy: every orphan runs to its end (4 s of work each), and the
    // restarted client gets replies to calls it does not know.
    assert_eq!(f(&none, "completed"), n);
    assert!((f(&none, "wasted_seconds") - 4.0 * n).abs() < 1e-6, "{none}");
    assert!(none["orphans"]["stray_replies"].as_u64().unwrap() > 0);
    // Extermination and reincarnation kill what is left when the client is back (0.5 s).
    for r in [&ext, &rein] {
        assert!(f(r, "killed") > 0.0, "{r}");
        assert!((0.5..0.6).contains(&f(r, "cleared_seconds")), "{r}");
        assert!(f(r, "wasted_seconds") < f(&none, "wasted_seconds"), "{r}");
        assert_eq!(r["orphans"]["stray_replies"], 0, "{r}");
    }
    // Gentle: the client claims its calls; nothing is killed and none of its calls is lost.
    assert!(f(&gentle, "adopted") > 0.0 && f(&gentle, "killed") == 0.0, "{gentle}");
    assert_eq!(gentle["lost_calls"], 0, "{gentle}");
    assert!(
        gentle["ok"].as_u64().unwrap() > none["ok"].as_u64().unwrap(),
        "claimed calls complete: {gentle}"
    );
    assert!(f(&gentle, "wasted_seconds") < f(&ext, "wasted_seconds"), "{gentle} {ext}");
    // Expiration: every orphan is gone within a quantum (400 ms) and the
    // server's check period (a quarter of one) of the crash.
    assert!(f(&exp, "cleared_seconds") <= 0.5 + 1e-6, "{exp}");
    assert!(f(&exp, "cleared_seconds") < f(&ext, "cleared_seconds"), "{exp}");
}

#[test]
fn orphan_remedies_need_long_calls() {
    let tmp = tempfile::tempdir().unwrap();
    let file = common::write(tmp.path(), "x.yaml", "name: x\nseed: 1\nduration: 2s\nbackend: sim\nworkload: { kind: rpc, semantics: at-most-once, orphans: gentle }\n");
    let (code, err) = common::validate(&file);
    assert!(code != Some(0) && err.contains("x.yaml:5:") && err.contains("set `work:`"), "{err}");
}
