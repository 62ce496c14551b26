//! Signing feeds the archive: every signature `kyso sign` reports is already recorded in the
//! outbox, and signing never waits for the archive's network.

use crate::common;
use crate::support::{self, Kyso};

fn sign(
    k: &Kyso,
    input: &std::path::Path,
    output: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    let mut args: Vec<String> = vec!["--dev".into(), "sign".into()];
    args.extend(common::signer_args("chairman-rsa"));
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(input.display().to_string());
    args.push("-o".into());
    args.push(output.display().to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    k.run(&refs)
}

#[test]
fn a_signed_document_is_recorded_for_the_archive_and_archived_byte_for_byte() {
    let mut k = Kyso::new();
    k.set("KYSO_ARCHIVE_COMMUNE", "xa-ta-phin");
    let input = common::fixture("pyhanko/unsigned.pdf");
    let out = k.dir.path().join("signed.pdf");
    let r = sign(&k, &input, &out, &[]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let printed = String::from_utf8_lossy(&r.stdout);
    assert!(
        printed.contains("(archive #1 ") && printed.contains("/xa-ta-phin/"),
        "{printed}"
    );
    assert_eq!(k.counts(), (1, 0, 0));

    k.ok(&["archive", "drain"]);
    assert_eq!(k.counts(), (0, 0, 1));
    let signed = std::fs::read(&out).unwrap();
    let key = support::store_keys(&k).remove(0).0;
    let archived = std::fs::read(
        key.split('/')
            .fold(k.data_dir().join("archive"), |p, c| p.join(c)),
    )
    .unwrap();
    assert_eq!(archived, signed);
}

#[test]
fn signing_does_not_wait_for_an_unreachable_archive() {
    let mut k = Kyso::new();
    k.set("KYSO_ARCHIVE_BACKEND", "s3")
        .set("KYSO_ARCHIVE_ENDPOINT", "http://127.0.0.1:9")
        .set("KYSO_ARCHIVE_BUCKET", "kyso")
        .set("KYSO_ARCHIVE_ACCESS_KEY_ID", "GK00")
        .set("KYSO_ARCHIVE_SECRET_ACCESS_KEY", "secret");
    let input = common::fixture("pyhanko/unsigned.pdf");
    for i in 0..3 {
        let out = k.dir.path().join(format!("signed-{i}.pdf"));
        let r = sign(&k, &input, &out, &["--reason", &format!("copy {i}")]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    }
    assert_eq!(k.counts(), (3, 0, 0));
    let drain = k.run(&["archive", "drain"]);
    assert_eq!(drain.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&drain.stdout)
            .contains("cannot reach S3 endpoint http://127.0.0.1:9")
    );
    assert_eq!(k.counts(), (0, 3, 0));
}
