//! A delegation carried inside the signature, verifiable offline: an RFC 5755 attribute
//! certificate issued and signed by the delegator's key, holding the mark, both titles, the
//! scope and the written basis, placed in the CAdES `signer-attributes-v2` signed attribute
//! (ETSI EN 319 122-1 §5.2.6.1) as a certified attribute, beside the claimed role.
//!
//! Attribute certificates are the standard carrier for "X grants Y this power, for this period"
//! — a certified attribute a verifier checks with only the PDF and the trust roots. The grant's
//! details are UTF-8 `key=value` values of an RFC 5755 `id-aca-group` attribute (IetfAttrSyntax)
//! so no private OID is needed; the holder is named by the delegate certificate's subject, so a
//! renewed certificate of the same person keeps the grant usable.

use const_oid::ObjectIdentifier;
use der::asn1::{BitString, GeneralizedTime, SetOfVec};
use der::{Any, Choice, Decode, Encode, Sequence};
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

use super::{Delegation, Mark};
use crate::pki::Certificate;
use crate::pki::algorithm::{SignatureAlgorithm, verify_signature_value};

/// id-aa-ets-signerAttrV2 (ETSI EN 319 122-1).
pub const ID_AA_ETS_SIGNER_ATTR_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("0.4.0.19122.1.1");
/// id-aca-group (RFC 5755 §4.4.4).
pub const ID_ACA_GROUP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.10.4");
/// id-at-title (X.520): the claimed role, e.g. "KT. CHỦ TỊCH / PHÓ CHỦ TỊCH".
pub const ID_AT_TITLE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.12");

/// Largest grant accepted when parsing (a few hundred bytes in practice).
const MAX_GRANT_LEN: usize = 16 * 1024;

/// Why a grant could not be made, read or verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GrantError {
    /// Not a well-formed attribute certificate of kyso's shape.
    #[error("malformed delegation grant: {0}")]
    Malformed(String),
    /// The grant's signature does not verify with the delegator's certificate.
    #[error("the delegation grant's signature does not verify with the delegator's certificate")]
    BadSignature,
    /// The delegator's certificate named by the grant is not available.
    #[error("the delegator's certificate ({0}) is not in the signature")]
    DelegatorCertificateMissing(String),
}

#[derive(Clone, Debug, Sequence)]
struct V2Form {
    issuer_name: Vec<GeneralName>,
}

#[derive(Clone, Debug, Sequence)]
struct Holder {
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    entity_name: Option<Vec<GeneralName>>,
}

#[derive(Clone, Debug, Sequence)]
struct ValidityPeriod {
    not_before: GeneralizedTime,
    not_after: GeneralizedTime,
}

/// AttributeCertificateInfo (RFC 5755 §4.1), v2, with a v2Form issuer.
#[derive(Clone, Debug, Sequence)]
struct AttributeCertificateInfo {
    version: u8,
    holder: Holder,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    issuer: V2Form,
    signature: AlgorithmIdentifierOwned,
    serial_number: SerialNumber,
    validity: ValidityPeriod,
    attributes: Vec<Attribute>,
}

/// AttributeCertificate (RFC 5755 §4.1).
#[derive(Clone, Debug, Sequence)]
struct AttributeCertificate {
    acinfo: AttributeCertificateInfo,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature_value: BitString,
}

/// IetfAttrSyntax (RFC 5755 §4.4), string values only.
#[derive(Clone, Debug, Sequence)]
struct IetfAttrSyntax {
    values: Vec<String>,
}

/// SignerAttributeV2 (ETSI EN 319 122-1 §5.2.6.1; the CAdES ASN.1 module uses EXPLICIT tags,
/// as pyHanko and other readers expect).
#[derive(Clone, Debug, Sequence)]
struct SignerAttributeV2 {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    claimed: Option<Vec<Attribute>>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    certified: Option<Vec<CertifiedAttribute>>,
}

/// One of CertifiedAttributesV2: an attribute certificate, `[0] EXPLICIT`.
#[derive(Clone, Debug, Choice)]
enum CertifiedAttribute {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", constructed = "true")]
    AttributeCertificate(AttributeCertificate),
}

fn malformed(e: impl std::fmt::Display) -> GrantError {
    GrantError::Malformed(e.to_string())
}

fn gtime(t: OffsetDateTime) -> Result<GeneralizedTime, GrantError> {
    let secs = u64::try_from(t.unix_timestamp()).map_err(malformed)?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs)).map_err(malformed)
}

fn from_gtime(t: &GeneralizedTime) -> Result<OffsetDateTime, GrantError> {
    OffsetDateTime::from_unix_timestamp(t.to_unix_duration().as_secs() as i64).map_err(malformed)
}

fn name_of(der: &[u8]) -> Result<Name, GrantError> {
    Name::from_der(der).map_err(malformed)
}

/// What a grant says, once read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GrantInfo {
    /// The mark, `KT`, `TUQ`, ….
    pub mark: String,
    /// The delegator's name and title.
    pub delegator_name: String,
    /// The delegator's title.
    pub delegator_title: String,
    /// The delegate's name.
    pub delegate_name: String,
    /// The delegate's title.
    pub delegate_title: String,
    /// The agency.
    pub agency: String,
    /// Document kinds covered.
    pub scope: Vec<String>,
    /// The decision number.
    pub basis_number: String,
    /// The decision date.
    pub basis_date: String,
    /// Start of validity (RFC 3339).
    pub valid_from: String,
    /// End of validity (RFC 3339).
    pub valid_until: String,
    /// The delegator certificate's subject (RFC 4514 text), who signed the grant.
    #[serde(skip)]
    pub issuer_der: Vec<u8>,
    /// The holder's subject name DER.
    #[serde(skip)]
    pub holder_der: Vec<u8>,
    /// Validity as times.
    #[serde(skip)]
    pub window: (OffsetDateTime, OffsetDateTime),
    /// For a derived grant, the SHA-256 (hex) of the source grant's DER.
    pub source: Option<String>,
}

/// SHA-256 of a grant's DER, lower-case hex: how a derived grant names its source.
pub fn sha256_hex(der: &[u8]) -> String {
    crate::pki::hex_upper(ring::digest::digest(&ring::digest::SHA256, der).as_ref())
        .to_ascii_lowercase()
}

/// A grant made and waiting for the delegator's signature ([`prepare`]): its to-be-signed bytes
/// go to whatever holds the delegator's key (a key file, a token), and [`UnsignedGrant::finish`]
/// puts the signature in. This module holds no key and signs nothing itself.
#[derive(Debug, Clone)]
pub struct UnsignedGrant {
    info: AttributeCertificateInfo,
    tbs: Vec<u8>,
    algorithm: SignatureAlgorithm,
}

/// Makes the grant for `d` (whose `grant_der` is ignored), naming `delegate_cert`'s subject as
/// holder and `delegator_cert`'s as issuer, to be signed with `algorithm`.
pub fn prepare(
    d: &Delegation,
    delegate_cert: &Certificate,
    delegator_cert: &Certificate,
    algorithm: SignatureAlgorithm,
) -> Result<UnsignedGrant, GrantError> {
    let mut values = vec![
        format!("mark={}", d.mark.code()),
        format!("delegator={}", d.delegator.full_name),
        format!("delegator-title={}", d.delegator.title),
        format!("delegate={}", d.delegate.full_name),
        format!("delegate-title={}", d.delegate.title),
        format!("agency={}", d.delegator.agency),
        format!("basis={}", d.basis_number),
        format!("basis-date={}", d.basis_date),
    ];
    values.extend(d.scope.iter().map(|k| format!("kind={k}")));
    // A derived grant names its source by the SHA-256 of the source grant's DER, so a verifier
    // can tell that the two grants a signature carries form one chain.
    if let Some(src) = &d.source {
        values.push(format!("source={}", sha256_hex(&src.grant_der)));
    }
    let group = IetfAttrSyntax { values };
    let mut attr_values = SetOfVec::new();
    attr_values
        .insert(Any::encode_from(&group).map_err(malformed)?)
        .map_err(malformed)?;
    let mut serial = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut serial)
        .map_err(|_| malformed("no randomness"))?;
    serial[0] = (serial[0] & 0x7f) | 0x01;
    let info = AttributeCertificateInfo {
        version: 1,
        holder: Holder {
            entity_name: Some(vec![GeneralName::DirectoryName(name_of(
                &delegate_cert.subject_der(),
            )?)]),
        },
        issuer: V2Form {
            issuer_name: vec![GeneralName::DirectoryName(name_of(
                &delegator_cert.subject_der(),
            )?)],
        },
        signature: algorithm.identifier().map_err(malformed)?,
        serial_number: SerialNumber::new(&serial).map_err(malformed)?,
        validity: ValidityPeriod {
            not_before: gtime(d.valid_from)?,
            not_after: gtime(d.valid_until)?,
        },
        attributes: vec![Attribute {
            oid: ID_ACA_GROUP,
            values: attr_values,
        }],
    };
    let tbs = info.to_der().map_err(malformed)?;
    Ok(UnsignedGrant {
        info,
        tbs,
        algorithm,
    })
}

impl UnsignedGrant {
    /// What the delegator's key signs.
    pub fn to_be_signed(&self) -> &[u8] {
        &self.tbs
    }

    /// The grant (DER) with `signature`, which must verify with `delegator_cert`'s key: a
    /// grant kyso hands out always verifies.
    pub fn finish(
        self,
        delegator_cert: &Certificate,
        signature: &[u8],
    ) -> Result<Vec<u8>, GrantError> {
        verify_signature_value(delegator_cert, self.algorithm, &self.tbs, signature)
            .map_err(|_| GrantError::BadSignature)?;
        let ac = AttributeCertificate {
            signature_algorithm: self.info.signature.clone(),
            acinfo: self.info,
            signature_value: BitString::from_bytes(signature).map_err(malformed)?,
        };
        ac.to_der().map_err(malformed)
    }
}

fn parse(der: &[u8]) -> Result<AttributeCertificate, GrantError> {
    if der.len() > MAX_GRANT_LEN {
        return Err(malformed("grant too large"));
    }
    AttributeCertificate::from_der(der).map_err(malformed)
}

fn info_of(ac: &AttributeCertificate) -> Result<GrantInfo, GrantError> {
    let mut kv: Vec<(String, String)> = Vec::new();
    for attr in &ac.acinfo.attributes {
        if attr.oid != ID_ACA_GROUP {
            continue;
        }
        for v in attr.values.iter() {
            let group: IetfAttrSyntax = v.decode_as().map_err(malformed)?;
            for s in group.values {
                if let Some((k, v)) = s.split_once('=') {
                    kv.push((k.to_owned(), v.to_owned()));
                }
            }
        }
    }
    let one = |key: &str| -> Result<String, GrantError> {
        let mut it = kv.iter().filter(|(k, _)| k == key);
        match (it.next(), it.next()) {
            (Some((_, v)), None) => Ok(v.clone()),
            _ => Err(malformed(format!("grant must state {key} exactly once"))),
        }
    };
    let mark = one("mark")?;
    if Mark::parse(&mark).is_none() {
        return Err(malformed(format!("unknown mark {mark:?}")));
    }
    let dn = |names: &[GeneralName]| -> Result<Vec<u8>, GrantError> {
        match names {
            [GeneralName::DirectoryName(n)] => n.to_der().map_err(malformed),
            _ => Err(malformed("expected exactly one directory name")),
        }
    };
    let holder = ac
        .acinfo
        .holder
        .entity_name
        .as_deref()
        .ok_or_else(|| malformed("grant names no holder"))?;
    let from = from_gtime(&ac.acinfo.validity.not_before)?;
    let until = from_gtime(&ac.acinfo.validity.not_after)?;
    let fmt = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    Ok(GrantInfo {
        mark,
        delegator_name: one("delegator")?,
        delegator_title: one("delegator-title")?,
        delegate_name: one("delegate")?,
        delegate_title: one("delegate-title")?,
        agency: one("agency")?,
        scope: kv
            .iter()
            .filter(|(k, _)| k == "kind")
            .map(|(_, v)| v.clone())
            .collect(),
        basis_number: one("basis")?,
        basis_date: one("basis-date")?,
        valid_from: fmt(from),
        valid_until: fmt(until),
        issuer_der: dn(&ac.acinfo.issuer.issuer_name)?,
        holder_der: dn(holder)?,
        window: (from, until),
        source: {
            let mut it = kv.iter().filter(|(k, _)| k == "source");
            match (it.next(), it.next()) {
                (None, _) => None,
                (Some((_, v)), None) => Some(v.clone()),
                _ => return Err(malformed("grant must state source at most once")),
            }
        },
    })
}

/// Reads a grant without checking its signature.
pub fn read(der: &[u8]) -> Result<GrantInfo, GrantError> {
    info_of(&parse(der)?)
}

/// Verifies the grant's signature with the certificate among `candidates` whose subject is the
/// grant's issuer, returning what the grant says and that certificate.
pub fn verify<'a>(
    der: &[u8],
    candidates: &'a [Certificate],
) -> Result<(GrantInfo, &'a Certificate), GrantError> {
    let ac = parse(der)?;
    let info = info_of(&ac)?;
    if ac.acinfo.signature != ac.signature_algorithm {
        return Err(malformed("inner and outer signature algorithms differ"));
    }
    let oid = ac.signature_algorithm.oid;
    let alg = SignatureAlgorithm::from_oid(oid)
        .ok_or_else(|| malformed(format!("unsupported grant signature algorithm {oid}")))?;
    let tbs = ac.acinfo.to_der().map_err(malformed)?;
    let sig = ac
        .signature_value
        .as_bytes()
        .ok_or_else(|| malformed("signature bit string has unused bits"))?;
    // Every certificate bearing the issuer's name is tried: a file may carry decoys, and the
    // caller decides whether the one that verifies is trusted.
    let mut named = candidates
        .iter()
        .filter(|c| c.subject_der() == info.issuer_der)
        .peekable();
    if named.peek().is_none() {
        return Err(GrantError::DelegatorCertificateMissing(
            name_of(&info.issuer_der)
                .map(|n| n.to_string())
                .unwrap_or_default(),
        ));
    }
    let delegator = named
        .find(|c| verify_signature_value(c, alg, &tbs, sig).is_ok())
        .ok_or(GrantError::BadSignature)?;
    Ok((info, delegator))
}

/// The `signer-attributes-v2` signed attribute: the claimed role, the claimed document kind
/// (an `id-aca-group` value `kind=…`, the same convention as in grants), and the chain of grants
/// (source first, the signer's own grant last) as certified attributes.
pub fn signer_attributes(
    claimed_role: &str,
    kind: Option<&str>,
    grants: &[&[u8]],
) -> Result<Attribute, GrantError> {
    let mut title_values = SetOfVec::new();
    let role = der::asn1::Utf8StringRef::new(claimed_role).map_err(malformed)?;
    title_values
        .insert(Any::encode_from(&role).map_err(malformed)?)
        .map_err(malformed)?;
    let mut claimed = vec![Attribute {
        oid: ID_AT_TITLE,
        values: title_values,
    }];
    if let Some(k) = kind {
        let mut v = SetOfVec::new();
        v.insert(
            Any::encode_from(&IetfAttrSyntax {
                values: vec![format!("kind={k}")],
            })
            .map_err(malformed)?,
        )
        .map_err(malformed)?;
        claimed.push(Attribute {
            oid: ID_ACA_GROUP,
            values: v,
        });
    }
    let value = SignerAttributeV2 {
        claimed: Some(claimed),
        certified: if grants.is_empty() {
            None
        } else {
            Some(
                grants
                    .iter()
                    .map(|g| parse(g).map(CertifiedAttribute::AttributeCertificate))
                    .collect::<Result<_, _>>()?,
            )
        },
    };
    let mut values = SetOfVec::new();
    values
        .insert(Any::encode_from(&value).map_err(malformed)?)
        .map_err(malformed)?;
    Ok(Attribute {
        oid: ID_AA_ETS_SIGNER_ATTR_V2,
        values,
    })
}

/// What a signature's `signer-attributes-v2` holds: the claimed role(s) and the grants (DER).
#[derive(Debug, Default, Clone)]
pub struct SignerAttributes {
    /// Claimed titles/roles.
    pub claimed_roles: Vec<String>,
    /// Claimed document kinds (`kind=…`).
    pub claimed_kinds: Vec<String>,
    /// Certified attributes: attribute certificates (DER).
    pub grants: Vec<Vec<u8>>,
}

/// Reads a `signer-attributes-v2` attribute value (the DER of the SEQUENCE).
pub fn read_signer_attributes(value_der: &[u8]) -> Result<SignerAttributes, GrantError> {
    let value = SignerAttributeV2::from_der(value_der).map_err(malformed)?;
    let mut out = SignerAttributes::default();
    for a in value
        .claimed
        .iter()
        .flatten()
        .filter(|a| a.oid == ID_AT_TITLE)
    {
        for v in a.values.iter() {
            if let Ok(s) = v.decode_as::<der::asn1::Utf8StringRef<'_>>() {
                out.claimed_roles.push(s.as_str().to_owned());
            }
        }
    }
    for a in value
        .claimed
        .iter()
        .flatten()
        .filter(|a| a.oid == ID_ACA_GROUP)
    {
        for v in a.values.iter() {
            if let Ok(group) = v.decode_as::<IetfAttrSyntax>() {
                out.claimed_kinds.extend(
                    group
                        .values
                        .iter()
                        .filter_map(|s| s.strip_prefix("kind="))
                        .map(str::to_owned),
                );
            }
        }
    }
    for CertifiedAttribute::AttributeCertificate(ac) in value.certified.iter().flatten() {
        out.grants.push(ac.to_der().map_err(malformed)?);
    }
    Ok(out)
}
