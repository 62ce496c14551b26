//! The development PKI: a root CA, an intermediate CA standing in for the Government Cipher
//! Committee's specialised CA, and the demo commune's officials, clerk and agency seal, each in an
//! RSA-2048 and an ECDSA P-256 variant, plus a CRL from the intermediate that revokes one
//! official's certificate (so validation has something revoked to find).
//!
//! Every certificate carries [`super::DEV_PKI_MARKER`] as an organisational unit so kyso can
//! refuse it outside development mode. Made with rcgen; RSA keys come from the `rsa` crate
//! because ring cannot generate RSA keys.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SerialNumber,
};
use time::OffsetDateTime;

use super::DEV_PKI_MARKER;

/// Why the development PKI could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevPkiError {
    /// Key or certificate generation failed.
    #[error("generating {what}: {message}")]
    Generate {
        /// Which item.
        what: String,
        /// The cause.
        message: String,
    },
    /// Writing a file failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The demo commune.
pub const COMMUNE: &str = "UBND xã Tân Lạc";

/// One identity of the demo commune.
#[derive(Debug, Clone, Copy)]
pub struct DevIdentity {
    /// File stem, e.g. `chairman` → `chairman-rsa.pem`, `chairman-rsa.key.pem`.
    pub stem: &'static str,
    /// Full name (or the agency's name for the seal).
    pub name: &'static str,
    /// Title, e.g. "Chủ tịch".
    pub title: &'static str,
    /// The agency seal's certificate is an organisation certificate.
    pub organisation: bool,
    /// Listed as revoked in the intermediate's CRL.
    pub revoked: bool,
}

/// The identities `kyso dev-pki` makes.
pub const IDENTITIES: &[DevIdentity] = &[
    DevIdentity {
        stem: "chairman",
        name: "Nguyễn Văn An",
        title: "Chủ tịch",
        organisation: false,
        revoked: false,
    },
    DevIdentity {
        stem: "vice-chairman",
        name: "Trần Thị Bình",
        title: "Phó Chủ tịch",
        organisation: false,
        revoked: false,
    },
    DevIdentity {
        stem: "clerk",
        name: "Lê Văn Cường",
        title: "Công chức Tư pháp - Hộ tịch",
        organisation: false,
        revoked: false,
    },
    DevIdentity {
        stem: "seal",
        name: COMMUNE,
        title: "Cơ quan",
        organisation: true,
        revoked: false,
    },
    DevIdentity {
        stem: "revoked",
        name: "Phạm Văn Dũng",
        title: "Phó Chủ tịch (đã thu hồi chứng thư)",
        organisation: false,
        revoked: true,
    },
];

/// Key algorithms of the leaf variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevAlgorithm {
    /// RSA-2048 with SHA-256.
    Rsa,
    /// ECDSA P-256 with SHA-256.
    Ec,
}

impl DevAlgorithm {
    /// The file-name suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            DevAlgorithm::Rsa => "rsa",
            DevAlgorithm::Ec => "ec",
        }
    }
}

/// What was written, for the caller to report.
#[derive(Debug)]
pub struct DevPkiSummary {
    /// Files written, relative to the output directory.
    pub files: Vec<String>,
}

fn gen_err(what: &str) -> impl Fn(rcgen::Error) -> DevPkiError + '_ {
    move |e| DevPkiError::Generate {
        what: what.to_owned(),
        message: e.to_string(),
    }
}

fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    bytes[0] &= 0x7f; // positive
    bytes[0] |= 0x01; // no leading zero byte to strip
    SerialNumber::from_slice(&bytes)
}

fn rsa_key() -> Result<KeyPair, DevPkiError> {
    use rsa::pkcs8::EncodePrivateKey;
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).map_err(|e| {
        DevPkiError::Generate {
            what: "RSA key".into(),
            message: e.to_string(),
        }
    })?;
    let pem = key
        .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| DevPkiError::Generate {
            what: "RSA key".into(),
            message: e.to_string(),
        })?;
    KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).map_err(gen_err("RSA key"))
}

fn key_for(alg: DevAlgorithm) -> Result<KeyPair, DevPkiError> {
    match alg {
        DevAlgorithm::Rsa => rsa_key(),
        DevAlgorithm::Ec => {
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(gen_err("EC key"))
        }
    }
}

fn dn(cn: &str, title: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CountryName,
        rcgen::DnValue::PrintableString("VN".try_into().expect("ASCII")),
    );
    dn.push(DnType::StateOrProvinceName, "Tỉnh Phú Thọ");
    dn.push(DnType::LocalityName, "Xã Tân Lạc");
    dn.push(DnType::OrganizationName, COMMUNE);
    dn.push(DnType::OrganizationalUnitName, DEV_PKI_MARKER);
    if let Some(t) = title {
        dn.push(DnType::CustomDnType(vec![2, 5, 4, 12]), t);
    }
    dn.push(DnType::CommonName, cn);
    dn
}

fn ca_params(cn: &str, path_len: Option<u8>, years: (i32, i32)) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(
        DnType::CountryName,
        rcgen::DnValue::PrintableString("VN".try_into().expect("ASCII")),
    );
    name.push(DnType::OrganizationName, "kyso development");
    name.push(DnType::OrganizationalUnitName, DEV_PKI_MARKER);
    name.push(DnType::CommonName, cn);
    p.distinguished_name = name;
    p.is_ca = IsCa::Ca(match path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = rcgen::date_time_ymd(years.0, 1, 1);
    p.not_after = rcgen::date_time_ymd(years.1, 12, 31);
    p.serial_number = Some(random_serial());
    p.use_authority_key_identifier_extension = true;
    p.key_identifier_method = KeyIdMethod::Sha256;
    p
}

/// Parameters of a document-signing leaf certificate (also used by tests that need an expired
/// or otherwise unusual signer).
pub fn leaf_params(
    name: &str,
    title: &str,
    organisation: bool,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = if organisation {
        dn(name, None)
    } else {
        dn(name, Some(title))
    };
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    p.not_before = not_before;
    p.not_after = not_after;
    p.serial_number = Some(random_serial());
    p.use_authority_key_identifier_extension = true;
    p.key_identifier_method = KeyIdMethod::Sha256;
    p
}

fn write(
    dir: &Path,
    name: &str,
    contents: &str,
    files: &mut Vec<String>,
) -> Result<(), DevPkiError> {
    let path = dir.join(name);
    std::fs::write(&path, contents).map_err(|source| DevPkiError::Write { path, source })?;
    files.push(name.to_owned());
    Ok(())
}

const README: &str = "# keys-dev: development PKI — FOR DEVELOPMENT ONLY

These keys and certificates were made by `kyso dev-pki --out keys-dev`. The private keys are
public: anyone can sign as these \"officials\". kyso refuses this material (by the root's
fingerprint and by the `OU=KYSO DEVELOPMENT PKI - NOT FOR PRODUCTION` marker) unless it runs in
development mode (`--dev`, `development = true`, or `KYSO_DEVELOPMENT=1`).

| file | what |
|---|---|
| `root-ca.pem`, `root-ca.key.pem` | root CA (RSA-2048) |
| `intermediate-ca.pem`, `intermediate-ca.key.pem` | intermediate CA standing in for the Government Cipher Committee's CA (RSA-2048) |
| `intermediate-ca.crl.pem` | CRL from the intermediate, revoking `revoked-*` |
| `chairman-{rsa,ec}.pem` + `.key.pem` | Nguyễn Văn An, Chủ tịch UBND xã Tân Lạc |
| `vice-chairman-{rsa,ec}.pem` + `.key.pem` | Trần Thị Bình, Phó Chủ tịch |
| `clerk-{rsa,ec}.pem` + `.key.pem` | Lê Văn Cường, công chức Tư pháp - Hộ tịch |
| `seal-{rsa,ec}.pem` + `.key.pem` | organisation certificate of UBND xã Tân Lạc (agency seal) |
| `revoked-{rsa,ec}.pem` + `.key.pem` | an official whose certificate the CRL revokes |

Leaf certificates have key usage digitalSignature + nonRepudiation and names in UTF-8.
Keys are PKCS#8 PEM. Pass `--chain keys-dev/intermediate-ca.pem` when signing.
";

/// Creates the development PKI in `out` (created if missing; existing files are replaced).
pub fn generate(out: &Path) -> Result<DevPkiSummary, DevPkiError> {
    std::fs::create_dir_all(out).map_err(|source| DevPkiError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();

    let root_key = rsa_key()?;
    let root_params = ca_params("kyso Development Root CA", None, (2025, 2045));
    let root_cert = root_params
        .self_signed(&root_key)
        .map_err(gen_err("root CA"))?;
    write(out, "root-ca.pem", &root_cert.pem(), &mut files)?;
    write(
        out,
        "root-ca.key.pem",
        &root_key.serialize_pem(),
        &mut files,
    )?;
    let root = Issuer::new(root_params, &root_key);

    let int_key = rsa_key()?;
    let int_params = ca_params("kyso Development Specialised CA", Some(0), (2025, 2040));
    let int_cert = int_params
        .signed_by(&int_key, &root)
        .map_err(gen_err("intermediate CA"))?;
    write(out, "intermediate-ca.pem", &int_cert.pem(), &mut files)?;
    write(
        out,
        "intermediate-ca.key.pem",
        &int_key.serialize_pem(),
        &mut files,
    )?;
    let intermediate = Issuer::new(int_params, &int_key);

    let mut revoked = Vec::new();
    for id in IDENTITIES {
        for alg in [DevAlgorithm::Rsa, DevAlgorithm::Ec] {
            let key = key_for(alg)?;
            let params = leaf_params(
                id.name,
                id.title,
                id.organisation,
                rcgen::date_time_ymd(2025, 7, 1),
                rcgen::date_time_ymd(2035, 12, 31),
            );
            let serial = params.serial_number.clone().expect("set by leaf_params");
            let cert = params
                .signed_by(&key, &intermediate)
                .map_err(gen_err(id.stem))?;
            let stem = format!("{}-{}", id.stem, alg.suffix());
            write(out, &format!("{stem}.pem"), &cert.pem(), &mut files)?;
            write(
                out,
                &format!("{stem}.key.pem"),
                &key.serialize_pem(),
                &mut files,
            )?;
            if id.revoked {
                revoked.push(RevokedCertParams {
                    serial_number: serial,
                    revocation_time: rcgen::date_time_ymd(2026, 1, 15),
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                });
            }
        }
    }

    let crl = CertificateRevocationListParams {
        this_update: rcgen::date_time_ymd(2026, 1, 15),
        next_update: rcgen::date_time_ymd(2036, 1, 15),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: revoked,
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&intermediate)
    .map_err(gen_err("CRL"))?;
    write(
        out,
        "intermediate-ca.crl.pem",
        &crl.pem().map_err(gen_err("CRL"))?,
        &mut files,
    )?;
    write(out, "README.md", README, &mut files)?;
    Ok(DevPkiSummary { files })
}
