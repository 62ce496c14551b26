//! `kyso verify`: judge every signature of a PDF and print a report (JSON or a short bilingual
//! text for a clerk). Exit codes are the contract documented in README.md:
//! 0 all TOTAL-PASSED and nothing disallowed after any; 1 a signature TOTAL-FAILED or a disallowed
//! modification; 2 otherwise INDETERMINATE; 3 no signature; 4 not readable as a PDF;
//! 5 verification could not run (unreadable --trust / --crl / configuration).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use kyso::pdf::revisions::ReadLimits;
use kyso::validation::{
    self, Coverage, Indication, Integrity, Modifications, Policy, SignatureReport, TrustAnchors,
    ValidationReport, Verdict,
};
use time::OffsetDateTime;

use super::Context;
use super::output::{errln, out, outln};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Trust anchor (PEM or DER root certificate); repeatable. Added to the configured `trust`.
    #[arg(long, value_name = "ROOT.pem")]
    trust: Vec<PathBuf>,
    /// CRL (PEM or DER) to check revocation with; repeatable. CRLs inside signatures are used too.
    #[arg(long, value_name = "FILE")]
    crl: Vec<PathBuf>,
    /// Validation time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// Fetch revocation data (OCSP, CRLs) from the certificates' URLs before validating, beside
    /// what the file embeds and --crl gives. Off by default: validation is offline.
    #[arg(long)]
    fetch: bool,
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    json: bool,
    /// Validate the file this many times in one process and print the time taken (benchmarks).
    #[arg(long, hide = true, value_name = "N")]
    repeat: Option<u32>,
    /// The signed PDF.
    #[arg(value_name = "FILE.pdf")]
    file: PathBuf,
}

const EXIT_SETUP: u8 = 5;

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let (policy, asked_at) = match policy(ctx, &args) {
        Ok(p) => p,
        Err(e) => {
            errln!("kyso: {}", super::one_line(&e));
            return Ok(ExitCode::from(EXIT_SETUP));
        }
    };
    let bytes = match read_input(&args.file, &policy.limits) {
        Ok(b) => b,
        Err(e) => {
            errln!("kyso: {}", super::one_line(&e));
            return Ok(ExitCode::from(4));
        }
    };
    let mut policy = policy;
    if args.fetch {
        match kyso::app::ltv::fetch_revocation(&ctx.app, &bytes, &policy.anchors) {
            Ok((items, missing)) => {
                policy.crls.extend(items);
                for m in missing {
                    errln!("kyso: --fetch: {m}");
                }
            }
            Err(e) => errln!("kyso: --fetch: {e}"),
        }
    }
    // The time asked about (--at), else now by the application's clock.
    let at = asked_at.unwrap_or_else(|| ctx.app.now());
    if let Some(n) = args.repeat {
        let start = std::time::Instant::now();
        for _ in 0..n {
            let _ = std::hint::black_box(validation::validate(&bytes, &policy, at));
        }
        let secs = start.elapsed().as_secs_f64();
        errln!(
            "repeat={n} total_s={secs:.6} per_validation_ms={:.4}",
            secs * 1000.0 / f64::from(n.max(1))
        );
    }
    let report = match validation::validate(&bytes, &policy, at) {
        Ok(r) => r,
        Err(e) => {
            errln!("kyso: {}: {e}", args.file.display());
            return Ok(ExitCode::from(4));
        }
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        out!("{}", human(&args.file.display().to_string(), &report))?;
    }
    Ok(ExitCode::from(exit_code(&report)))
}

/// The exit code of a report (README: "kyso verify: output contract").
pub fn exit_code(report: &ValidationReport) -> u8 {
    match report.indication {
        Verdict::Passed => 0,
        Verdict::Failed => 1,
        Verdict::Indeterminate => 2,
        Verdict::NoSignature => 3,
        // A new verdict must get its own documented code; until then it is not a pass.
        _ => 1,
    }
}

/// The policy of the configuration and the command line, with the validation time `--at` asks
/// for, if any.
fn policy(ctx: &Context, args: &Args) -> anyhow::Result<(Policy, Option<OffsetDateTime>)> {
    let mut anchors = TrustAnchors::new();
    for path in ctx.settings.trust.iter().chain(&args.trust) {
        let data = std::fs::read(path)
            .with_context(|| format!("cannot read trust anchor {}", path.display()))?;
        anchors
            .add_pem_or_der(&data)
            .with_context(|| format!("trust anchor {}", path.display()))?;
    }
    if !ctx.settings.development {
        let before = anchors.iter().count();
        anchors.retain(|der| !kyso::pki::is_development_certificate(der));
        if anchors.iter().count() != before {
            errln!(
                "kyso: warning: development trust anchors (keys-dev) are ignored outside development mode / \
                 chứng thư gốc phát triển bị bỏ qua ngoài chế độ phát triển"
            );
        }
    }
    let mut crls = Vec::new();
    for path in &args.crl {
        let data =
            std::fs::read(path).with_context(|| format!("cannot read CRL {}", path.display()))?;
        let ders = validation::chain::certs_from_pem_or_der(&data, "X509 CRL")
            .with_context(|| format!("CRL {}", path.display()))?;
        for der in &ders {
            use x509_parser::prelude::FromDer;
            if x509_parser::revocation_list::CertificateRevocationList::from_der(der).is_err() {
                bail!("CRL {}: not a certificate revocation list", path.display());
            }
        }
        crls.extend(ders);
    }
    let asked_at = match &args.at {
        Some(text) => Some(
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .with_context(|| {
                    format!(
                        "--at {text:?} is not an RFC 3339 time (e.g. 2026-11-25T10:00:00+07:00)"
                    )
                })?,
        ),
        None => None,
    };
    let policy = Policy {
        anchors,
        crls,
        limits: ReadLimits::default(),
    };
    Ok((policy, asked_at))
}

fn read_input(path: &std::path::Path, limits: &ReadLimits) -> anyhow::Result<Vec<u8>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > limits.max_file_size as u64 {
        bail!(
            "{}: file is {} bytes, more than the limit of {}",
            path.display(),
            meta.len(),
            limits.max_file_size
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The text report: Vietnamese first, English after, one fact per line.
fn human(file: &str, report: &ValidationReport) -> String {
    let mut s = String::new();
    let (vi, en) = match report.indication {
        Verdict::Passed => (
            "HỢP LỆ: mọi chữ ký hợp lệ, không có thay đổi trái phép sau khi ký",
            "VALID: every signature is valid and nothing disallowed changed after signing",
        ),
        Verdict::Failed => (
            "KHÔNG HỢP LỆ: có chữ ký sai hoặc tài liệu bị sửa đổi trái phép sau khi ký",
            "INVALID: a signature failed or the document was changed after signing in a way not allowed",
        ),
        Verdict::Indeterminate => (
            "CHƯA XÁC ĐỊNH: chữ ký còn nguyên vẹn nhưng chưa xác nhận được (xem ghi chú)",
            "INDETERMINATE: signatures are intact but could not be confirmed (see notes)",
        ),
        Verdict::NoSignature => (
            "KHÔNG CÓ CHỮ KÝ: tệp không có chữ ký số nào",
            "NO SIGNATURE: the file carries no digital signature",
        ),
        _ => ("KHÔNG XÁC ĐỊNH", "UNKNOWN"),
    };
    s.push_str(&format!("Tệp / File: {file}\nSHA-256: {}\n", report.sha256));
    s.push_str(&format!("Kết luận: {vi}\nVerdict:  {en}\n"));
    for (i, sig) in report.signatures.iter().enumerate() {
        s.push('\n');
        s.push_str(&signature_text(i + 1, sig));
    }
    s
}

fn signature_text(n: usize, sig: &SignatureReport) -> String {
    let mut s = if sig.subfilter == "ETSI.RFC3161" {
        format!(
            "Dấu thời gian {n} / Document timestamp {n}: trường / field \"{}\"\n",
            sig.field
        )
    } else {
        format!(
            "Chữ ký {n} / Signature {n}: trường / field \"{}\"\n",
            sig.field
        )
    };
    if let Some(signer) = &sig.signer {
        let name = if signer.common_name.is_empty() {
            &signer.subject
        } else {
            &signer.common_name
        };
        s.push_str(&format!(
            "  Người ký / Signer: {name} (số sê-ri / serial {})\n",
            signer.serial
        ));
        s.push_str(&format!("  Cấp bởi / Issued by: {}\n", signer.issuer));
    }
    if let Some(t) = &sig.claimed_signing_time {
        if sig.subfilter == "ETSI.RFC3161" {
            s.push_str(&format!(
                "  Thời điểm đóng dấu (do tổ chức cấp dấu thời gian ký) / Time-stamp time: {t}\n"
            ));
        } else {
            s.push_str(&format!(
                "  Thời điểm ký (do người ký khai) / Claimed signing time: {t}\n"
            ));
        }
    }
    for t in &sig.timestamps {
        let verdict = if t.valid {
            "hợp lệ / valid"
        } else {
            "KHÔNG HỢP LỆ / NOT VALID"
        };
        s.push_str(&format!(
            "  Dấu thời gian chữ ký / Signature timestamp: {} — {} ({verdict})\n",
            t.time.as_deref().unwrap_or("?"),
            t.tsa
        ));
    }
    let integrity = match sig.integrity {
        Integrity::Intact => "nguyên vẹn / intact",
        Integrity::Broken => "BỊ THAY ĐỔI / BROKEN",
        _ => "không đọc được / unreadable",
    };
    s.push_str(&format!("  Toàn vẹn / Integrity: {integrity}\n"));
    if let Some(poe) = &sig.proof_of_existence {
        s.push_str(&format!(
            "  Bằng chứng tồn tại / Proof of existence: {poe} (hiệu lực xét tại thời điểm này / validity judged at this time)\n"
        ));
    }
    for r in &sig.revocation {
        let status = match r.status.as_str() {
            "good" => "chưa bị thu hồi / not revoked".to_owned(),
            "not-checked" => "chưa kiểm tra / not checked".to_owned(),
            other => format!("ĐÃ BỊ THU HỒI / {}", other.to_uppercase()),
        };
        let source = if r.source == "none" {
            "không có dữ liệu / no data"
        } else {
            r.source.as_str()
        };
        s.push_str(&format!(
            "  Tình trạng thu hồi / Revocation: {} — {status}; nguồn / source: {source}\n",
            r.certificate
        ));
    }
    if let Some(c) = sig.coverage {
        let c = match c {
            Coverage::WholeFile => "toàn bộ tệp / whole file",
            _ => "một phiên bản, có cập nhật sau / one revision, later updates follow",
        };
        s.push_str(&format!("  Phạm vi ký / Coverage: {c}\n"));
    }
    let m = match sig.modifications_after {
        Modifications::None => "không có / none".to_owned(),
        Modifications::Allowed => "chỉ thay đổi được phép (chữ ký, dữ liệu kiểm tra) / allowed only (signatures, validation data)".to_owned(),
        _ => format!("TRÁI PHÉP / DISALLOWED: {}", sig.changed_objects.join(", ")),
    };
    s.push_str(&format!(
        "  Thay đổi sau khi ký / Changes after signing: {m}\n"
    ));
    if let Some(c) = &sig.capacity {
        let role = c.claimed_role.as_deref().unwrap_or("-");
        match &c.delegation {
            None => s.push_str(&format!(
                "  Tư cách ký / Capacity: {role} (tự mình / in own right)\n"
            )),
            Some(d) => {
                let ok = if d.verified {
                    "đã xác minh / verified"
                } else {
                    "KHÔNG XÁC MINH ĐƯỢC / NOT VERIFIED"
                };
                s.push_str(&format!(
                    "  Tư cách ký / Capacity: {role} — {} thay cho / on behalf of {} ({ok})\n",
                    d.mark, d.on_behalf_of
                ));
                s.push_str(&format!(
                    "  Căn cứ / Basis: {}; hiệu lực / valid {} – {}; phạm vi / scope: {}\n",
                    d.basis,
                    d.valid_from,
                    d.valid_until,
                    d.scope.join(", ")
                ));
            }
        }
    }
    let trusted = if sig.trusted {
        "tin cậy / trusted"
    } else {
        "không tin cậy / not trusted"
    };
    if sig.chain.is_empty() {
        s.push_str(&format!("  Chuỗi chứng thư / Chain: {trusted}\n"));
    } else {
        s.push_str(&format!(
            "  Chuỗi chứng thư / Chain ({trusted}): {}\n",
            sig.chain.join(" → ")
        ));
    }
    let result = match sig.indication {
        Indication::TotalPassed => "HỢP LỆ / TOTAL-PASSED".to_owned(),
        other => format!(
            "{} / {}{}",
            if other == Indication::TotalFailed {
                "KHÔNG HỢP LỆ"
            } else {
                "CHƯA XÁC ĐỊNH"
            },
            other.as_str(),
            sig.sub_indication
                .map(|s| format!(" ({})", s.as_str()))
                .unwrap_or_default()
        ),
    };
    s.push_str(&format!("  Kết quả / Result: {result}\n"));
    for m in &sig.messages {
        s.push_str(&format!("  - {m}\n"));
    }
    s
}
