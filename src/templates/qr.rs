//! The QR code printed on every certification: the public verification URL of the document,
//! drawn as SVG (vector, so it stays sharp at any print or scan resolution).

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// Longest URL accepted for a QR code. Version 10 at level M holds 213 bytes; a verification URL
/// is far shorter, and a longer one would give modules too small to scan at 26 mm.
const MAX_URL: usize = 200;

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

/// The verification URL of a document: `{base_url}/v/{id}`.
pub fn verification_url(base_url: &str, id: &str) -> String {
    format!("{}/v/{id}", base_url.trim_end_matches('/'))
}

/// Encodes `url` as an SVG image (black modules on white, with the standard quiet zone).
/// Level M tolerates 15 % damage: enough for a stamped, folded paper print.
pub fn svg(url: &str) -> Result<String, QrError> {
    if url.len() > MAX_URL {
        return Err(QrError::TooLong(url.len()));
    }
    let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)
        .map_err(|e| QrError::Encode(e.to_string()))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .quiet_zone(true)
        .module_dimensions(4, 4)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_joins_without_double_slash() {
        assert_eq!(verification_url("https://x.gov.vn/", "abc"), "https://x.gov.vn/v/abc");
    }

    #[test]
    fn svg_is_an_svg_and_long_urls_are_refused() {
        let s = svg("https://kyso.example.gov.vn/v/0123456789abcdef0123456789abcdef").unwrap();
        assert!(s.contains("<svg") && s.contains("</svg>"));
        assert!(matches!(svg(&"x".repeat(300)), Err(QrError::TooLong(300))));
    }
}
