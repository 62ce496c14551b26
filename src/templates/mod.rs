//! Certification templates: versioned typst sources with declared schemas, rendered to PDF.
//!
//! Every kind lives in `templates/<kind>/`: `template.typ` (the layout, after Decree 30/2020 and
//! the statement forms of Decree 23/2015), `schema.toml` (version, register type code, fields
//! with types, required flags and formats) and `sample.json` (data that passes the schema, used
//! by the tests and by `kyso issue --kind K --data templates/K/sample.json`). The sources and the
//! fonts are compiled into the binary, so a deployed kyso renders exactly the templates it was
//! built with and every document records that version.
//!
//! Rendering ([`Catalog::render`]) puts the validated data and the issuing metadata (number,
//! document id, QR code) into the inputs file the templates read, lays the page out, reads where
//! the template placed its signature boxes, and adds empty named signature fields there.

pub mod charset;
mod fields;
pub mod qr;
mod render;
pub mod schema;
pub mod signature_block;

use std::collections::BTreeMap;
use std::sync::Arc;

use typst::foundations::{Bytes, Datetime, Dict, Str, Value};

pub use charset::Repertoire;
pub use render::{FieldPlacement, RenderError};
pub use schema::{Field, FieldError, FieldType, Numbering, Schema, SchemaError, Validated};

use render::{Renderer, SourceFile};

/// Why the template set could not be loaded or a document rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A schema is malformed (a defect of the build, caught by the tests).
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// Rendering failed.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The QR code could not be made.
    #[error(transparent)]
    Qr(#[from] qr::QrError),
    /// A kind's sample data does not pass its own schema.
    #[error("sample.json of {kind} is invalid: {message}")]
    Sample {
        /// The kind.
        kind: String,
        /// The first problems.
        message: String,
    },
}

/// One embedded kind's files.
struct Embedded {
    dir: &'static str,
    schema: &'static str,
    source: &'static str,
    sample: &'static str,
}

macro_rules! embedded {
    ($dir:literal) => {
        Embedded {
            dir: $dir,
            schema: include_str!(concat!("../../templates/", $dir, "/schema.toml")),
            source: include_str!(concat!("../../templates/", $dir, "/template.typ")),
            sample: include_str!(concat!("../../templates/", $dir, "/sample.json")),
        }
    };
}

/// The kinds kyso issues, in the order `kyso kinds` lists them.
const EMBEDDED: &[Embedded] = &[
    embedded!("certified-copy"),
    embedded!("signature"),
    embedded!("signature-several"),
    embedded!("thumbprint"),
    embedded!("unable-to-sign"),
    embedded!("contract"),
    embedded!("birth-extract"),
    embedded!("marital-status"),
];

const COMMON_LAYOUT: &str = include_str!("../../templates/common/layout.typ");
const COMMON_TYPES: &str = include_str!("../../templates/common/types.toml");

/// A certification kind: its schema and its sample data.
#[derive(Debug, Clone)]
pub struct Template {
    /// The declared schema (kind, version, type code, fields).
    pub schema: Schema,
    /// The sample data (`sample.json`), which passes the schema.
    pub sample: &'static str,
}

/// The issuing authority as printed on documents (from the settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityLines {
    /// Superior body line above the authority's name (may be empty).
    pub parent: String,
    /// The authority's name in the header (printed in capitals).
    pub name: String,
    /// The authority's name in running text ("Ủy ban nhân dân xã Tân Hòa").
    pub full_name: String,
    /// Place name for the date line ("Tân Hòa").
    pub place: String,
    /// Where certification takes place, as the statements say "tại …".
    pub office: String,
}

/// What issuing adds to the data: identity, number, date and authority.
#[derive(Debug, Clone)]
pub struct DocumentMeta {
    /// The stable public document id.
    pub id: String,
    /// The number in the register year.
    pub number: u32,
    /// The register volume.
    pub volume: u32,
    /// The register year.
    pub year: i32,
    /// The register type code.
    pub type_code: String,
    /// The day of issue in Vietnam: (year, month, day).
    pub issued_on: (i32, u8, u8),
    /// The authority.
    pub authority: AuthorityLines,
    /// The public verification URL the QR code encodes.
    pub verify_url: String,
}

/// A rendered certification with its empty signature fields.
#[derive(Debug, Clone)]
pub struct RenderedDocument {
    /// The PDF bytes.
    pub pdf: Vec<u8>,
    /// Page sizes in points.
    pub page_sizes: Vec<(f64, f64)>,
    /// The signature fields, in the order the template placed them.
    pub fields: Vec<FieldPlacement>,
}

/// The set of templates compiled into kyso, with a renderer ready to use. Build it once and
/// share it (`Arc`): loading parses every schema and source and indexes the fonts.
pub struct Catalog {
    templates: BTreeMap<String, Template>,
    order: Vec<String>,
    renderer: Renderer,
    repertoire: Arc<Repertoire>,
}

impl Catalog {
    /// Loads the embedded templates and fonts, computes what the fonts draw, and checks each
    /// sample against its schema.
    pub fn load() -> Result<Catalog, TemplateError> {
        let mains: Vec<(String, String)> = EMBEDDED
            .iter()
            .map(|e| (e.dir.to_owned(), format!("/{}/template.typ", e.dir)))
            .collect();
        let mut files = vec![SourceFile {
            path: "/common/layout.typ",
            text: COMMON_LAYOUT,
        }];
        files.extend(mains.iter().zip(EMBEDDED).map(|((_, p), e)| SourceFile {
            path: p,
            text: e.source,
        }));
        let renderer = Renderer::new(files, mains.iter().map(|(k, p)| (k.as_str(), p.as_str())))?;
        // Every template prints with the faces in the renderer's book (typst falls back to no
        // other font), so one repertoire, computed once here, serves every schema.
        let repertoire = Arc::new(Repertoire::of_fonts(renderer.fonts()));
        let types = schema::SharedTypes::parse("common/types.toml", COMMON_TYPES)?;
        let mut templates = BTreeMap::new();
        let mut order = Vec::new();
        for e in EMBEDDED {
            let file = format!("{}/schema.toml", e.dir);
            let schema = Schema::parse(&file, e.schema, &types, repertoire.clone())?;
            if schema.kind != e.dir {
                return Err(SchemaError::Parse {
                    file,
                    message: format!("kind {:?} differs from its directory", schema.kind),
                }
                .into());
            }
            order.push(schema.kind.clone());
            templates.insert(
                schema.kind.clone(),
                Template {
                    schema,
                    sample: e.sample,
                },
            );
        }
        let catalog = Catalog {
            templates,
            order,
            renderer,
            repertoire,
        };
        let probe_day = Datetime::from_ymd(2026, 1, 1).expect("a valid date");
        for t in catalog.kinds() {
            let sample: serde_json::Value =
                serde_json::from_str(t.sample).map_err(|e| TemplateError::Sample {
                    kind: t.schema.kind.clone(),
                    message: e.to_string(),
                })?;
            if let Err(errs) = t.schema.validate(&sample, probe_day) {
                return Err(TemplateError::Sample {
                    kind: t.schema.kind.clone(),
                    message: errs
                        .iter()
                        .take(3)
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                });
            }
        }
        Ok(catalog)
    }

    /// The kinds, in listing order.
    pub fn kinds(&self) -> impl Iterator<Item = &Template> {
        self.order.iter().filter_map(|k| self.templates.get(k))
    }

    /// The characters the templates' fonts draw (the same for every kind today: all print with
    /// the embedded Kyso Serif faces).
    pub fn repertoire(&self) -> &Repertoire {
        &self.repertoire
    }

    /// One kind's template.
    pub fn get(&self, kind: &str) -> Option<&Template> {
        self.templates.get(kind)
    }

    /// Renders `kind` with validated data and issuing metadata, then adds the empty signature
    /// fields where the layout put them.
    pub fn render(
        &self,
        kind: &str,
        data: &Validated,
        meta: &DocumentMeta,
    ) -> Result<RenderedDocument, TemplateError> {
        let (inputs, today) = self.inputs(kind, data, meta, false)?;
        let rendered = self.renderer.render(kind, inputs, today, &meta.id)?;
        let pdf = fields::add_signature_fields(&rendered.pdf, &rendered.fields)
            .map_err(RenderError::Pdf)?;
        Ok(RenderedDocument {
            pdf,
            page_sizes: rendered.page_sizes,
            fields: rendered.fields,
        })
    }

    /// Renders `kind` as a preview: every page carries the words "BẢN XEM TRƯỚC" across it,
    /// the number and volume are dots, and there are no signature fields, so that nothing can
    /// mistake it for, or sign it as, an issued document. `meta.number` and `meta.volume` are
    /// not printed.
    pub fn render_preview(
        &self,
        kind: &str,
        data: &Validated,
        meta: &DocumentMeta,
    ) -> Result<Vec<u8>, TemplateError> {
        let (inputs, today) = self.inputs(kind, data, meta, true)?;
        Ok(self.renderer.render_plain(kind, inputs, today, &meta.id)?)
    }

    /// The inputs of a render (`data` and `meta`) and the day `datetime.today()` returns.
    fn inputs(
        &self,
        kind: &str,
        data: &Validated,
        meta: &DocumentMeta,
        preview: bool,
    ) -> Result<(Dict, Datetime), TemplateError> {
        let template = self
            .get(kind)
            .ok_or_else(|| RenderError::UnknownKind(kind.to_owned()))?;
        let (y, m, d) = meta.issued_on;
        let today = Datetime::from_ymd(y, m, d).ok_or_else(|| RenderError::Typst {
            kind: kind.to_owned(),
            message: format!("invalid issue date {y}-{m}-{d}"),
        })?;
        let qr = qr::image(&meta.verify_url)?;
        let a = &meta.authority;
        let authority: Dict = [
            ("parent", a.parent.as_str()),
            ("name", a.name.as_str()),
            ("full_name", a.full_name.as_str()),
            ("place", a.place.as_str()),
            ("office", a.office.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (Str::from(k), Value::Str(v.into())))
        .collect();
        let mut m = Dict::new();
        m.insert("id".into(), Value::Str(meta.id.as_str().into()));
        m.insert("number".into(), Value::Int(i64::from(meta.number)));
        if preview {
            // A preview has no number yet: dots where the number and volume go.
            m.insert("preview".into(), Value::Bool(true));
            m.insert("number_padded".into(), Value::Str("……".into()));
            m.insert(
                "volume_label".into(),
                Value::Str(format!("……/{}", meta.year).into()),
            );
        } else {
            // Decree 23/2015 Art. 13.2 counts "from number 01": two digits at least.
            m.insert(
                "number_padded".into(),
                Value::Str(format!("{:02}", meta.number).into()),
            );
            m.insert(
                "volume_label".into(),
                Value::Str(format!("{:02}/{}", meta.volume, meta.year).into()),
            );
        }
        m.insert(
            "type_code".into(),
            Value::Str(meta.type_code.as_str().into()),
        );
        m.insert("issued_on".into(), Value::Datetime(today));
        m.insert("authority".into(), Value::Dict(authority));
        m.insert(
            "verify_url".into(),
            Value::Str(meta.verify_url.as_str().into()),
        );
        m.insert("qr_side".into(), Value::Int(i64::from(qr.side)));
        m.insert("qr_pixels".into(), Value::Bytes(Bytes::new(qr.pixels)));
        m.insert(
            "template_version".into(),
            Value::Str(template.schema.version.as_str().into()),
        );
        let mut inputs = Dict::new();
        inputs.insert("data".into(), Value::Dict(data.typst.clone()));
        inputs.insert("meta".into(), Value::Dict(m));
        Ok((inputs, today))
    }
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("kinds", &self.order)
            .finish_non_exhaustive()
    }
}
