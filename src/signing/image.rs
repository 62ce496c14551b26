//! Image signature appearances (Decree 30/2020 Annex I): the official's handwritten signature
//! (blue, transparent PNG) centred in the widget between the title line and the name, and the
//! agency's red seal at real size in the seal's widget.
//!
//! The PNG is decoded with the `png` crate into an RGB image XObject whose alpha channel becomes a
//! greyscale soft mask (`/SMask`), so the page shows through; both are Flate-compressed. The
//! appearance is a form XObject in the widget (`/AP /N`): the page content is never touched, so an
//! earlier signature stays valid when the next one is drawn.

use lopdf::{Dictionary, Object, ObjectId, Stream};

use super::SigningError;
use super::pades::{AppearanceBuilder, AppearanceContext};
use crate::pdf::incremental::IncrementalUpdate;

/// Largest PNG file accepted (bytes). A signature or seal scan at print resolution is well below.
const MAX_PNG_BYTES: usize = 4 << 20;
/// Largest image side (pixels): bounds the decoded size at 2048 × 2048 × 4 bytes.
const MAX_SIDE: u32 = 2048;

/// Why a signature image cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The file is larger than [`MAX_PNG_BYTES`].
    #[error("signature image is {0} bytes, at most {MAX_PNG_BYTES} accepted")]
    TooLarge(usize),
    /// The image is wider or taller than [`MAX_SIDE`] pixels, or empty.
    #[error("signature image is {0}×{1} pixels; each side must be 1 to {MAX_SIDE}")]
    BadSize(u32, u32),
    /// Not a PNG this decoder reads.
    #[error("signature image is not a readable PNG: {0}")]
    Decode(String),
    /// The image has no transparency: a scan with a white box would hide the page.
    #[error("signature image has no transparency (alpha channel or tRNS); it would cover the page")]
    Opaque,
}

/// A decoded signature or seal image: 8-bit RGB plus 8-bit alpha.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureImage {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
    alpha: Vec<u8>,
}

impl SignatureImage {
    /// Decodes a PNG with transparency (RGBA, grey + alpha, or palette / RGB with tRNS).
    pub fn from_png(bytes: &[u8]) -> Result<SignatureImage, ImageError> {
        if bytes.len() > MAX_PNG_BYTES {
            return Err(ImageError::TooLarge(bytes.len()));
        }
        let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        // Expand palettes and tRNS to real alpha, and 16-bit samples to 8-bit.
        decoder.set_transformations(
            png::Transformations::EXPAND
                | png::Transformations::STRIP_16
                | png::Transformations::ALPHA,
        );
        // The decoded frame is at most 16 MiB; twice that covers the decoder's own buffers.
        decoder.set_limits(png::Limits {
            bytes: 2 * (MAX_SIDE as usize) * (MAX_SIDE as usize) * 4,
        });
        let mut reader = decoder
            .read_info()
            .map_err(|e| ImageError::Decode(e.to_string()))?;
        let (w, h) = (reader.info().width, reader.info().height);
        if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
            return Err(ImageError::BadSize(w, h));
        }
        let size = reader
            .output_buffer_size()
            .ok_or(ImageError::BadSize(w, h))?;
        let mut buf = vec![0; size];
        let info = reader
            .next_frame(&mut buf)
            .map_err(|e| ImageError::Decode(e.to_string()))?;
        buf.truncate(info.buffer_size());
        let px = (w as usize) * (h as usize);
        let (mut rgb, mut alpha) = (Vec::with_capacity(px * 3), Vec::with_capacity(px));
        match info.color_type {
            png::ColorType::Rgba => {
                for c in buf.chunks_exact(4) {
                    rgb.extend_from_slice(&c[..3]);
                    alpha.push(c[3]);
                }
            }
            png::ColorType::GrayscaleAlpha => {
                for c in buf.chunks_exact(2) {
                    rgb.extend_from_slice(&[c[0], c[0], c[0]]);
                    alpha.push(c[1]);
                }
            }
            _ => return Err(ImageError::Opaque),
        }
        if rgb.len() != px * 3 || alpha.len() != px {
            return Err(ImageError::Decode(
                "pixel data shorter than the image".into(),
            ));
        }
        if alpha.iter().all(|&a| a == 255) {
            return Err(ImageError::Opaque);
        }
        Ok(SignatureImage {
            width: w,
            height: h,
            rgb,
            alpha,
        })
    }

    /// Width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }
}

/// Draws a [`SignatureImage`] centred in the widget, as large as fits without distortion.
///
/// The image and its mask are compressed once, when the appearance is made: a service keeps one
/// per registered image and draws it into every signature without deflating it again.
#[derive(Debug, Clone)]
pub struct ImageAppearance {
    width: u32,
    height: u32,
    /// The colour image XObject, without its `/SMask` reference (the mask's number differs per
    /// document).
    rgb: Stream,
    /// The alpha channel as a greyscale image XObject.
    alpha: Stream,
}

impl ImageAppearance {
    /// An appearance showing `image`.
    pub fn new(image: SignatureImage) -> ImageAppearance {
        let (w, h) = (i64::from(image.width), i64::from(image.height));
        ImageAppearance {
            width: image.width,
            height: image.height,
            rgb: image_stream(w, h, b"DeviceRGB", image.rgb),
            alpha: image_stream(w, h, b"DeviceGray", image.alpha),
        }
    }
}

/// An 8-bit image XObject of `w` × `h` pixels in `color_space`, compressed.
fn image_stream(w: i64, h: i64, color_space: &[u8], data: Vec<u8>) -> Stream {
    let dict = Dictionary::from_iter(vec![
        ("Type", Object::Name(b"XObject".to_vec())),
        ("Subtype", Object::Name(b"Image".to_vec())),
        ("Width", Object::Integer(w)),
        ("Height", Object::Integer(h)),
        ("ColorSpace", Object::Name(color_space.to_vec())),
        ("BitsPerComponent", Object::Integer(8)),
    ]);
    let mut s = Stream::new(dict, data);
    // Flate makes a 600 × 300 signature a few kilobytes instead of half a megabyte. A failure
    // leaves the stream uncompressed, which is still correct.
    let _ = s.compress();
    s
}

impl AppearanceBuilder for ImageAppearance {
    fn build(
        &self,
        update: &mut IncrementalUpdate<'_>,
        ctx: &AppearanceContext<'_>,
    ) -> Result<ObjectId, SigningError> {
        let (w, h) = (i64::from(self.width), i64::from(self.height));
        let smask = update.allocate();
        update.put(smask, Object::Stream(self.alpha.clone()));
        let image = update.allocate();
        let mut rgb = self.rgb.clone();
        rgb.dict.set("SMask", Object::Reference(smask));
        update.put(image, Object::Stream(rgb));
        // Fit inside the widget keeping the aspect ratio, centred both ways.
        let (bw, bh) = (f64::from(ctx.width), f64::from(ctx.height));
        let scale = (bw / w as f64).min(bh / h as f64);
        let (dw, dh) = (w as f64 * scale, h as f64 * scale);
        let (dx, dy) = ((bw - dw) / 2.0, (bh - dh) / 2.0);
        let content = format!("q {dw:.3} 0 0 {dh:.3} {dx:.3} {dy:.3} cm /Im0 Do Q\n").into_bytes();
        let mut xobjects = Dictionary::new();
        xobjects.set("Im0", Object::Reference(image));
        let mut resources = Dictionary::new();
        resources.set("XObject", Object::Dictionary(xobjects));
        let form = update.allocate();
        update.put(
            form,
            Object::Stream(Stream::new(
                Dictionary::from_iter(vec![
                    ("Type", Object::Name(b"XObject".to_vec())),
                    ("Subtype", Object::Name(b"Form".to_vec())),
                    (
                        "BBox",
                        Object::Array(vec![
                            0.into(),
                            0.into(),
                            Object::Real(ctx.width),
                            Object::Real(ctx.height),
                        ]),
                    ),
                    ("Resources", Object::Dictionary(resources)),
                ]),
                content,
            )),
        );
        Ok(form)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(color: png::ColorType, w: u32, h: u32, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(color);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header().unwrap().write_image_data(data).unwrap();
        out
    }

    #[test]
    fn rgba_splits_into_colour_and_mask() {
        let img = SignatureImage::from_png(&png(
            png::ColorType::Rgba,
            2,
            1,
            &[0, 0, 255, 255, 0, 0, 255, 0],
        ))
        .unwrap();
        assert_eq!(img.rgb, [0, 0, 255, 0, 0, 255]);
        assert_eq!(img.alpha, [255, 0]);
    }

    #[test]
    fn opaque_images_and_garbage_are_refused() {
        assert!(matches!(
            SignatureImage::from_png(&png(png::ColorType::Rgb, 1, 1, &[1, 2, 3])),
            Err(ImageError::Opaque)
        ));
        assert!(matches!(
            SignatureImage::from_png(&png(png::ColorType::Rgba, 1, 1, &[1, 2, 3, 255])),
            Err(ImageError::Opaque)
        ));
        assert!(matches!(
            SignatureImage::from_png(b"not a png"),
            Err(ImageError::Decode(_))
        ));
        assert!(matches!(
            SignatureImage::from_png(&vec![0; MAX_PNG_BYTES + 1]),
            Err(ImageError::TooLarge(_))
        ));
    }
}
