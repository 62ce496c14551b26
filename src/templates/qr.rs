//! The QR code printed on every certification: the public verification URL of the document.
//!
//! The code goes to typst as a raw greyscale image, quiet zone included, which the template scales
//! to print size with pixelated scaling, so the PDF carries a small image that viewers and
//! rasterisers draw with sharp module edges. (Drawing it as
//! SVG, as kyso first did, cost a parse and a thousand-path content stream per document.)

use qrcodegen::{QrCode, QrCodeEcc};

/// Longest URL accepted for a QR code. Version 10 at level M holds 213 bytes; a verification URL
/// is far shorter, and a longer one would give modules too small to scan at 26 mm.
const MAX_URL: usize = 200;

/// White modules around the code, as ISO/IEC 18004 requires (4 modules).
const QUIET_ZONE: i32 = 4;

/// Pixels per module in the image. With one pixel per module a rasteriser samples each module
/// to 3 or 4 device pixels at 150 dpi and zbar could not read the page; from 2 up, poppler
/// averages while it scales down and the code scans at 100–300 dpi (measured). 2 keeps the image
/// krilla compresses per document at about 7 KB (27 KB with 4).
const PIXELS_PER_MODULE: i32 = 2;

/// Why a QR code could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QrError {
    /// The URL is longer than a readable code at print size can hold.
    #[error("verification URL is {0} bytes long, at most {MAX_URL} fit a readable QR code")]
    TooLong(usize),
    /// The encoder refused the data.
    #[error("QR encoding failed: {0}")]
    Encode(String),
}

/// A QR code as an 8-bit greyscale image: `side` × `side` pixels, row by row, 0 for dark and 255
/// for light, quiet zone included, each module a square of two by two pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrImage {
    /// Width and height in pixels.
    pub side: u32,
    /// `side * side` luma bytes.
    pub pixels: Vec<u8>,
}

impl QrImage {
    /// Width and height in modules, quiet zone included.
    pub fn modules(&self) -> u32 {
        self.side / PIXELS_PER_MODULE as u32
    }

    /// Whether the module at column `x`, row `y` (quiet zone included) is dark.
    pub fn is_dark(&self, x: u32, y: u32) -> bool {
        let k = PIXELS_PER_MODULE as u32;
        x < self.modules()
            && y < self.modules()
            && self.pixels.get(((y * k) * self.side + x * k) as usize) == Some(&0)
    }
}

/// The verification URL of a document: `{base_url}/v/{id}`.
pub fn verification_url(base_url: &str, id: &str) -> String {
    format!("{}/v/{id}", base_url.trim_end_matches('/'))
}

/// Encodes `url` at error-correction level M or higher (M tolerates 15 % damage: enough for a
/// stamped, folded paper print; a higher level is used when it fits the same version).
pub fn image(url: &str) -> Result<QrImage, QrError> {
    if url.len() > MAX_URL {
        return Err(QrError::TooLong(url.len()));
    }
    let code =
        QrCode::encode_text(url, QrCodeEcc::Medium).map_err(|e| QrError::Encode(e.to_string()))?;
    let size = code.size();
    let k = PIXELS_PER_MODULE as usize;
    let side = usize::try_from(size + 2 * QUIET_ZONE).unwrap_or(0) * k;
    let mut pixels = Vec::with_capacity(side * side);
    for my in -QUIET_ZONE..size + QUIET_ZONE {
        let row = pixels.len();
        for mx in -QUIET_ZONE..size + QUIET_ZONE {
            // get_module answers false (light) outside the symbol, which draws the quiet zone.
            let luma = if code.get_module(mx, my) { 0u8 } else { 255 };
            pixels.extend(std::iter::repeat_n(luma, k));
        }
        for _ in 1..k {
            pixels.extend_from_within(row..row + side);
        }
    }
    let side = u32::try_from(side).map_err(|_| QrError::Encode("image too large".into()))?;
    Ok(QrImage { side, pixels })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_joins_without_double_slash() {
        assert_eq!(
            verification_url("https://x.gov.vn/", "abc"),
            "https://x.gov.vn/v/abc"
        );
    }

    #[test]
    fn image_has_quiet_zone_and_finder_patterns_and_long_urls_are_refused() {
        let q = image("https://kyso.example.gov.vn/v/0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(q.pixels.len(), (q.side * q.side) as usize);
        assert_eq!(q.side % PIXELS_PER_MODULE as u32, 0);
        // Version 1 is 21 modules; the URL needs a larger version, plus 2 × 4 quiet modules.
        let m = q.modules();
        assert!(m > 21 + 8 && (m - 8 - 17).is_multiple_of(4), "modules {m}");
        // Quiet zone light, the top-left finder's outer ring dark and its gap light.
        assert!((0..m).all(|i| !q.is_dark(i, 0) && !q.is_dark(0, i) && !q.is_dark(3, i)));
        assert!((4..11).all(|i| q.is_dark(i, 4) && q.is_dark(4, i)));
        assert!(!q.is_dark(5, 5) && q.is_dark(6, 6));
        assert!(matches!(
            image(&"x".repeat(300)),
            Err(QrError::TooLong(300))
        ));
    }
}
