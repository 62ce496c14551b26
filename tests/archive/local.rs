//! Archive stories on the embedded default, the local-disk store: documents go in, come back
//! verified, damage is named, a full disk holds documents back without losing them, and
//! crashes at random moments lose nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support;
use crate::support::{Kyso, outbox_rows, store_keys};

#[test]
fn a_clerk_archives_many_documents_and_the_audit_finds_a_flipped_byte() {
    let k = Kyso::new();
    let mut files = k.write_docs(0..40);
    // One large scanned annex (20 MiB) among them.
    let big = k.dir.path().join("annex.pdf");
    let mut bytes = support::signed_pdf(999);
    bytes.resize(20 * 1024 * 1024, b' ');
    std::fs::write(&big, &bytes).unwrap();
    files.push(big);

    let keys = k.put(&files, "contract");
    assert_eq!(keys.len(), 41);
    assert_eq!(k.counts(), (41, 0, 0), "recorded, nothing uploaded yet");

    k.ok(&["archive", "drain"]);
    assert_eq!(k.counts(), (0, 0, 41));
    let verify = k.ok(&["archive", "verify"]);
    assert!(
        verify.contains("verified 41 archived object(s)") && verify.contains(": 0 bad"),
        "{verify}"
    );
    let stored = store_keys(&k);
    assert_eq!(stored.len(), 41);
    assert!(stored.iter().any(|(_, size)| *size == 20 * 1024 * 1024));
    // The staging copies are gone once archived.
    assert_eq!(count_files(&k.data_dir().join("outbox")), 0);

    // A disk error flips one byte of one archived file.
    let victim = &keys[7];
    let path = key_path(&k, victim);
    let mut data = std::fs::read(&path).unwrap();
    data[1000] ^= 0x01;
    std::fs::write(&path, &data).unwrap();

    // And another archived file disappears.
    std::fs::remove_file(key_path(&k, &keys[20])).unwrap();

    let out = k.run(&["archive", "verify"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    let bad: Vec<&str> = text.lines().filter(|l| l.starts_with("BAD")).collect();
    assert_eq!(bad.len(), 2, "{text}");
    assert!(
        bad[0].contains(victim.as_str()) && bad[0].contains("integrity check failed"),
        "{text}"
    );
    assert!(
        bad[1].contains(keys[20].as_str()) && bad[1].contains("not found"),
        "{text}"
    );
    assert!(
        text.contains("verified 41 archived object(s)") && text.contains(": 2 bad"),
        "{text}"
    );

    // A sample audit reads only that many objects.
    let sample = k.run(&["archive", "verify", "--sample", "5"]);
    assert!(String::from_utf8_lossy(&sample.stdout).contains("verified 5 archived object(s)"));
}

#[test]
fn the_same_document_twice_is_one_entry_and_bad_input_is_one_clear_line() {
    let k = Kyso::new();
    let files = k.write_docs(0..1);
    let first = k.ok(&[
        "archive",
        "put",
        "--kind",
        "signature",
        files[0].to_str().unwrap(),
    ]);
    let again = k.ok(&[
        "archive",
        "put",
        "--kind",
        "signature",
        files[0].to_str().unwrap(),
    ]);
    assert!(first.starts_with("queued "), "{first}");
    assert!(again.starts_with("known "), "{again}");
    assert_eq!(k.counts(), (1, 0, 0));
    let text = k.dir.path().join("notes.txt");
    std::fs::write(&text, "Biên bản họp, không phải PDF\n").unwrap();

    for (args, expect) in [
        (
            vec!["archive", "put", "--kind", "signature", "/nonexistent.pdf"],
            "cannot read /nonexistent.pdf",
        ),
        (
            vec![
                "archive",
                "put",
                "--kind",
                "Hợp đồng",
                files[0].to_str().unwrap(),
            ],
            "unknown document kind",
        ),
        (
            // A kind the retention table may name but no template issues: refused, since the
            // kind chooses the retention.
            vec![
                "archive",
                "put",
                "--kind",
                "civil-status",
                files[0].to_str().unwrap(),
            ],
            "unknown document kind \"civil-status\"",
        ),
        (
            vec![
                "archive",
                "put",
                "--kind",
                "signature",
                text.to_str().unwrap(),
            ],
            "not a PDF",
        ),
        (
            vec![
                "archive",
                "put",
                "--kind",
                "signature",
                "--date",
                "25/11/2026",
                files[0].to_str().unwrap(),
            ],
            "invalid --date",
        ),
    ] {
        let out = k.run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(expect), "{err}");
    }
    assert_eq!(k.counts(), (1, 0, 0));
}

/// A tmpfs of `size` mounted at `dir` for the test's lifetime.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test needs to mount a small tmpfs (run as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` up to the last byte.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let p = dir.join("filler");
    let mut f = std::fs::File::create(&p).unwrap();
    let block = vec![0u8; 4096];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
    p
}

#[test]
fn a_full_archive_disk_holds_documents_back_with_the_reason_and_loses_none() {
    let mut k = Kyso::new();
    let archive_dir = k.dir.path().join("archive-disk");
    let _disk = Tmpfs::mount(&archive_dir, "1m");
    k.set("KYSO_ARCHIVE_DIR", archive_dir.to_str().unwrap());
    let filler = fill(&archive_dir);

    let files = k.write_docs(0..5);
    k.put(&files, "signature");
    let out = k.run(&["archive", "drain"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a drain that cannot finish says so"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("No space left on device"), "{text}");

    // The worker keeps retrying and reports why.
    let mut worker = k
        .command(&["archive", "run"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    worker.kill().unwrap();
    let out = worker.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("No space left on device"));
    let s = k.status();
    assert_eq!(s["failed"].as_u64(), Some(5));
    assert!(
        s["failures"][0][0]
            .as_str()
            .unwrap()
            .contains("No space left on device"),
        "{s}"
    );
    assert!(
        s["oldest_waiting"]["attempts"].as_u64().unwrap() >= 3,
        "{s}"
    );

    // Space returns: everything goes through, intact.
    std::fs::remove_file(filler).unwrap();
    k.ok(&["archive", "drain"]);
    assert_eq!(k.counts(), (0, 0, 5));
    assert!(k.ok(&["archive", "verify"]).contains(": 0 bad"));
}

#[test]
fn a_full_data_disk_refuses_new_documents_clearly_and_keeps_the_recorded_ones() {
    let mut k = Kyso::new();
    let data = k.dir.path().join("small-data");
    let _disk = Tmpfs::mount(&data, "2m");
    k.set("KYSO_DATA_DIR", data.to_str().unwrap());
    let files = k.write_docs(0..4);
    k.put(&files[..3], "signature");
    let filler = fill(&data);

    let out = k.run(&[
        "archive",
        "put",
        "--kind",
        "signature",
        files[3].to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("No space left on device") || err.contains("full?"),
        "{err}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "nothing reported recorded"
    );

    std::fs::remove_file(filler).unwrap();
    assert_eq!(
        k.counts(),
        (3, 0, 0),
        "the three recorded documents are intact"
    );
    k.ok(&["archive", "drain"]);
    assert!(
        k.ok(&["archive", "verify"])
            .contains("verified 3 archived object(s) in local:")
    );
    assert_eq!(outbox_rows(&k).len(), 3);
}

#[test]
fn crashes_at_random_moments_lose_nothing_on_the_local_store() {
    let k = Kyso::new();
    support::kill_loop(&k, 20);
}

#[test]
fn one_worker_per_data_directory() {
    let k = Kyso::new();
    let mut first = k.command(&["archive", "run"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = k.run(&["archive", "drain"]);
    first.kill().unwrap();
    let _ = first.wait();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another archive worker is running"));
}

fn key_path(k: &Kyso, key: &str) -> PathBuf {
    key.split('/')
        .fold(k.data_dir().join("archive"), |p, c| p.join(c))
}

fn count_files(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            if e.path().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[test]
fn leftovers_of_crashes_are_cleaned_at_worker_start_and_fresh_temporaries_are_kept() {
    let k = Kyso::new();
    let files = k.write_docs(0..2);
    let keys = k.put(&files, "contract");
    k.ok(&["archive", "drain"]);
    assert_eq!(k.counts(), (0, 0, 2));

    // What crashes leave: a staged copy whose row says archived (killed between the commit and
    // the removal), temporary files of interrupted writes in the staging directory and in the
    // local store, and one temporary file of a write still going on in another process.
    let data = k.data_dir();
    let sha = keys[0].rsplit('/').next().unwrap().trim_end_matches(".pdf");
    let staged = data
        .join("outbox")
        .join(&sha[..2])
        .join(format!("{sha}.pdf"));
    std::fs::create_dir_all(staged.parent().unwrap()).unwrap();
    std::fs::write(&staged, support::signed_pdf(0)).unwrap();
    let old_staging_tmp = staged.with_file_name(format!(".tmp-{sha}.pdf.999.0"));
    let young_staging_tmp = staged.with_file_name(format!(".tmp-{sha}.pdf.999.1"));
    let archived = data.join("archive").join(&keys[1]);
    let old_store_tmp = archived.with_file_name(".tmp-x.pdf.999.2");
    for p in [&old_staging_tmp, &young_staging_tmp, &old_store_tmp] {
        std::fs::write(p, b"%PDF-1.7 half written").unwrap();
    }
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for p in [&staged, &old_staging_tmp, &old_store_tmp] {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
    }

    k.ok(&["archive", "drain"]);
    assert!(!staged.exists(), "staged copy of an archived document");
    assert!(!old_staging_tmp.exists(), "old temporary file in staging");
    assert!(
        !old_store_tmp.exists(),
        "old temporary file in the local store"
    );
    assert!(
        young_staging_tmp.exists(),
        "a write in progress is left alone"
    );
    assert!(archived.exists());
    assert_eq!(k.counts(), (0, 0, 2));
    assert!(k.ok(&["archive", "verify"]).contains(": 0 bad"));
}
