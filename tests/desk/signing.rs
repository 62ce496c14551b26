//! Officials sign certifications with `kyso sign`, and the software a recipient uses (pyHanko,
//! pdfsig, qpdf) accepts what kyso produces; bad input is refused with one clear line.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn unsigned() -> PathBuf {
    fixture("pyhanko/unsigned.pdf")
}

#[test]
fn an_official_signs_with_rsa_and_both_verifiers_accept_it() {
    let dir = tmp();
    let out = dir.path().join("signed.pdf");
    dev_sign(
        "chairman-rsa",
        &unsigned(),
        &out,
        &[
            "--reason",
            "Chứng thực bản sao đúng với bản chính",
            "--location",
            "UBND xã Tân Lạc",
        ],
    );
    assert_externally_valid(&out, &[]);
    assert_qpdf_clean(&out);
}

#[test]
fn an_official_signs_with_ecdsa_and_both_verifiers_accept_it() {
    let dir = tmp();
    let out = dir.path().join("signed.pdf");
    dev_sign("vice-chairman-ec", &unsigned(), &out, &[]);
    assert_externally_valid(&out, &[]);
    assert_qpdf_clean(&out);
}

/// Whether the CMS in `pdf`'s `/Contents` (hex) names id-RSASSA-PSS as an algorithm.
fn names_rsassa_pss(pdf: &Path) -> bool {
    // DER of OBJECT IDENTIFIER 1.2.840.113549.1.1.10, as it appears in the hex /Contents.
    let pss_oid = "06092a864886f70d01010a";
    String::from_utf8_lossy(&std::fs::read(pdf).unwrap())
        .to_ascii_lowercase()
        .contains(pss_oid)
}

#[test]
fn rsa_keys_sign_with_rsassa_pss_by_default_and_pkcs1_on_request_and_both_verifiers_accept_it() {
    // Circular 15/2025/TT-BKHCN names RSASSA-PSS; --pkcs1 is for older tokens and verifiers.
    let dir = tmp();
    let pss = dir.path().join("pss.pdf");
    dev_sign("vice-chairman-rsa", &unsigned(), &pss, &[]);
    assert!(
        names_rsassa_pss(&pss),
        "the default RSA signature is not PSS"
    );
    assert_externally_valid(&pss, &[]);
    assert_qpdf_clean(&pss);
    let pkcs1 = dir.path().join("pkcs1.pdf");
    dev_sign("vice-chairman-rsa", &unsigned(), &pkcs1, &["--pkcs1"]);
    assert!(!names_rsassa_pss(&pkcs1), "--pkcs1 still signed with PSS");
    assert_externally_valid(&pkcs1, &[]);
}

#[test]
fn the_agency_seal_signs_after_the_official_and_both_signatures_stay_valid() {
    for (official, seal) in [
        ("chairman-rsa", "seal-ec"),
        ("vice-chairman-ec", "seal-rsa"),
    ] {
        let dir = tmp();
        let first = dir.path().join("official.pdf");
        let second = dir.path().join("sealed.pdf");
        dev_sign(official, &unsigned(), &first, &["--field", "ChuKyLanhDao"]);
        dev_sign(seal, &first, &second, &["--field", "DauCoQuan"]);
        assert_externally_valid(&second, &[]);
        assert_qpdf_clean(&second);
        let report = pdfsig(&second);
        assert!(
            report.contains("ChuKyLanhDao") && report.contains("DauCoQuan"),
            "{report}"
        );
    }
}

#[test]
fn the_official_and_the_seal_signed_in_one_go_give_the_file_two_separate_signings_give() {
    use kyso::signing::{AppearanceBuilder, SignOptions, SignatureStep, image};
    // RSA PKCS#1 v1.5 signatures are deterministic, so the two ways must agree byte for byte:
    // the sequence parses once and keeps its parse up to date, the separate calls parse the
    // file each time. An issued certification (visible fields, image and text appearances)
    // and a file whose updates need xref streams.
    let dir = tmp();
    let issued = dir.path().join("issued.pdf");
    let o = kyso()
        .args(["--dev", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["issue", "--kind", "signature", "--data"])
        .arg(repo().join("templates/signature/sample.json"))
        .arg("-o")
        .arg(&issued)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let objstm = dir.path().join("objstm.pdf");
    assert!(
        Command::new("qpdf")
            .arg("--object-streams=generate")
            .arg(unsigned())
            .arg(&objstm)
            .status()
            .unwrap()
            .success()
    );

    let k = keys_dev();
    let (official, seal) = (dev_key_signer("chairman-rsa"), dev_key_signer("seal-rsa"));
    let png = |name: &str| {
        image::SignatureImage::from_png(&std::fs::read(k.join("images").join(name)).unwrap())
            .unwrap()
    };
    let (hand, stamp) = (
        image::ImageAppearance::new(png("signature-chairman.png")),
        image::ImageAppearance::new(png("seal.png")),
    );
    let at = time::macros::datetime!(2026-11-26 02:30:00 UTC);
    let opts = |field: Option<&str>| SignOptions {
        field: field.map(str::to_owned),
        reason: Some("Chứng thực".into()),
        development_mode: true,
        ..SignOptions::at(at)
    };
    // Input, the official's field, the seal's field, the official's appearance.
    type Case<'a> = (
        &'a PathBuf,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a dyn AppearanceBuilder>,
    );
    let cases: [Case<'_>; 3] = [
        (
            &issued,
            Some("ChuKyLanhDao"),
            Some("DauCoQuan"),
            Some(&hand),
        ),
        (
            &issued,
            Some("ChuKyLanhDao"),
            Some("DauCoQuan"),
            Some(&kyso::templates::signature_block::TextAppearance),
        ),
        (&objstm, None, None, None),
    ];
    for (input, f1, f2, first_look) in cases {
        let input = std::fs::read(input).unwrap();
        let (o1, o2) = (opts(f1), opts(f2));
        let second_look: Option<&dyn AppearanceBuilder> = if first_look.is_some() {
            Some(&stamp)
        } else {
            None
        };
        let one_go = kyso::signing::sign_pdf_sequence(
            &input,
            &[
                SignatureStep {
                    signer: &official,
                    options: &o1,
                    appearance: first_look,
                },
                SignatureStep {
                    signer: &seal,
                    options: &o2,
                    appearance: second_look,
                },
            ],
        )
        .unwrap();
        let first =
            kyso::signing::sign_pdf_with_appearance(&input, &official, &o1, first_look).unwrap();
        let separate =
            kyso::signing::sign_pdf_with_appearance(&first, &seal, &o2, second_look).unwrap();
        assert!(
            one_go == separate,
            "the sequence and two separate signings differ"
        );
        assert!(
            one_go.starts_with(&first),
            "the seal's update follows the official's"
        );
        let out = dir.path().join("one-go.pdf");
        std::fs::write(&out, &one_go).unwrap();
        assert_externally_valid(&out, &[]);
        let report = verify(&one_go);
        assert_eq!(report.signatures.len(), 2);
    }

    // A failing later step gives nothing: the seal's certificate is refused before anything is
    // signed, as it would be on its own.
    let input = std::fs::read(&issued).unwrap();
    let o1 = opts(Some("ChuKyLanhDao"));
    let strict = SignOptions {
        development_mode: false,
        ..opts(Some("DauCoQuan"))
    };
    let refused = kyso::signing::sign_pdf_sequence(
        &input,
        &[
            SignatureStep {
                signer: &official,
                options: &o1,
                appearance: None,
            },
            SignatureStep {
                signer: &seal,
                options: &strict,
                appearance: None,
            },
        ],
    );
    assert!(
        matches!(
            refused,
            Err(kyso::signing::SigningError::DevelopmentPki { .. })
        ),
        "{refused:?}"
    );
}

#[test]
fn a_pdf_with_object_streams_and_an_xref_stream_is_signed_twice() {
    let dir = tmp();
    let objstm = dir.path().join("objstm.pdf");
    let st = Command::new("qpdf")
        .arg("--object-streams=generate")
        .arg(unsigned())
        .arg(&objstm)
        .status()
        .expect("qpdf runs");
    assert!(st.success());
    let first = dir.path().join("one.pdf");
    let second = dir.path().join("two.pdf");
    dev_sign("chairman-ec", &objstm, &first, &[]);
    dev_sign("seal-rsa", &first, &second, &[]);
    // The update used an xref stream, like the revision before it.
    let tail = std::fs::read(&second).unwrap();
    let text = String::from_utf8_lossy(&tail[std::fs::read(&first).unwrap().len()..]).into_owned();
    assert!(
        text.contains("/Type /XRef") || text.contains("/Type/XRef"),
        "expected an xref stream in the update"
    );
    assert_externally_valid(&second, &[]);
    assert_qpdf_clean(&second);
}

#[test]
fn a_pdf_already_signed_by_pyhanko_gets_a_second_signature_and_the_first_stays_valid() {
    let pyhanko_root = fixture("pyhanko/trust-root.pem");
    for input in [
        "pyhanko/valid-bb.pdf",
        "pyhanko/valid-visible.pdf",
        "pyhanko/valid-two-signatures.pdf",
    ] {
        let dir = tmp();
        let out = dir.path().join("countersigned.pdf");
        dev_sign("seal-ec", &fixture(input), &out, &[]);
        assert_externally_valid(&out, &[&pyhanko_root]);
        assert_qpdf_clean(&out);
    }
}

#[test]
fn the_output_starts_with_the_input_byte_for_byte() {
    let dir = tmp();
    let out = dir.path().join("signed.pdf");
    dev_sign("clerk-rsa", &unsigned(), &out, &[]);
    let input = std::fs::read(unsigned()).unwrap();
    let output = std::fs::read(&out).unwrap();
    assert!(output.len() > input.len());
    assert_eq!(&output[..input.len()], &input[..]);
}

#[test]
fn signing_into_an_existing_empty_field_keeps_its_name_and_never_touches_page_content() {
    let dir = tmp();
    let with_field = with_empty_field(dir.path(), "1/300,100,500,180/ChuKyLanhDao");
    let out = dir.path().join("signed.pdf");
    dev_sign(
        "chairman-rsa",
        &with_field,
        &out,
        &["--field", "ChuKyLanhDao"],
    );
    assert_externally_valid(&out, &[]);
    let report = pdfsig(&out);
    assert!(
        report.contains("Signature Field Name: ChuKyLanhDao"),
        "{report}"
    );
    assert_eq!(
        report.matches("Signature #").count(),
        1,
        "no second field was created: {report}"
    );

    // The update rewrites only the field (and adds the signature dictionary): no page, no
    // content stream.
    let base = std::fs::read(&with_field).unwrap();
    let all = std::fs::read(&out).unwrap();
    let update = String::from_utf8_lossy(&all[base.len()..]).into_owned();
    assert!(!update.contains("/Type /Page"), "page rewritten:\n{update}");
    assert!(!update.contains("/Contents ") || update.matches("/Contents ").count() == 1);

    // Signing the same field again is refused.
    let again = dir.path().join("again.pdf");
    let o = run_kyso(&sign_args(
        "seal-ec",
        &out,
        &again,
        &["--field", "ChuKyLanhDao"],
    ));
    assert_one_line_error(&o, "already signed");
    assert!(!again.exists());
}

#[test]
fn the_cms_has_the_pades_baseline_b_attributes_and_the_chain() {
    use cms::content_info::ContentInfo;
    use cms::signed_data::SignedData;
    use der::{Decode, Encode};

    let dir = tmp();
    let out = dir.path().join("signed.pdf");
    dev_sign("chairman-rsa", &unsigned(), &out, &[]);
    let doc = lopdf::Document::load(&out).unwrap();
    let sig = doc
        .objects
        .values()
        .filter_map(|o| o.as_dict().ok())
        .find(|d| d.get(b"Type").ok() == Some(&lopdf::Object::Name(b"Sig".to_vec())))
        .expect("a signature dictionary");
    assert_eq!(
        sig.get(b"SubFilter").unwrap(),
        &lopdf::Object::Name(b"ETSI.CAdES.detached".to_vec())
    );
    assert!(sig.get(b"M").is_ok(), "/M carries the claimed signing time");
    let contents = sig.get(b"Contents").unwrap().as_str().unwrap();
    let ci = ContentInfo::from_der(&contents[..der_len(contents)]).expect("CMS ContentInfo");
    let sd: SignedData = ci.content.decode_as().unwrap();
    let si = sd.signer_infos.0.iter().next().unwrap();
    let oids: Vec<String> = si
        .signed_attrs
        .as_ref()
        .unwrap()
        .iter()
        .map(|a| a.oid.to_string())
        .collect();
    assert!(
        oids.contains(&"1.2.840.113549.1.9.3".to_string()),
        "content-type"
    );
    assert!(
        oids.contains(&"1.2.840.113549.1.9.4".to_string()),
        "message-digest"
    );
    assert!(
        oids.contains(&"1.2.840.113549.1.9.16.2.47".to_string()),
        "signing-certificate-v2"
    );
    assert!(
        !oids.contains(&"1.2.840.113549.1.9.5".to_string()),
        "no signing-time in PAdES"
    );
    assert!(sd.encap_content_info.econtent.is_none(), "detached");
    let certs = sd.certificates.unwrap();
    assert_eq!(certs.0.len(), 2, "signer and intermediate");
    assert!(certs.0.to_der().is_ok());
}

fn pdfsig(file: &Path) -> String {
    let out = Command::new("pdfsig")
        .arg(file)
        .output()
        .expect("pdfsig runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run_kyso(args: &[String]) -> std::process::Output {
    kyso().args(args).output().expect("kyso runs")
}

/// Exit status 1, exactly one line on stderr containing `needle`, nothing on stdout.
fn assert_one_line_error(o: &std::process::Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(o.stdout.is_empty());
}

#[test]
fn bad_inputs_are_refused_with_one_line_and_no_output_file() {
    let dir = tmp();
    let d = dir.path();
    let not_pdf = d.join("letter.pdf");
    std::fs::write(&not_pdf, "Kính gửi UBND xã\n").unwrap();
    let encrypted = d.join("encrypted.pdf");
    assert!(
        Command::new("qpdf")
            .args(["--encrypt", "user", "owner", "256", "--"])
            .arg(unsigned())
            .arg(&encrypted)
            .status()
            .unwrap()
            .success()
    );
    let truncated = d.join("truncated.pdf");
    let full = std::fs::read(unsigned()).unwrap();
    std::fs::write(&truncated, &full[..full.len() * 2 / 3]).unwrap();
    let empty = d.join("empty.pdf");
    std::fs::write(&empty, b"").unwrap();

    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            sign_args("chairman-rsa", &not_pdf, &d.join("o1.pdf"), &[]),
            "not a PDF",
        ),
        (
            sign_args("chairman-rsa", &empty, &d.join("o2.pdf"), &[]),
            "not a PDF",
        ),
        (
            sign_args("chairman-rsa", &encrypted, &d.join("o3.pdf"), &[]),
            "encrypted",
        ),
        (
            sign_args("chairman-rsa", &truncated, &d.join("o4.pdf"), &[]),
            "truncated",
        ),
    ];
    for (args, needle) in cases {
        let out_path = PathBuf::from(args.last().unwrap());
        let o = run_kyso(&args);
        assert_one_line_error(&o, needle);
        assert!(
            !out_path.exists(),
            "{} must not be written",
            out_path.display()
        );
    }

    // A key that does not belong to the certificate; a CA certificate without the
    // digitalSignature / nonRepudiation key usage.
    let k = keys_dev();
    for (key, cert, needle, out) in [
        (
            "clerk-rsa.key.pem",
            "chairman-rsa.pem",
            "does not match",
            "o5.pdf",
        ),
        (
            "intermediate-ca.key.pem",
            "intermediate-ca.pem",
            "does not allow document signing",
            "o6.pdf",
        ),
    ] {
        let out = d.join(out);
        let args: Vec<String> = vec![
            "--dev".into(),
            "sign".into(),
            "--key".into(),
            k.join(key).display().to_string(),
            "--cert".into(),
            k.join(cert).display().to_string(),
            unsigned().display().to_string(),
            "-o".into(),
            out.display().to_string(),
        ];
        assert_one_line_error(&run_kyso(&args), needle);
        assert!(!out.exists());
    }

    // A missing input file.
    let o6 = d.join("o7.pdf");
    assert_one_line_error(
        &run_kyso(&sign_args("chairman-rsa", &d.join("missing.pdf"), &o6, &[])),
        "cannot read",
    );
    assert!(!o6.exists());
}

#[test]
fn development_keys_are_refused_outside_development_mode() {
    let dir = tmp();
    let out = dir.path().join("signed.pdf");
    let mut args: Vec<String> = vec!["sign".into()];
    args.extend(signer_args("chairman-rsa"));
    args.push(unsigned().display().to_string());
    args.push("-o".into());
    args.push(out.display().to_string());
    assert_one_line_error(&run_kyso(&args), "development PKI");
    assert!(!out.exists());

    // Development mode can also come from the environment or a configuration file.
    let o = kyso()
        .env("KYSO_DEVELOPMENT", "1")
        .args(&args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_file(&out).unwrap();
    let cfg = dir.path().join("kyso.toml");
    std::fs::write(&cfg, "development = true\n").unwrap();
    let mut with_cfg = vec!["--config".to_string(), cfg.display().to_string()];
    with_cfg.extend(args.iter().cloned());
    let o = run_kyso(&with_cfg);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn dev_pki_makes_a_complete_pki_that_signs_acceptably() {
    let dir = tmp();
    let pki = dir.path().join("pki");
    let o = run_kyso(&["dev-pki".into(), "--out".into(), pki.display().to_string()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "root-ca.pem",
        "intermediate-ca.pem",
        "intermediate-ca.crl.pem",
        "README.md",
        "chairman-rsa.pem",
        "chairman-ec.key.pem",
        "vice-chairman-rsa.pem",
        "clerk-ec.pem",
        "seal-rsa.pem",
        "revoked-rsa.pem",
    ] {
        assert!(pki.join(f).exists(), "{f} missing");
    }
    // Names are UTF-8 Vietnamese and the leaf can sign, verified under the new root.
    let cert = std::fs::read_to_string(pki.join("vice-chairman-ec.pem")).unwrap();
    let der = pem::parse(cert).unwrap();
    let c = kyso::pki::Certificate::from_der(der.contents().to_vec()).unwrap();
    assert_eq!(c.common_name().as_deref(), Some("Trần Thị Bình"));
    assert_eq!(c.title().as_deref(), Some("Phó Chủ tịch"));
    assert!(c.allows_document_signing());
    assert!(
        kyso::pki::is_development_certificate(c.der()),
        "a fresh dev PKI is development material too"
    );

    let out = dir.path().join("signed.pdf");
    let args: Vec<String> = vec![
        "--dev".into(),
        "sign".into(),
        "--key".into(),
        pki.join("vice-chairman-ec.key.pem").display().to_string(),
        "--cert".into(),
        pki.join("vice-chairman-ec.pem").display().to_string(),
        "--chain".into(),
        pki.join("intermediate-ca.pem").display().to_string(),
        unsigned().display().to_string(),
        "-o".into(),
        out.display().to_string(),
    ];
    let o = run_kyso(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (ok, report) = external_verify(&out, &[&pki.join("root-ca.pem")]);
    assert!(ok, "{report}");
}

#[test]
fn every_signing_is_recorded_in_the_audit_log() {
    let dir = tmp();
    let data = dir.path().join("data");
    let out = dir.path().join("signed.pdf");
    let mut args = vec!["--data-dir".to_string(), data.display().to_string()];
    args.extend(sign_args("clerk-ec", &unsigned(), &out, &[]));
    let o = kyso().args(&args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = kyso()
        .args(["--data-dir", data.to_str().unwrap(), "audit", "list"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&o.stdout);
    assert!(log.contains("Lê Văn Cường\tsign"), "{log}");
    assert!(log.contains("signed.pdf"), "{log}");
    let o = kyso()
        .args(["--data-dir", data.to_str().unwrap(), "audit", "verify"])
        .output()
        .unwrap();
    assert!(o.status.success());
}

#[test]
fn a_visible_field_signed_without_an_image_shows_name_title_and_time_in_its_widget() {
    let dir = tmp();
    let with_field = with_empty_field(dir.path(), "1/300,100,480,170/ChuKyLanhDao");
    let out = dir.path().join("signed.pdf");
    dev_sign(
        "vice-chairman-ec",
        &with_field,
        &out,
        &["--field", "ChuKyLanhDao"],
    );
    assert_externally_valid(&out, &[]);

    // The widget's normal appearance is a form XObject with an embedded font and text.
    let doc = lopdf::Document::load(&out).unwrap();
    let widget = doc
        .objects
        .values()
        .filter_map(|o| o.as_dict().ok())
        .find(|d| {
            d.get(b"T").ok().and_then(|t| t.as_str().ok()) == Some(b"ChuKyLanhDao".as_slice())
        })
        .expect("the field");
    let ap = widget.get(b"AP").unwrap().as_dict().unwrap();
    let n = doc
        .get_object(ap.get(b"N").unwrap().as_reference().unwrap())
        .unwrap()
        .as_stream()
        .unwrap();
    assert_eq!(
        n.dict.get(b"Subtype").unwrap(),
        &lopdf::Object::Name(b"Form".to_vec())
    );
    let content = n
        .decompressed_content()
        .unwrap_or_else(|_| n.content.clone());
    assert!(
        String::from_utf8_lossy(&content).contains("Tj")
            || String::from_utf8_lossy(&content).contains("TJ")
    );
    let resources = n.dict.get(b"Resources").unwrap();
    let resources = match resources {
        lopdf::Object::Reference(id) => doc.get_dictionary(*id).unwrap(),
        other => other.as_dict().unwrap(),
    };
    assert!(resources.has(b"Font"), "the text block brings its font");
    // And the page itself was not rewritten.
    let base = std::fs::read(&with_field).unwrap();
    let all = std::fs::read(&out).unwrap();
    assert!(!String::from_utf8_lossy(&all[base.len()..]).contains("/Type /Page\n"));
}

#[test]
fn usage_errors_exit_64_and_are_never_mistaken_for_a_verdict() {
    let o = kyso().args(["verify"]).output().unwrap();
    assert_eq!(o.status.code(), Some(64));
    let o = kyso().args(["sign", "--nonsense"]).output().unwrap();
    assert_eq!(o.status.code(), Some(64));
    assert!(kyso().arg("--help").output().unwrap().status.success());
}

/// `unsigned.pdf` with an empty signature field added by pyHanko (`PAGE/x1,y1,x2,y2/NAME`).
fn with_empty_field(dir: &Path, spec: &str) -> PathBuf {
    let out = dir.join("fields.pdf");
    let st = Command::new(tools().join("venv/bin/pyhanko"))
        .args(["sign", "addfields", "--field", spec])
        .arg(unsigned())
        .arg(&out)
        .status()
        .expect("pyhanko runs");
    assert!(st.success());
    out
}

#[test]
fn a_later_step_of_a_sequence_sees_the_earlier_signature_and_keeps_its_own_limits() {
    use kyso::signing::{SignOptions, SignatureStep, SigningError, sign_pdf_sequence};
    let input = std::fs::read(unsigned()).unwrap();
    let (a, b) = (dev_key_signer("chairman-rsa"), dev_key_signer("seal-rsa"));
    let opts = |field: &str| SignOptions {
        field: Some(field.into()),
        development_mode: true,
        ..SignOptions::at(time::OffsetDateTime::now_utc())
    };
    // The same field twice: the second step must see the /V the first one gave it.
    let o = opts("ChuKyLanhDao");
    let twice = sign_pdf_sequence(
        &input,
        &[
            SignatureStep {
                signer: &a,
                options: &o,
                appearance: None,
            },
            SignatureStep {
                signer: &b,
                options: &o,
                appearance: None,
            },
        ],
    );
    assert!(
        matches!(twice, Err(SigningError::FieldAlreadySigned(_))),
        "{twice:?}"
    );
    // A later step's limits apply to the file it signs, as when it signs that file on its own.
    let o1 = opts("ChuKyLanhDao");
    let mut o2 = opts("DauCoQuan");
    o2.limits.max_file_size = input.len() + 1000;
    let tight = sign_pdf_sequence(
        &input,
        &[
            SignatureStep {
                signer: &a,
                options: &o1,
                appearance: None,
            },
            SignatureStep {
                signer: &b,
                options: &o2,
                appearance: None,
            },
        ],
    );
    assert!(
        matches!(
            tight,
            Err(SigningError::Pdf(kyso::pdf::PdfError::TooLarge { .. }))
        ),
        "{tight:?}"
    );
}
