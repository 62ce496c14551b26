//! Content addresses: the SHA-256 of a document and the object key derived from it.
//!
//! A key is `{prefix}/{commune}/{yyyy}/{mm}/{dd}/{sha256}.pdf`. The readable part lets an
//! operator browse a bucket by commune and day; the hash makes the key a function of the bytes,
//! so a retried upload can only ever write the same bytes again, and any read can be checked
//! against the key it came from. Every component is restricted to `[a-z0-9-]`, so a key is also
//! a safe relative path for the local store.
//!
//! Audit checkpoints (see [`super::checkpoint`]) have keys of their own,
//! `{prefix}-audit/{seq:016}-{sha256}.json`: beside the documents' `{prefix}/` tree, not in it,
//! so a listing of documents never meets them.

use std::fmt;
use std::str::FromStr;

use time::Date;

use super::ArchiveError;

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256([u8; 32]);

impl Sha256 {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Sha256 {
        let d = ring::digest::digest(&ring::digest::SHA256, bytes);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Sha256(out)
    }

    /// The raw digest.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex (64 characters), as stored in the registry and in keys.
    pub fn hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        s
    }

    /// Standard base64, the form of S3's `x-amz-checksum-sha256`.
    pub fn base64(&self) -> String {
        <base64ct::Base64 as base64ct::Encoding>::encode_string(&self.0)
    }
}

impl FromStr for Sha256 {
    type Err = ArchiveError;
    fn from_str(s: &str) -> Result<Sha256, ArchiveError> {
        let bad = || ArchiveError::InvalidKey(format!("not a SHA-256 hex digest: {s:?}"));
        let b = s.as_bytes();
        if b.len() != 64 {
            return Err(bad());
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut out = [0u8; 32];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            out[i] = (nibble(pair[0]).ok_or_else(bad)? << 4) | nibble(pair[1]).ok_or_else(bad)?;
        }
        Ok(Sha256(out))
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({})", self.hex())
    }
}

/// A slug used as a key component: 1–64 characters of `[a-z0-9-]`, not starting with `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    /// Parses `s` (what: for the error message, e.g. "commune code").
    pub fn parse(s: &str, what: &str) -> Result<Slug, ArchiveError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && !s.starts_with('-')
            && s.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
        if ok {
            Ok(Slug(s.to_owned()))
        } else {
            Err(ArchiveError::InvalidKey(format!(
                "invalid {what} {s:?}: use 1 to 64 lowercase ASCII letters, digits and '-' (e.g. the commune's administrative code)"
            )))
        }
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The key of one archived object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    key: String,
    sha256: Sha256,
    checkpoint_seq: Option<u64>,
}

impl ObjectKey {
    /// The key of a document with digest `sha256`, from `commune`, dated `date`.
    pub fn new(prefix: &Slug, commune: &Slug, date: Date, sha256: Sha256) -> ObjectKey {
        let key = format!(
            "{}/{}/{:04}/{:02}/{:02}/{}.pdf",
            prefix.as_str(),
            commune.as_str(),
            date.year(),
            u8::from(date.month()),
            date.day(),
            sha256.hex()
        );
        ObjectKey {
            key,
            sha256,
            checkpoint_seq: None,
        }
    }

    /// The key of an audit checkpoint anchoring entry `seq`, whose bytes have digest `sha256`.
    pub fn checkpoint(prefix: &Slug, seq: u64, sha256: Sha256) -> ObjectKey {
        ObjectKey {
            key: format!(
                "{}{seq:016}-{}.json",
                Self::checkpoint_prefix(prefix),
                sha256.hex()
            ),
            sha256,
            checkpoint_seq: Some(seq),
        }
    }

    /// Where the checkpoints of the archive under `prefix` live (a listing prefix).
    pub fn checkpoint_prefix(prefix: &Slug) -> String {
        format!("{}-audit/", prefix.as_str())
    }

    /// The audit entry a checkpoint's key names; `None` for a document's key.
    pub fn checkpoint_seq(&self) -> Option<u64> {
        self.checkpoint_seq
    }

    /// Parses a stored key, recovering the digest it names.
    pub fn parse(key: &str) -> Result<ObjectKey, ArchiveError> {
        let bad = || ArchiveError::InvalidKey(format!("not a kyso archive key: {key:?}"));
        let parts: Vec<&str> = key.split('/').collect();
        if let [dir, file] = parts.as_slice() {
            let prefix = dir.strip_suffix("-audit").ok_or_else(bad)?;
            Slug::parse(prefix, "prefix")?;
            let (seq, hex) = file
                .strip_suffix(".json")
                .and_then(|f| f.split_once('-'))
                .ok_or_else(bad)?;
            if seq.len() != 16 || !seq.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            return Ok(ObjectKey {
                key: key.to_owned(),
                sha256: hex.parse()?,
                checkpoint_seq: Some(seq.parse().map_err(|_| bad())?),
            });
        }
        let [prefix, commune, y, m, d, file] = parts.as_slice() else {
            return Err(bad());
        };
        Slug::parse(prefix, "prefix")?;
        Slug::parse(commune, "commune code")?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|c| c.is_ascii_digit());
        if !(digits(y, 4) && digits(m, 2) && digits(d, 2)) {
            return Err(bad());
        }
        let hex = file.strip_suffix(".pdf").ok_or_else(bad)?;
        Ok(ObjectKey {
            key: key.to_owned(),
            sha256: hex.parse()?,
            checkpoint_seq: None,
        })
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// The digest the object's bytes must have.
    pub fn sha256(&self) -> Sha256 {
        self.sha256
    }

    /// Checks that `bytes` are the object this key names.
    pub fn check(&self, bytes: &[u8]) -> Result<(), super::StoreError> {
        let actual = Sha256::of(bytes);
        if actual == self.sha256 {
            Ok(())
        } else {
            Err(super::StoreError::Integrity {
                key: self.key.clone(),
                detail: format!("content hashes to {actual}, the key names {}", self.sha256),
            })
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn known_digest() {
        assert_eq!(
            Sha256::of(b"abc").hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            Sha256::of(b"abc").base64(),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }

    #[test]
    fn key_round_trip() {
        let h = Sha256::of(b"doc");
        let k = ObjectKey::new(
            &Slug::parse("kyso", "prefix").unwrap(),
            &Slug::parse("xa-ta-phin", "commune").unwrap(),
            date!(2026 - 11 - 05),
            h,
        );
        assert_eq!(k.as_str(), format!("kyso/xa-ta-phin/2026/11/05/{h}.pdf"));
        let back = ObjectKey::parse(k.as_str()).unwrap();
        assert_eq!(back, k);
        assert!(k.check(b"doc").is_ok());
        assert!(k.check(b"dod").is_err());
    }

    #[test]
    fn checkpoint_keys_round_trip_and_sort_by_entry() {
        let prefix = Slug::parse("kyso", "prefix").unwrap();
        let a = ObjectKey::checkpoint(&prefix, 9, Sha256::of(b"a"));
        let b = ObjectKey::checkpoint(&prefix, 10, Sha256::of(b"b"));
        assert!(a.as_str().starts_with("kyso-audit/0000000000000009-"));
        assert!(a.as_str() < b.as_str());
        let back = ObjectKey::parse(b.as_str()).unwrap();
        assert_eq!(back, b);
        assert_eq!(back.checkpoint_seq(), Some(10));
        assert!(ObjectKey::parse("kyso-audit/9-aa.json").is_err());
        assert!(ObjectKey::parse("kyso/x/2026/11/05/x.json").is_err());
    }

    #[test]
    fn hostile_keys_are_refused() {
        for s in ["../x", "Xã Tả Phìn", "", "-x", "a/b", &"a".repeat(65)] {
            assert!(Slug::parse(s, "commune").is_err(), "{s}");
        }
        for k in [
            "kyso/x/2026/11/05/../../etc.pdf",
            "kyso/x/2026/11/5/aa.pdf",
            "kyso/x/2026/11/05/zz.pdf",
            "/kyso/x/2026/11/05/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.pdf",
        ] {
            assert!(ObjectKey::parse(k).is_err(), "{k}");
        }
    }
}
