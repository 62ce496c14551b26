//! Issuing certifications, as a clerk and a citizen see it: every kind renders from its sample
//! data into an A4 PDF whose text is the data, with embedded fonts, a QR code that leads to the
//! document, and empty signature fields that the official and then the agency seal sign into —
//! accepted by pyHanko and pdfsig. Numbers are never repeated or skipped, even under concurrency.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use crate::common;
use crate::common::{assert_externally_valid, dev_sign};
use kyso::config::Authority;
use kyso::issuing::{IssueError, Issuer, RegisterKey, Status};
use kyso::registry::Registry;
use kyso::templates::{Catalog, Field, FieldType};
use time::OffsetDateTime;
use time::macros::datetime;

const KINDS: [&str; 8] = [
    "certified-copy",
    "signature",
    "signature-several",
    "thumbprint",
    "unable-to-sign",
    "contract",
    "birth-extract",
    "marital-status",
];

/// Runs `kyso` with `args`.
fn run_kyso(args: &[&str]) -> std::process::Output {
    common::kyso().args(args).output().expect("kyso runs")
}

fn catalog() -> Arc<Catalog> {
    Arc::new(Catalog::load().expect("the embedded templates load"))
}

fn sample(kind: &str) -> serde_json::Value {
    let path = common::repo()
        .join("templates")
        .join(kind)
        .join("sample.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn issuer(catalog: &Arc<Catalog>, db: &Path) -> Issuer<Registry> {
    Issuer::new(
        catalog.clone(),
        Registry::open(db).unwrap(),
        kyso::issuing::IssuedFiles::new(db.with_extension("documents")),
        Authority::default(),
        "https://kyso.example.gov.vn",
    )
}

fn now() -> OffsetDateTime {
    datetime!(2026-11-25 09:30 +07:00)
}

/// The strings a reader must find in the PDF for this data: every text, ID number and choice
/// (except codes such as the signer's position), integers, and dates as dd/mm/yyyy.
fn expected_strings(fields: &[Field], data: &serde_json::Value, out: &mut Vec<String>) {
    for f in fields {
        let Some(v) = data.get(&f.name) else { continue };
        match &f.ty {
            FieldType::Text { .. } | FieldType::CitizenId => {
                out.push(v.as_str().unwrap().to_owned())
            }
            FieldType::Choice(_) if f.name != "position" => {
                out.push(v.as_str().unwrap().to_owned())
            }
            FieldType::Integer { .. } => out.push(v.to_string()),
            FieldType::Date { .. } => {
                let s = v.as_str().unwrap();
                out.push(format!("{}/{}/{}", &s[8..10], &s[5..7], &s[0..4]));
            }
            FieldType::Object(sub) => expected_strings(sub, v, out),
            FieldType::List { item, .. } => {
                for it in v.as_array().unwrap() {
                    expected_strings(item, it, out);
                }
            }
            _ => {}
        }
    }
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn tool(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} runs: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_kind_issues_from_its_sample_into_a_readable_a4_pdf_with_embedded_fonts_and_a_working_qr_code()
 {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog();
    let mut iss = issuer(&catalog, &dir.path().join("r.sqlite3"));
    for kind in KINDS {
        let data = sample(kind);
        let doc = iss
            .issue(kind, &data, now())
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let pdf = dir.path().join(format!("{kind}.pdf"));
        std::fs::write(&pdf, &doc.pdf).unwrap();
        let p = pdf.to_str().unwrap();

        // The text layer is the data, letter for letter (ToUnicode maps every Vietnamese glyph).
        let text = squash(&tool("pdftotext", &[p, "-"]));
        let mut want = Vec::new();
        expected_strings(&catalog.get(kind).unwrap().schema.fields, &data, &mut want);
        assert!(want.len() >= 3, "{kind}: the sample exercises its fields");
        for s in want {
            assert!(
                text.contains(&squash(&s)),
                "{kind}: {s:?} missing from the text layer:\n{text}"
            );
        }
        for s in [
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            "Độc lập - Tự do - Hạnh phúc",
            "ỦY BAN NHÂN DÂN",
        ] {
            assert!(text.contains(s), "{kind}: {s:?} missing");
        }
        // Dates in words, as the statements and the birth extract write them.
        let words: &[&str] = match kind {
            "signature" | "contract" => {
                &["ngày hai mươi lăm tháng mười một năm hai nghìn không trăm hai mươi sáu"]
            }
            "birth-extract" => &["ngày tám tháng ba năm hai nghìn không trăm hai mươi tư"],
            _ => &[],
        };
        for w in words {
            assert!(text.contains(w), "{kind}: {w:?} missing:\n{text}");
        }
        let number = doc.number_text(&catalog);
        let printed = number.split(',').next().unwrap();
        assert!(
            text.contains(printed),
            "{kind}: number {number} not printed"
        );

        // Every font is embedded; the page is A4.
        let fonts = tool("pdffonts", &[p]);
        let rows: Vec<&str> = fonts.lines().skip(2).collect();
        assert!(!rows.is_empty(), "{kind}: no fonts?");
        for row in rows {
            let cols: Vec<&str> = row.split_whitespace().collect();
            let emb = cols[cols.len() - 5];
            assert_eq!(emb, "yes", "{kind}: font not embedded: {row}");
        }
        let info =
            String::from_utf8_lossy(&Command::new("pdfinfo").arg(p).output().unwrap().stdout)
                .into_owned();
        assert!(
            info.contains("595.276 x 841.89 pts (A4)"),
            "{kind}: not A4: {info}"
        );

        // The QR code, scanned off a 150 dpi rendering, is the document's verification URL.
        let png = dir.path().join(format!("{kind}-150"));
        tool(
            "pdftoppm",
            &["-r", "150", "-png", "-singlefile", p, png.to_str().unwrap()],
        );
        let scanned = tool(
            "zbarimg",
            &["-q", "--raw", png.with_extension("png").to_str().unwrap()],
        );
        assert_eq!(
            scanned.trim(),
            format!("https://kyso.example.gov.vn/v/{}", doc.id)
        );
        assert_eq!(doc.verify_url, scanned.trim());

        // Two empty signature fields, the official's first.
        let names: Vec<&str> = doc.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["ChuKyLanhDao", "DauCoQuan"], "{kind}");
        let report =
            String::from_utf8_lossy(&Command::new("pdfsig").arg(p).output().unwrap().stdout)
                .into_owned();
        assert_eq!(
            report
                .matches("The signature form field is not signed")
                .count(),
            2,
            "{kind}: {report}"
        );
    }
}

#[test]
fn the_seal_covers_the_left_third_of_the_officials_signature_in_the_signing_block() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog();
    let mut iss = issuer(&catalog, &dir.path().join("r.sqlite3"));
    for kind in KINDS {
        let doc = iss.issue(kind, &sample(kind), now()).unwrap();
        let official = &doc.fields[0].rect;
        let seal = &doc.fields[1].rect;
        let width = official[2] - official[0];
        // The seal's right edge is a third of the way into the signature area…
        assert!(
            (seal[2] - (official[0] + width / 3.0)).abs() < 0.5,
            "{kind}: {official:?} {seal:?}"
        );
        // …the two are centred on each other vertically…
        let mid = |r: &[f64; 4]| (r[1] + r[3]) / 2.0;
        assert!((mid(official) - mid(seal)).abs() < 0.5, "{kind}");
        // …and the signing block is in the right half of the page, below the statement.
        assert!(
            official[0] > 595.0 / 2.0 - 20.0 && official[2] < 595.0,
            "{kind}: {official:?}"
        );
        assert!(official[3] < 841.89 / 2.0 + 200.0, "{kind}: {official:?}");
        assert_eq!(doc.fields[0].page, 1);
    }
}

#[test]
fn every_kind_is_signed_by_the_official_then_sealed_and_both_verifiers_accept_it() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    for (i, kind) in KINDS.iter().enumerate() {
        let unsigned = dir.path().join(format!("{kind}.pdf"));
        let sample = common::repo()
            .join("templates")
            .join(kind)
            .join("sample.json");
        let out = run_kyso(&[
            "--data-dir",
            data_dir.to_str().unwrap(),
            "issue",
            "--kind",
            kind,
            "--data",
            sample.to_str().unwrap(),
            "-o",
            unsigned.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("id: ") && stdout.contains("number: "),
            "{stdout}"
        );
        // Alternate RSA and ECDSA so both key types sign every layout at least once.
        let (official, seal) = if i % 2 == 0 {
            ("vice-chairman-rsa", "seal-ec")
        } else {
            ("chairman-ec", "seal-rsa")
        };
        let signed = dir.path().join(format!("{kind}-signed.pdf"));
        let sealed = dir.path().join(format!("{kind}-sealed.pdf"));
        let images = common::keys_dev().join("images");
        let signature = images.join(format!(
            "{}.png",
            if official.starts_with("vice") {
                "signature-vice-chairman"
            } else {
                "signature-chairman"
            }
        ));
        let stamp = images.join("seal.png");
        dev_sign(
            official,
            &unsigned,
            &signed,
            &[
                "--field",
                "ChuKyLanhDao",
                "--image",
                signature.to_str().unwrap(),
            ],
        );
        dev_sign(
            seal,
            &signed,
            &sealed,
            &["--field", "DauCoQuan", "--image", stamp.to_str().unwrap()],
        );
        assert_externally_valid(&sealed, &[]);

        // The signature and the seal show in the signing block (drawn by the widgets, the page
        // content being unchanged, as the verifiers just confirmed).
        let before = render_gray(&unsigned, dir.path());
        let after = render_gray(&sealed, dir.path());
        let inked = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b.abs_diff(**a) > 64)
            .count();
        assert!(
            inked as f64 / before.len() as f64 > 0.004,
            "{kind}: the images are not visible ({inked} pixels)"
        );
    }
}

#[test]
fn at_the_one_stop_desk_the_statement_names_the_clerk_who_signs_before_the_official_and_the_seal() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog();
    let mut iss = issuer(&catalog, &dir.path().join("r.sqlite3"));
    // keys-dev's clerk certificate is Lê Văn Cường's.
    let clerk = serde_json::json!({ "honorific": "Ông", "full_name": "Lê Văn Cường" });
    for kind in [
        "signature",
        "signature-several",
        "thumbprint",
        "unable-to-sign",
        "contract",
    ] {
        let mut data = sample(kind);
        data["desk_clerk"] = clerk.clone();
        let doc = iss
            .issue(kind, &data, now())
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let names: Vec<&str> = doc.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["ChuKyNguoiTiepNhan", "ChuKyLanhDao", "DauCoQuan"],
            "{kind}"
        );
        // The clerk's field is left of the official's, level with it.
        let (c, o, seal) = (
            &doc.fields[0].rect,
            &doc.fields[1].rect,
            &doc.fields[2].rect,
        );
        assert!(
            c[2] < o[0] && (c[3] - o[3]).abs() < 1.0,
            "{kind}: clerk {c:?} official {o:?}"
        );
        assert!(
            c[2] < seal[0],
            "{kind}: the seal {seal:?} covers the clerk's field {c:?}"
        );

        let pdf = dir.path().join(format!("{kind}.pdf"));
        std::fs::write(&pdf, &doc.pdf).unwrap();
        let text = squash(&tool("pdftotext", &[pdf.to_str().unwrap(), "-"]));
        assert!(
            text.contains("ông Lê Văn Cường là người tiếp nhận hồ sơ; tôi"),
            "{kind}: {text}"
        );
        assert!(
            text.contains("trước mặt ông Lê Văn Cường (người tiếp nhận hồ sơ)"),
            "{kind}: {text}"
        );
        assert!(!text.contains("trước mặt tôi"), "{kind}: {text}");
        assert!(text.contains("NGƯỜI TIẾP NHẬN HỒ SƠ"), "{kind}: {text}");
        // One page: the signing block and its QR code stay with the statement.
        let info = tool("pdfinfo", &[pdf.to_str().unwrap()]);
        assert!(
            info.lines()
                .any(|l| l.split_whitespace().eq(["Pages:", "1"])),
            "{kind}: spills onto a second page"
        );
        let png = dir.path().join(format!("{kind}-150"));
        tool(
            "pdftoppm",
            &[
                "-r",
                "150",
                "-png",
                "-singlefile",
                pdf.to_str().unwrap(),
                png.to_str().unwrap(),
            ],
        );
        let scanned = tool(
            "zbarimg",
            &["-q", "--raw", png.with_extension("png").to_str().unwrap()],
        );
        assert_eq!(scanned.trim(), doc.verify_url, "{kind}");
    }

    // A copy is certified by the certifier alone: the field does not exist there.
    let mut copy = sample("certified-copy");
    copy["desk_clerk"] = clerk.clone();
    assert!(matches!(
        iss.issue("certified-copy", &copy, now()),
        Err(IssueError::Invalid(_))
    ));

    // The clerk signs at the desk, then the official, then the seal: pyHanko and pdfsig accept
    // all three.
    let unsigned = dir.path().join("signature.pdf");
    let (one, two, three) = (
        dir.path().join("1.pdf"),
        dir.path().join("2.pdf"),
        dir.path().join("3.pdf"),
    );
    dev_sign(
        "clerk-ec",
        &unsigned,
        &one,
        &["--field", "ChuKyNguoiTiepNhan"],
    );
    dev_sign(
        "vice-chairman-rsa",
        &one,
        &two,
        &["--field", "ChuKyLanhDao"],
    );
    dev_sign("seal-ec", &two, &three, &["--field", "DauCoQuan"]);
    assert_externally_valid(&three, &[]);
    let report = common::verify(&std::fs::read(&three).unwrap());
    assert_eq!(report.signatures.len(), 3);
    assert_eq!(
        report.indication,
        kyso::validation::Verdict::Passed,
        "{report:?}"
    );
}

/// The first page at 50 dpi in grey.
fn render_gray(pdf: &Path, dir: &Path) -> Vec<u8> {
    let stem = dir.join("render");
    tool(
        "pdftoppm",
        &[
            "-r",
            "50",
            "-gray",
            "-png",
            "-singlefile",
            pdf.to_str().unwrap(),
            stem.to_str().unwrap(),
        ],
    );
    gray(&stem.with_extension("png")).2
}

#[test]
fn an_opaque_or_unreadable_signature_image_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let unsigned = dir.path().join("u.pdf");
    let catalog = catalog();
    let mut iss = issuer(&catalog, &dir.path().join("r.sqlite3"));
    std::fs::write(
        &unsigned,
        iss.issue("signature", &sample("signature"), now())
            .unwrap()
            .pdf,
    )
    .unwrap();
    // A white box (no alpha) would hide the page under it; a text file is no PNG.
    let opaque = dir.path().join("opaque.png");
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, 2, 2);
        enc.set_color(png::ColorType::Rgb);
        enc.write_header()
            .unwrap()
            .write_image_data(&[255; 12])
            .unwrap();
    }
    std::fs::write(&opaque, bytes).unwrap();
    let text = dir.path().join("text.png");
    std::fs::write(&text, "hello").unwrap();
    for (image, needle) in [(&opaque, "transparency"), (&text, "PNG")] {
        let out = dir.path().join("o.pdf");
        let mut args: Vec<String> = vec!["--dev".into(), "sign".into()];
        args.extend(common::signer_args("chairman-ec"));
        args.extend([
            "--field".into(),
            "ChuKyLanhDao".into(),
            "--image".into(),
            image.display().to_string(),
        ]);
        args.extend([
            unsigned.display().to_string(),
            "-o".into(),
            out.display().to_string(),
        ]);
        let o = common::kyso().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.lines().count() == 1 && err.contains(needle),
            "{err}"
        );
        assert!(!out.exists());
    }
}

#[test]
fn two_thousand_issues_from_eight_concurrent_tasks_take_numbers_one_to_two_thousand_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.sqlite3");
    let catalog = catalog();
    Registry::open(&db).unwrap();
    let per_task = 250;
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let catalog = catalog.clone();
            let db = db.clone();
            std::thread::spawn(move || {
                let mut iss = issuer(&catalog, &db);
                let data = sample("signature");
                (0..per_task)
                    .map(|_| iss.issue("signature", &data, now()).unwrap().number)
                    .collect::<Vec<u32>>()
            })
        })
        .collect();
    let mut all: Vec<u32> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (1..=2000).collect::<Vec<u32>>());
    let iss = issuer(&catalog, &db);
    let reg = RegisterKey {
        commune_code: Authority::default().code,
        year: 2026,
        type_code: "SCT/CK,ĐC".into(),
    };
    let entries = iss.register_entries(&reg).unwrap();
    assert_eq!(entries.len(), 2000);
    assert!(
        entries
            .iter()
            .all(|e| e.status == Status::Issued && e.pdf_sha256.is_some())
    );
    let ids: BTreeSet<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), 2000, "document ids are unique");
}

#[test]
fn invalid_data_gets_one_error_per_field_in_both_languages_and_takes_no_number() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog();
    let mut iss = issuer(&catalog, &dir.path().join("r.sqlite3"));
    let mut data = sample("signature");
    data["requester"]["personal_id"] = "02519000773".into(); // 11 digits
    data["requester"]["honorific"] = "Cô".into();
    data["signer"] = serde_json::json!({ "full_name": "Trần Thị Bình" });
    data["nickname"] = "x".into();
    let Err(IssueError::Invalid(errors)) = iss.issue("signature", &data, now()) else {
        panic!("accepted")
    };
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "nickname",
            "signer.position",
            "requester.honorific",
            "requester.personal_id"
        ]
    );
    assert!(
        errors[3].vi.contains("12 chữ số") && errors[3].en.contains("12 digits"),
        "{:?}",
        errors[3]
    );
    // Nothing was numbered: the next valid document is number 1.
    assert_eq!(
        iss.issue("signature", &sample("signature"), now())
            .unwrap()
            .number,
        1
    );
}

#[test]
fn the_cli_prints_every_invalid_field_and_numbers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    let mut data = sample("birth-extract");
    data["child"]["birth_date"] = "2024-02-30".into();
    data["mother"]["birth_year"] = 1850.into();
    std::fs::write(&bad, data.to_string()).unwrap();
    let data_dir = dir.path().join("data");
    let args = [
        "--data-dir",
        data_dir.to_str().unwrap(),
        "issue",
        "--kind",
        "birth-extract",
        "--data",
        bad.to_str().unwrap(),
    ];
    let out = run_kyso(&args);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines[0].contains("nothing was numbered"), "{err}");
    assert!(
        lines[1].contains("child.birth_date") && lines[1].contains("YYYY-MM-DD"),
        "{err}"
    );
    assert!(
        lines[2].contains("mother.birth_year") && lines[2].contains("1900"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    // Not JSON, unknown kind, missing file: one line each, non-zero.
    std::fs::write(&bad, "{ not json").unwrap();
    for args in [
        vec![
            "issue",
            "--kind",
            "birth-extract",
            "--data",
            bad.to_str().unwrap(),
        ],
        vec!["issue", "--kind", "will", "--data", bad.to_str().unwrap()],
        vec![
            "issue",
            "--kind",
            "signature",
            "--data",
            "/nonexistent.json",
        ],
    ] {
        let mut full = vec!["--data-dir", data_dir.to_str().unwrap()];
        full.extend(args);
        let out = run_kyso(&full);
        assert!(!out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).lines().count(),
            1,
            "{:?}",
            out
        );
    }
}

#[test]
fn kinds_lists_every_kind_with_version_register_and_fields() {
    let out = run_kyso(&["kinds"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let catalog = catalog();
    for kind in KINDS {
        let version = &catalog.get(kind).unwrap().schema.version;
        assert!(
            text.contains(&format!("{kind}  (v{version}, ")),
            "{kind} missing:\n{text}"
        );
    }
    for s in [
        "SCT/BS",
        "SCT/CK,ĐC",
        "SCT/HĐ,GD",
        "personal_id (citizen ID (12 digits), required)",
    ] {
        assert!(text.contains(s), "{s} missing:\n{text}");
    }
}

#[test]
fn numbering_restarts_each_year_and_a_new_volume_continues_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog();
    let mut iss = issuer(&catalog, &dir.path().join("r.sqlite3"));
    let data = sample("certified-copy");
    assert_eq!(iss.issue("certified-copy", &data, now()).unwrap().number, 1);
    assert_eq!(iss.issue("certified-copy", &data, now()).unwrap().number, 2);
    let reg = RegisterKey {
        commune_code: Authority::default().code,
        year: 2026,
        type_code: "SCT/BS".into(),
    };
    assert_eq!(iss.close_volume(&reg, now()).unwrap(), Some(1));
    let third = iss.issue("certified-copy", &data, now()).unwrap();
    assert_eq!((third.volume, third.number), (2, 3));
    assert_eq!(third.number_text(&catalog), "03, quyển số 02/2026-SCT/BS");
    // 31 December 23:30 in Hanoi is still 2026; half an hour later the count restarts.
    let late = iss
        .issue("certified-copy", &data, datetime!(2026-12-31 16:30 UTC))
        .unwrap();
    assert_eq!((late.register.year, late.number), (2026, 4));
    let new_year = iss
        .issue("certified-copy", &data, datetime!(2026-12-31 17:00 UTC))
        .unwrap();
    assert_eq!(
        (new_year.register.year, new_year.volume, new_year.number),
        (2027, 1, 1)
    );
    // Other type codes have their own count.
    assert_eq!(
        iss.issue("contract", &sample("contract"), now())
            .unwrap()
            .number,
        1
    );
}

#[test]
fn a_document_that_cannot_be_rendered_stays_in_the_register_as_void_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog();
    let db = dir.path().join("r.sqlite3");
    // A base URL too long for a scannable QR code makes rendering fail after numbering.
    let long = format!("https://{}.gov.vn", "x".repeat(250));
    let mut bad = Issuer::new(
        catalog.clone(),
        Registry::open(&db).unwrap(),
        kyso::issuing::IssuedFiles::new(db.with_extension("documents")),
        Authority::default(),
        &long,
    );
    let Err(IssueError::Render { id, number, .. }) =
        bad.issue("signature", &sample("signature"), now())
    else {
        panic!("rendered")
    };
    assert_eq!(number, 1);
    let rec = bad.document(&id).unwrap().unwrap();
    assert_eq!(rec.status, Status::Void);
    assert!(
        rec.void_reason.unwrap().contains("QR"),
        "the reason is recorded"
    );
    // The number is not reused: the next document is number 2.
    let mut good = issuer(&catalog, &db);
    assert_eq!(
        good.issue("signature", &sample("signature"), now())
            .unwrap()
            .number,
        2
    );
}

#[test]
fn an_issue_interrupted_after_numbering_is_voided_with_a_reason_not_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog();
    let db = dir.path().join("r.sqlite3");
    let mut iss = issuer(&catalog, &db);
    let first = iss.issue("signature", &sample("signature"), now()).unwrap();
    // What a process killed between numbering and rendering leaves behind: the register took
    // number 2 and recorded the document as pending, in one transaction.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "BEGIN IMMEDIATE;
         UPDATE registers SET last_number = last_number + 1;
         INSERT INTO documents (id, kind, template_version, register_id, commune_code, year, type_code, number,
                                data, status, created_at, issued_on)
         SELECT 'crashed', 'signature', '1.0.0', id, commune_code, year, type_code, last_number, '{}', 'pending',
                '2026-11-25T02:00:00.000000Z', '2026-11-25' FROM registers;
         COMMIT;",
    )
    .unwrap();
    assert_eq!(
        iss.void_interrupted(now() - time::Duration::minutes(10), now())
            .unwrap(),
        1
    );
    let rec = iss.document("crashed").unwrap().unwrap();
    assert_eq!((rec.status, rec.number), (Status::Void, 2));
    assert!(rec.void_reason.unwrap().contains("interrupted"));
    assert_eq!(
        iss.issue("signature", &sample("signature"), now())
            .unwrap()
            .number,
        3
    );
    // The register is append-only: no entry can be deleted or renumbered.
    assert!(
        conn.execute("DELETE FROM documents WHERE id = ?1", [&first.id])
            .is_err()
    );
    assert!(
        conn.execute(
            "UPDATE documents SET number = 99 WHERE id = ?1",
            [&first.id]
        )
        .is_err()
    );
    assert!(
        conn.execute(
            "UPDATE documents SET status = 'pending' WHERE id = ?1",
            [&first.id]
        )
        .is_err()
    );
}

#[test]
fn a_cancelled_certification_stays_in_the_register_with_its_decision() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog();
    let db = dir.path().join("r.sqlite3");
    let mut iss = issuer(&catalog, &db);
    let doc = iss.issue("contract", &sample("contract"), now()).unwrap();
    assert!(matches!(
        iss.cancel(&doc.id, "  ", "", now()),
        Err(IssueError::MissingDecision)
    ));
    iss.cancel(
        &doc.id,
        "Quyết định số 12/QĐ-UBND ngày 26/11/2026",
        "Sai tên bên nhận chuyển nhượng",
        now(),
    )
    .unwrap();
    let rec = iss.document(&doc.id).unwrap().unwrap();
    assert_eq!(rec.status, Status::Cancelled);
    assert_eq!(
        rec.cancel_decision.as_deref(),
        Some("Quyết định số 12/QĐ-UBND ngày 26/11/2026")
    );
    assert_eq!(rec.number, 1);
    assert!(matches!(
        iss.cancel(&doc.id, "QĐ 13", "", now()),
        Err(IssueError::NotCancellable { .. })
    ));
    assert!(matches!(
        iss.cancel("nope", "QĐ 13", "", now()),
        Err(IssueError::NotFound(_))
    ));

    // The same through the CLI.
    let data_dir = dir.path().join("cli");
    let sample = common::repo().join("templates/signature/sample.json");
    let out_pdf = dir.path().join("s.pdf");
    let d = data_dir.to_str().unwrap();
    let out = run_kyso(&[
        "--data-dir",
        d,
        "issue",
        "--kind",
        "signature",
        "--data",
        sample.to_str().unwrap(),
        "-o",
        out_pdf.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let id = stdout.lines().find_map(|l| l.strip_prefix("id: ")).unwrap();
    let out = run_kyso(&[
        "--data-dir",
        d,
        "cancel",
        id,
        "--decision",
        "Quyết định số 3/QĐ-UBND",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_kyso(&[
        "--data-dir",
        d,
        "cancel",
        id,
        "--decision",
        "Quyết định số 3/QĐ-UBND",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cancelled"));
}

/// Where the committed reference renderings are.
fn reference_dir() -> PathBuf {
    common::repo().join("tests/reference")
}

#[test]
fn each_kind_looks_like_its_committed_reference_rendering() {
    use kyso::templates::{AuthorityLines, DocumentMeta};
    let catalog = catalog();
    let dir = tempfile::tempdir().unwrap();
    let a = Authority::default();
    let bless = std::env::var_os("KYSO_BLESS_REFERENCE").is_some();
    for (i, kind) in KINDS.iter().enumerate() {
        let t = catalog.get(kind).unwrap();
        let today = typst::foundations::Datetime::from_ymd(2026, 11, 25).unwrap();
        let valid = t.schema.validate(&sample(kind), today).unwrap();
        // Fixed id, number and date, so the page is the same on every run.
        let meta = DocumentMeta {
            id: format!("{:032x}", i + 1),
            number: 7,
            volume: 1,
            year: 2026,
            type_code: t.schema.type_code.clone(),
            issued_on: (2026, 11, 25),
            authority: AuthorityLines {
                parent: a.parent.clone(),
                name: a.name.clone(),
                full_name: a.full_name.clone(),
                place: a.place.clone(),
                office: a.office.clone(),
            },
            verify_url: format!("https://kyso.example.gov.vn/v/{:032x}", i + 1),
        };
        let doc = catalog.render(kind, &valid, &meta).unwrap();
        let pdf = dir.path().join(format!("{kind}.pdf"));
        std::fs::write(&pdf, &doc.pdf).unwrap();
        let stem = dir.path().join(kind);
        tool(
            "pdftoppm",
            &[
                "-r",
                "50",
                "-gray",
                "-png",
                "-singlefile",
                pdf.to_str().unwrap(),
                stem.to_str().unwrap(),
            ],
        );
        let fresh = stem.with_extension("png");
        let reference = reference_dir().join(format!("{kind}.png"));
        if bless {
            std::fs::create_dir_all(reference_dir()).unwrap();
            std::fs::copy(&fresh, &reference).unwrap();
            continue;
        }
        let (w, h, new) = gray(&fresh);
        let (rw, rh, old) = gray(&reference);
        assert_eq!((w, h), (rw, rh), "{kind}: page size changed");
        // Anti-aliasing differs slightly between poppler builds: compare with a tolerance. A
        // pixel counts as changed when it moves by more than a quarter of the grey range; the
        // page may have at most 0.5 % changed pixels (a moved line of text is several percent).
        let changed = new
            .iter()
            .zip(&old)
            .filter(|(a, b)| a.abs_diff(**b) > 64)
            .count();
        let share = changed as f64 / new.len() as f64;
        assert!(
            share < 0.005,
            "{kind}: {:.2} % of pixels differ from {} (rerun with KYSO_BLESS_REFERENCE=1 after an intended change)",
            share * 100.0,
            reference.display()
        );
    }
}

/// Decodes an 8-bit greyscale PNG.
fn gray(path: &Path) -> (u32, u32, Vec<u8>) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    let px = match info.color_type {
        png::ColorType::Grayscale => buf,
        png::ColorType::GrayscaleAlpha => buf.chunks(2).map(|c| c[0]).collect(),
        png::ColorType::Rgb => buf.chunks(3).map(|c| c[1]).collect(),
        png::ColorType::Rgba => buf.chunks(4).map(|c| c[1]).collect(),
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    (info.width, info.height, px)
}

#[test]
fn a_statement_that_runs_onto_a_second_page_gets_its_fields_on_the_page_with_the_signing_block() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog();
    let mut iss = issuer(&catalog, &dir.path().join("r.sqlite3"));
    let mut data = sample("contract");
    let party = data["parties"][0].clone();
    let parties: Vec<serde_json::Value> = (0..10)
        .map(|i| {
            let mut p = party.clone();
            p["role"] = format!("Bên đồng sở hữu thứ {}", i + 1).into();
            p["residence"] = "Thôn Đồng Mới, xã Tân Lạc, tỉnh Phú Thọ; nơi ở hiện tại: số 12, ngõ 34, đường Hùng Vương, phường Âu Cơ, tỉnh Phú Thọ".into();
            p
        })
        .collect();
    data["parties"] = parties.into();
    let doc = iss.issue("contract", &data, now()).unwrap();
    assert_eq!(doc.fields.len(), 2);
    let pages = lopdf::Document::load_mem(&doc.pdf)
        .unwrap()
        .get_pages()
        .len();
    assert!(pages >= 2, "the long statement should need a second page");
    assert!(
        doc.fields.iter().all(|f| f.page == pages),
        "{:?}",
        doc.fields
    );
    let unsigned = dir.path().join("long.pdf");
    std::fs::write(&unsigned, &doc.pdf).unwrap();
    let (signed, sealed) = (dir.path().join("long-1.pdf"), dir.path().join("long-2.pdf"));
    dev_sign(
        "chairman-rsa",
        &unsigned,
        &signed,
        &["--field", "ChuKyLanhDao"],
    );
    dev_sign("seal-rsa", &signed, &sealed, &["--field", "DauCoQuan"]);
    assert_externally_valid(&sealed, &[]);
}
