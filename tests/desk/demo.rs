//! The command-line demo: `kyso --dev demo` runs the main job end to end on embedded defaults,
//! and what it produces stands on its own before the external verifiers.

use crate::common::*;

#[test]
fn the_demo_issues_signs_under_delegation_seals_verifies_and_archives() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("kyso-data");
    let run = || {
        kyso()
            .current_dir(repo())
            .args(["--dev", "--data-dir", data.to_str().unwrap(), "demo"])
            .output()
            .expect("kyso runs")
    };
    let o = run();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("KT. CHỦ TỊCH / PHÓ CHỦ TỊCH"), "{out}");
    assert!(out.contains("verified: Passed"), "{out}");
    assert!(out.contains("0 waiting"), "{out}");
    let signed: Vec<_> = std::fs::read_dir(data.join("demo"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("-signed.pdf"))
        .collect();
    assert_eq!(signed.len(), 1);
    assert_externally_valid(&signed[0], &[]);

    // A second run reuses the registered commune and takes the next number.
    let o = run();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("number 02"), "{out}");

    // Without development mode the demo refuses to touch keys-dev.
    let o = kyso()
        .current_dir(repo())
        .args(["--data-dir", data.to_str().unwrap(), "demo"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("development mode"));
}
