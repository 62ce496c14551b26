//! The text appearance of a signature when no signature image is registered (issue: "a text
//! block with the signer's name, title and signing time, Vietnam time"), typeset by typst with the
//! embedded Kyso Serif (dehinted Liberation Serif, see `render::FONTS`) so Vietnamese names come
//! out right, and imported into the widget.

use std::sync::OnceLock;

use time::{OffsetDateTime, UtcOffset};
use typst::foundations::{Datetime, Dict, Str, Value};

use super::render::{RenderError, Renderer, SourceFile};
use crate::pdf::incremental::IncrementalUpdate;
use crate::signing::{AppearanceBuilder, AppearanceContext, SigningError, page_appearance};

const SOURCE: &str = r##"#let i = cbor("/kyso/inputs.cbor")
#set page(width: i.width * 1pt, height: i.height * 1pt, margin: 1.5pt)
#set text(font: "Kyso Serif", fill: rgb("#1f3a93"), size: calc.min(9pt, i.height * 0.14pt))
#set par(leading: 0.35em)
#align(center + horizon)[
  #text(size: 0.8em)[Ký bởi / Signed by] \
  #text(weight: "bold")[#i.name] \
  #i.title \
  #text(size: 0.8em)[#i.time]
]
"##;

fn renderer() -> Result<&'static Renderer, RenderError> {
    static R: OnceLock<Result<Renderer, String>> = OnceLock::new();
    match R.get_or_init(|| {
        Renderer::new(
            [SourceFile {
                path: "/signature-block.typ",
                text: SOURCE,
            }],
            [("signature-block", "/signature-block.typ")],
        )
        .map_err(|e| e.to_string())
    }) {
        Ok(r) => Ok(r),
        Err(e) => Err(RenderError::UnknownKind(e.clone())),
    }
}

/// `26/11/2026 08:15:30 (GMT+7)`.
pub fn vietnam_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::from_hms(7, 0, 0).expect("valid offset"));
    format!(
        "{:02}/{:02}/{:04} {:02}:{:02}:{:02} (GMT+7)",
        t.day(),
        u8::from(t.month()),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A one-page PDF of `width` × `height` points holding the text block.
pub fn render(
    name: &str,
    title: &str,
    when: OffsetDateTime,
    width: f32,
    height: f32,
) -> Result<Vec<u8>, RenderError> {
    let mut inputs = Dict::new();
    inputs.insert(Str::from("name"), Value::Str(name.into()));
    inputs.insert(Str::from("title"), Value::Str(title.into()));
    inputs.insert(
        Str::from("time"),
        Value::Str(vietnam_time(when).as_str().into()),
    );
    inputs.insert(Str::from("width"), Value::Float(f64::from(width.max(1.0))));
    inputs.insert(
        Str::from("height"),
        Value::Float(f64::from(height.max(1.0))),
    );
    let local = when.to_offset(UtcOffset::from_hms(7, 0, 0).expect("valid offset"));
    let today = Datetime::from_ymd(local.year(), u8::from(local.month()), local.day())
        .ok_or_else(|| RenderError::UnknownKind("date out of range".into()))?;
    renderer()?.render_plain("signature-block", inputs, today, "kyso-signature-block")
}

/// The text appearance: the signer's name and title from the certificate, the signing time.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextAppearance;

impl AppearanceBuilder for TextAppearance {
    fn build(
        &self,
        update: &mut IncrementalUpdate<'_>,
        ctx: &AppearanceContext<'_>,
    ) -> Result<lopdf::ObjectId, SigningError> {
        let name = ctx
            .signer
            .common_name()
            .unwrap_or_else(|| ctx.signer.subject());
        let title = ctx.signer.title().unwrap_or_default();
        let pdf = render(&name, &title, ctx.signing_time, ctx.width, ctx.height).map_err(|e| {
            SigningError::Signer(format!("cannot typeset the signature appearance: {e}"))
        })?;
        page_appearance::import_first_page(&pdf, update, ctx.width, ctx.height)
    }
}
