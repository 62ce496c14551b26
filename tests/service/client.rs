//! What the service's stories share beyond the server and its client
//! ([`crate::common::served`]): the sample data, the signing device and the date in Vietnam.

use std::process::Command;

use serde_json::Value;

use crate::common::*;

/// The sample data of the signature certification.
pub fn signature_sample() -> Value {
    serde_json::from_slice(&std::fs::read(repo().join("templates/signature/sample.json")).unwrap())
        .unwrap()
}

/// The device of deferred signing, played by openssl: the raw signature (base64) of the
/// prepared digest (base64) with the private key in `keys-dev/{key}` (an EC key: ECDSA over
/// the digest as given).
pub fn device_sign(key: &str, digest_base64: &str) -> String {
    let digest =
        <base64ct::Base64 as base64ct::Encoding>::decode_vec(digest_base64.trim()).unwrap();
    assert_eq!(digest.len(), 32, "{digest_base64}");
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("digest.bin"), dir.path().join("sig.bin"));
    std::fs::write(&input, &digest).unwrap();
    let st = Command::new("openssl")
        .args(["pkeyutl", "-sign", "-inkey"])
        .arg(keys_dev().join(key))
        .args(["-pkeyopt", "digest:sha256", "-in"])
        .arg(&input)
        .arg("-out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    <base64ct::Base64 as base64ct::Encoding>::encode_string(&std::fs::read(&out).unwrap())
}

/// Today in Vietnam as `YYYY-MM-DD`, shifted by `days`.
pub fn vietnam_day(days: i64) -> String {
    let t = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+7))
        + time::Duration::days(days);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}
