//! Structural checks on a signature before any cryptography: the `/ByteRange` and the gap it
//! leaves for `/Contents` (Universal Signature Forgery and Signature Wrapping attacks live here),
//! with a cursor over borrowed bytes that never indexes out of bounds.

use lopdf::Object;

/// Why the bytes of a signature are malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// `/ByteRange` is missing or is not an array.
    #[error("/ByteRange is missing")]
    ByteRangeMissing,
    /// `/ByteRange` is not exactly four non-negative integers.
    #[error("/ByteRange must be exactly four non-negative integers")]
    ByteRangeShape,
    /// `/ByteRange` does not start at 0, is not ascending, or leaves the file.
    #[error("/ByteRange {0:?} does not start at 0, ascend and stay inside the file")]
    ByteRangeBounds([i64; 4]),
    /// The gap between the two ranges is not exactly one hex string.
    #[error("the gap of /ByteRange does not hold exactly one hex string")]
    GapNotHexString,
    /// The hex string in the gap differs from the signature dictionary's `/Contents`.
    #[error("the gap of /ByteRange does not hold this dictionary's /Contents")]
    GapNotContents,
    /// The signature dictionary does not enclose the gap.
    #[error("the gap of /ByteRange lies outside the signature dictionary")]
    GapOutsideDictionary,
    /// `/Contents` is missing, empty or not a string.
    #[error("/Contents is missing or empty")]
    ContentsMissing,
    /// A DER value is truncated or has an invalid length.
    #[error("malformed DER at offset {0}")]
    Der(usize),
    /// A DER value has an unexpected tag.
    #[error("unexpected DER tag {found:#04x} (expected {expected:#04x})")]
    DerTag {
        /// The tag found.
        found: u8,
        /// The tag expected.
        expected: u8,
    },
}

/// A cursor over borrowed bytes: every read is checked and returns an error or `None` instead of
/// panicking.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, offset: 0 }
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let rest = &self.bytes[self.offset..];
        let (head, _) = rest.split_at_checked(n)?;
        self.offset += n;
        Some(head)
    }

    /// Takes one byte.
    pub fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    /// The next byte, not consumed.
    pub fn peek(&self) -> Option<u8> {
        self.bytes.get(self.offset).copied()
    }

    /// Bytes not yet read.
    pub fn rest(&self) -> &'a [u8] {
        &self.bytes[self.offset..]
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.offset >= self.bytes.len()
    }

    /// Reads one DER TLV (definite lengths only) and returns `(tag, whole TLV, value)`.
    pub fn der(&mut self) -> Result<(u8, &'a [u8], &'a [u8]), ParseError> {
        let start = self.offset;
        let err = ParseError::Der(start);
        let tag = self.byte().ok_or(err.clone())?;
        if tag & 0x1f == 0x1f {
            // High tag numbers never occur in the CMS structures read here.
            return Err(err);
        }
        let first = self.byte().ok_or(err.clone())?;
        let len = if first < 0x80 {
            first as usize
        } else {
            let n = (first & 0x7f) as usize;
            // 0x80 is BER's indefinite length; more than 4 length bytes is absurd here.
            if n == 0 || n > 4 {
                return Err(err);
            }
            let mut len = 0usize;
            for b in self.take(n).ok_or(err.clone())? {
                len = (len << 8) | *b as usize;
            }
            len
        };
        let header_end = self.offset;
        let value = self.take(len).ok_or(err)?;
        Ok((tag, &self.bytes[start..header_end + len], value))
    }

    /// Reads one DER TLV that must carry `expected`.
    pub fn expect(&mut self, expected: u8) -> Result<(&'a [u8], &'a [u8]), ParseError> {
        let (found, whole, value) = self.der()?;
        if found != expected {
            return Err(ParseError::DerTag { found, expected });
        }
        Ok((whole, value))
    }
}

/// A validated `/ByteRange`: `[0, gap_start)` and `[gap_end, end)` are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// End of the first range, start of the gap.
    pub gap_start: usize,
    /// End of the gap, start of the second range.
    pub gap_end: usize,
    /// End of the second range: the end of the signed revision.
    pub end: usize,
}

impl ByteRange {
    /// Checks a `/ByteRange` value against a file of `file_len` bytes.
    pub fn parse(value: Option<&Object>, file_len: usize) -> Result<ByteRange, ParseError> {
        let Some(Object::Array(items)) = value else {
            return Err(ParseError::ByteRangeMissing);
        };
        if items.len() != 4 {
            return Err(ParseError::ByteRangeShape);
        }
        let mut v = [0i64; 4];
        for (slot, item) in v.iter_mut().zip(items) {
            match item {
                Object::Integer(n) if *n >= 0 => *slot = *n,
                _ => return Err(ParseError::ByteRangeShape),
            }
        }
        let bounds = ParseError::ByteRangeBounds(v);
        let [a, b, c, d] = v.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        let end = c.checked_add(d).ok_or(bounds.clone())?;
        // Ascending and non-overlapping, with a gap of at least `<>`.
        if a != 0 || b == 0 || c < b.saturating_add(2) || d == 0 || end > file_len {
            return Err(bounds);
        }
        Ok(ByteRange {
            gap_start: b,
            gap_end: c,
            end,
        })
    }

    /// The signed bytes, in order.
    pub fn signed_parts<'a>(&self, file: &'a [u8]) -> [&'a [u8]; 2] {
        [&file[..self.gap_start], &file[self.gap_end..self.end]]
    }

    /// Checks that the gap holds exactly one hex string decoding to `contents`, and that the
    /// dictionary starting at `dict_offset` encloses it (no `endobj` between the two).
    pub fn check_gap(
        &self,
        file: &[u8],
        contents: &[u8],
        dict_offset: Option<usize>,
    ) -> Result<(), ParseError> {
        let gap = &file[self.gap_start..self.gap_end];
        let mut cur = Cursor::new(gap);
        if cur.byte() != Some(b'<') {
            return Err(ParseError::GapNotHexString);
        }
        let inner = cur.take(gap.len() - 2).ok_or(ParseError::GapNotHexString)?;
        if cur.byte() != Some(b'>') || !cur.is_empty() || inner.len() % 2 != 0 {
            return Err(ParseError::GapNotHexString);
        }
        if !inner.iter().all(u8::is_ascii_hexdigit) {
            return Err(ParseError::GapNotHexString);
        }
        if inner.len() / 2 != contents.len() {
            return Err(ParseError::GapNotContents);
        }
        for (pair, expected) in inner.chunks_exact(2).zip(contents) {
            if (hex_val(pair[0]) << 4 | hex_val(pair[1])) != *expected {
                return Err(ParseError::GapNotContents);
            }
        }
        match dict_offset {
            Some(at)
                if at < self.gap_start
                    && crate::pdf::revisions::find(&file[at..self.gap_start], b"endobj")
                        .is_none() =>
            {
                Ok(())
            }
            _ => Err(ParseError::GapOutsideDictionary),
        }
    }
}

fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// The DER of a CMS object inside `/Contents`, without the zero padding signers leave.
///
/// Some signers (Adobe among them) write the outer CMS in BER with indefinite lengths; that is
/// converted to DER here. The signed attributes are DER in any valid signature, so converting
/// leaves the bytes the signature covers as they were.
pub fn cms_der(contents: &[u8]) -> Result<Vec<u8>, ParseError> {
    if contents.is_empty() {
        return Err(ParseError::ContentsMissing);
    }
    let mut cur = Cursor::new(contents);
    let mut out = Vec::with_capacity(contents.len());
    ber_to_der(&mut cur, &mut out, 0)?;
    if cur.rest().iter().any(|b| *b != 0) {
        return Err(ParseError::Der(contents.len() - cur.rest().len()));
    }
    Ok(out)
}

/// Nesting allowed in BER input; CMS needs about a dozen levels.
const MAX_BER_DEPTH: usize = 48;

/// Re-encodes one BER value as DER (definite, minimal lengths; constructed OCTET STRINGs joined).
fn ber_to_der(cur: &mut Cursor<'_>, out: &mut Vec<u8>, depth: usize) -> Result<(), ParseError> {
    let start = cur.offset;
    let err = ParseError::Der(start);
    if depth > MAX_BER_DEPTH {
        return Err(err);
    }
    let tag = cur.byte().ok_or(err.clone())?;
    if tag & 0x1f == 0x1f {
        return Err(err);
    }
    let constructed = tag & 0x20 != 0;
    let first = cur.byte().ok_or(err.clone())?;
    let mut content = Vec::new();
    if first == 0x80 {
        if !constructed {
            return Err(err);
        }
        loop {
            if cur.rest().starts_with(&[0, 0]) {
                cur.take(2);
                break;
            }
            if cur.is_empty() {
                return Err(err);
            }
            ber_to_der(cur, &mut content, depth + 1)?;
        }
    } else {
        let len = if first < 0x80 {
            first as usize
        } else {
            let n = (first & 0x7f) as usize;
            if n > 4 {
                return Err(err);
            }
            cur.take(n)
                .ok_or(err.clone())?
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | *b as usize)
        };
        let value = cur.take(len).ok_or(err.clone())?;
        if constructed {
            let mut inner = Cursor::new(value);
            while !inner.is_empty() {
                ber_to_der(&mut inner, &mut content, depth + 1)?;
            }
        } else {
            content.extend_from_slice(value);
        }
    }
    let tag = if tag == 0x24 {
        // Constructed OCTET STRING: DER has only the primitive form.
        let mut joined = Vec::new();
        let mut parts = Cursor::new(&content);
        while !parts.is_empty() {
            let (_, value) = parts.expect(0x04)?;
            joined.extend_from_slice(value);
        }
        content = joined;
        0x04
    } else {
        tag
    };
    out.push(tag);
    push_len(out, content.len());
    out.extend_from_slice(&content);
    Ok(())
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn br(v: &[i64]) -> Object {
        Object::Array(v.iter().map(|n| Object::Integer(*n)).collect())
    }

    #[test]
    fn byte_range_shape_and_bounds() {
        assert_eq!(
            ByteRange::parse(None, 100),
            Err(ParseError::ByteRangeMissing)
        );
        assert_eq!(
            ByteRange::parse(Some(&br(&[0, 10, 20])), 100),
            Err(ParseError::ByteRangeShape)
        );
        assert_eq!(
            ByteRange::parse(Some(&br(&[0, 10, 20, -1])), 100),
            Err(ParseError::ByteRangeShape)
        );
        assert!(matches!(
            ByteRange::parse(Some(&br(&[1, 10, 20, 10])), 100),
            Err(ParseError::ByteRangeBounds(_))
        ));
        assert!(matches!(
            ByteRange::parse(Some(&br(&[0, 0, 0, 0])), 100),
            Err(ParseError::ByteRangeBounds(_))
        ));
        assert!(matches!(
            ByteRange::parse(Some(&br(&[0, 30, 20, 10])), 100),
            Err(ParseError::ByteRangeBounds(_))
        ));
        assert!(matches!(
            ByteRange::parse(Some(&br(&[0, 10, 20, 90])), 100),
            Err(ParseError::ByteRangeBounds(_))
        ));
        assert!(matches!(
            ByteRange::parse(Some(&br(&[0, 10, i64::MAX, i64::MAX])), 100),
            Err(ParseError::ByteRangeBounds(_))
        ));
        let ok = ByteRange::parse(Some(&br(&[0, 10, 20, 80])), 100).unwrap();
        assert_eq!((ok.gap_start, ok.gap_end, ok.end), (10, 20, 100));
    }

    #[test]
    fn gap_must_be_exactly_the_contents() {
        let file = b"1 0 obj <</Contents <0a0b0000>/X 1>> endobj";
        let start = 20;
        let range = ByteRange {
            gap_start: start,
            gap_end: start + 10,
            end: file.len(),
        };
        assert_eq!(range.check_gap(file, &[0x0a, 0x0b, 0, 0], Some(0)), Ok(()));
        assert_eq!(
            range.check_gap(file, &[0x0a, 0x0c, 0, 0], Some(0)),
            Err(ParseError::GapNotContents)
        );
        assert_eq!(
            range.check_gap(file, &[0x0a, 0x0b, 0, 0], None),
            Err(ParseError::GapOutsideDictionary)
        );
        let wide = ByteRange {
            gap_start: start,
            gap_end: start + 12,
            end: file.len(),
        };
        assert_eq!(
            wide.check_gap(file, &[0x0a, 0x0b, 0, 0], Some(0)),
            Err(ParseError::GapNotHexString)
        );
    }

    #[test]
    fn der_cursor_never_overruns() {
        assert!(Cursor::new(&[0x30, 0x05, 0x01]).der().is_err());
        assert!(Cursor::new(&[0x30, 0x80, 0x00, 0x00]).der().is_err());
        assert!(
            Cursor::new(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff])
                .der()
                .is_err()
        );
        let (tag, whole, value) = Cursor::new(&[0x04, 0x01, 0x07, 0x00]).der().unwrap();
        assert_eq!(
            (tag, whole, value),
            (0x04, &[0x04, 0x01, 0x07][..], &[0x07][..])
        );
        assert_eq!(
            cms_der(&[0x04, 0x01, 0x07, 0, 0]).unwrap(),
            vec![0x04, 0x01, 0x07]
        );
        assert!(cms_der(&[0x04, 0x01, 0x07, 1]).is_err());
    }

    #[test]
    fn ber_indefinite_lengths_become_der() {
        // SEQUENCE (indefinite) { constructed OCTET STRING (indefinite) { "ab", "c" } }
        let ber = [
            0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(
            cms_der(&ber).unwrap(),
            vec![0x30, 0x05, 0x04, 0x03, b'a', b'b', b'c']
        );
        assert!(cms_der(&[0x30, 0x80, 0x04, 0x01, b'a']).is_err());
        let deep: Vec<u8> = std::iter::repeat_n([0x30u8, 0x80], 100).flatten().collect();
        assert!(cms_der(&deep).is_err());
    }
}
