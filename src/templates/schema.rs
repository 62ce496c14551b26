//! Declared schemas of certification kinds and the validation of submitted data against them.
//!
//! Each kind's `schema.toml` names its version, register type code and fields; object types used
//! by several kinds (a person with an identity paper, the signing official, a parent) are declared
//! once in `templates/common/types.toml`. Validation is pure: it takes the submitted JSON and
//! returns either the data normalised (strings trimmed and in Unicode NFC) and converted to typst
//! values, or one [`FieldError`] per offending field, each worded in Vietnamese and English, so
//! that a clerk can fix everything in one pass.
//!
//! A schema carries the [`Repertoire`] of the fonts its template prints with: text that the PDF
//! could not show as typed (characters the fonts lack, invisible or bidi format characters) is
//! refused here, beside the field, rather than printed as blanks or reordered while the register
//! keeps the original (see `charset.rs` for the class and the NFC decision).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use typst::foundations::{Array, Datetime, Dict, Str, Value};
use unicode_normalization::UnicodeNormalization as _;

use super::charset::{self, MAX_STACKED_MARKS, Repertoire};

/// Longest text accepted in a field that does not declare its own limit (characters).
const DEFAULT_MAX_TEXT: usize = 200;
/// Most items accepted in a list that does not declare its own limit.
const DEFAULT_MAX_ITEMS: usize = 20;

/// Why a schema file could not be used (a defect of the template set, found when it loads).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The TOML does not describe a schema.
    #[error("schema {file}: {message}")]
    Parse {
        /// Which file.
        file: String,
        /// What the parser said.
        message: String,
    },
    /// A field is declared inconsistently (unknown type, a choice without choices, …).
    #[error("schema {file}: field {field}: {message}")]
    Field {
        /// Which file.
        file: String,
        /// The field's path.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// How certification numbers of a kind are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Numbering {
    /// "Số chứng thực: 15, quyển số: 01/2026-SCT/BS" (Decree 23/2015 Art. 13).
    Certification,
    /// "Số: 15/TLKS-BS", the number and symbol of an administrative document (Decree 30/2020).
    Document,
}

/// The kind of value a field holds.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FieldType {
    /// Free text on one line, trimmed, at most `max_length` characters.
    Text {
        /// Longest accepted value, in characters.
        max_length: usize,
    },
    /// A calendar date, written `YYYY-MM-DD` in the data.
    Date {
        /// Whether a date after the day of issue is refused (birth dates, issue dates).
        not_after_today: bool,
    },
    /// A 12-digit personal identification number (số định danh cá nhân, on the citizen ID card).
    CitizenId,
    /// A whole number within bounds.
    Integer {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// One of a fixed list of strings.
    Choice(Vec<String>),
    /// A list of objects of one shape.
    List {
        /// The fields of each item.
        item: Vec<Field>,
        /// Fewest items.
        min_items: usize,
        /// Most items.
        max_items: usize,
    },
    /// A nested object.
    Object(Vec<Field>),
}

impl FieldType {
    /// A short name for listings (`kyso kinds`).
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::Text { .. } => "text",
            FieldType::Date { .. } => "date (YYYY-MM-DD)",
            FieldType::CitizenId => "citizen ID (12 digits)",
            FieldType::Integer { .. } => "integer",
            FieldType::Choice(_) => "choice",
            FieldType::List { .. } => "list",
            FieldType::Object(_) => "object",
        }
    }
}

/// One declared field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The key in the JSON data and in the template's `data`.
    pub name: String,
    /// What it holds.
    pub ty: FieldType,
    /// Whether the data must contain it.
    pub required: bool,
    /// Label in Vietnamese, used in error messages and listings.
    pub vi: String,
    /// Label in English.
    pub en: String,
}

/// A kind's declared schema.
#[derive(Clone)]
pub struct Schema {
    /// The kind's identifier (`certified-copy`, `birth-extract`, …).
    pub kind: String,
    /// The template version; every issued document records the version it was rendered from.
    pub version: String,
    /// Name of the kind in Vietnamese.
    pub title_vi: String,
    /// Name of the kind in English.
    pub title_en: String,
    /// The register type code (SCT/BS, SCT/CK,ĐC, SCT/HĐ,GD, TLKS-BS, UBND-XNTTHN).
    pub type_code: String,
    /// How numbers are written.
    pub numbering: Numbering,
    /// The top-level fields.
    pub fields: Vec<Field>,
    /// What the template's fonts draw; text outside it is refused.
    repertoire: Arc<Repertoire>,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema")
            .field("kind", &self.kind)
            .field("version", &self.version)
            .field("type_code", &self.type_code)
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

// ---- TOML shapes -------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchema {
    kind: String,
    version: String,
    title_vi: String,
    title_en: String,
    type_code: String,
    numbering: Numbering,
    fields: Vec<RawField>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTypes {
    types: BTreeMap<String, RawType>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawType {
    fields: Vec<RawField>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default = "yes")]
    required: bool,
    vi: String,
    en: String,
    max_length: Option<usize>,
    min: Option<i64>,
    max: Option<i64>,
    choices: Option<Vec<String>>,
    /// For lists: the named type of each item.
    item: Option<String>,
    min_items: Option<usize>,
    max_items: Option<usize>,
    not_after_today: Option<bool>,
}

fn yes() -> bool {
    true
}

/// The shared object types (`templates/common/types.toml`).
#[derive(Debug, Clone, Default)]
pub struct SharedTypes {
    raw: BTreeMap<String, Vec<RawField>>,
}

impl fmt::Debug for RawField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.ty)
    }
}

impl SharedTypes {
    /// Parses the shared types file.
    pub fn parse(file: &str, text: &str) -> Result<SharedTypes, SchemaError> {
        let raw: RawTypes = toml::from_str(text).map_err(|e| SchemaError::Parse {
            file: file.to_owned(),
            message: e.message().to_owned(),
        })?;
        Ok(SharedTypes {
            raw: raw.types.into_iter().map(|(k, v)| (k, v.fields)).collect(),
        })
    }
}

impl Schema {
    /// Parses a kind's `schema.toml`, resolving named types against `types`; `repertoire` is what
    /// the template's fonts draw, which every choice must stay within.
    pub fn parse(
        file: &str,
        text: &str,
        types: &SharedTypes,
        repertoire: Arc<Repertoire>,
    ) -> Result<Schema, SchemaError> {
        let raw: RawSchema = toml::from_str(text).map_err(|e| SchemaError::Parse {
            file: file.to_owned(),
            message: e.message().to_owned(),
        })?;
        let fields = resolve_fields(file, "", &raw.fields, types, 0)?;
        check_choices(file, "", &fields, &repertoire)?;
        Ok(Schema {
            kind: raw.kind,
            version: raw.version,
            title_vi: raw.title_vi,
            title_en: raw.title_en,
            type_code: raw.type_code,
            numbering: raw.numbering,
            fields,
            repertoire,
        })
    }

    /// Validates `data` (a JSON object). On success returns the normalised JSON (kept in the
    /// register) and the same data as a typst dictionary (given to the template).
    pub fn validate(&self, data: &Json, today: Datetime) -> Result<Validated, Vec<FieldError>> {
        let mut errors = Vec::new();
        let ctx = Check {
            today,
            repertoire: &self.repertoire,
        };
        let out = validate_object(&self.fields, data, "", &ctx, &mut errors);
        match out {
            Some((json, typst)) if errors.is_empty() => Ok(Validated { json, typst }),
            _ => Err(errors),
        }
    }
}

/// Choices are compared with NFC input and printed: each must be NFC and drawable, or no data
/// could ever select it (a defect of the template set, caught at load).
fn check_choices(
    file: &str,
    prefix: &str,
    fields: &[Field],
    repertoire: &Repertoire,
) -> Result<(), SchemaError> {
    for f in fields {
        let path = if prefix.is_empty() {
            f.name.clone()
        } else {
            format!("{prefix}.{}", f.name)
        };
        match &f.ty {
            FieldType::Choice(choices) => {
                for c in choices {
                    if let Err(problem) = text_problem(c, repertoire) {
                        return Err(SchemaError::Field {
                            file: file.to_owned(),
                            field: path,
                            message: format!("choice {c:?}: {}", problem.1),
                        });
                    }
                    if c.nfc().ne(c.chars()) {
                        return Err(SchemaError::Field {
                            file: file.to_owned(),
                            field: path,
                            message: format!("choice {c:?} is not in Unicode NFC"),
                        });
                    }
                }
            }
            FieldType::List { item: sub, .. } | FieldType::Object(sub) => {
                check_choices(file, &path, sub, repertoire)?
            }
            _ => {}
        }
    }
    Ok(())
}

fn resolve_fields(
    file: &str,
    prefix: &str,
    raw: &[RawField],
    types: &SharedTypes,
    depth: usize,
) -> Result<Vec<Field>, SchemaError> {
    let mut out: Vec<Field> = Vec::with_capacity(raw.len());
    for f in raw {
        let path = if prefix.is_empty() {
            f.name.clone()
        } else {
            format!("{prefix}.{}", f.name)
        };
        let bad = |message: &str| SchemaError::Field {
            file: file.to_owned(),
            field: path.clone(),
            message: message.to_owned(),
        };
        if depth > 4 {
            return Err(bad("types nest too deeply (a type refers to itself?)"));
        }
        if f.name.is_empty() || !f.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(bad("names are lower-case ASCII letters and underscores"));
        }
        if out.iter().any(|o| o.name == f.name) {
            return Err(bad("declared twice"));
        }
        let named = |name: &str| -> Result<Vec<Field>, SchemaError> {
            let fields = types
                .raw
                .get(name)
                .ok_or_else(|| bad(&format!("unknown type {name:?}")))?;
            resolve_fields(file, &path, fields, types, depth + 1)
        };
        let ty = match f.ty.as_str() {
            "text" => FieldType::Text {
                max_length: f.max_length.unwrap_or(DEFAULT_MAX_TEXT),
            },
            "date" => FieldType::Date {
                not_after_today: f.not_after_today.unwrap_or(false),
            },
            "citizen_id" => FieldType::CitizenId,
            "integer" => {
                let (min, max) = (f.min.unwrap_or(0), f.max.unwrap_or(i64::from(u32::MAX)));
                if min > max {
                    return Err(bad("min is above max"));
                }
                FieldType::Integer { min, max }
            }
            "choice" => match &f.choices {
                Some(c) if !c.is_empty() => FieldType::Choice(c.clone()),
                _ => return Err(bad("a choice needs a non-empty `choices` list")),
            },
            "list" => {
                let item = f
                    .item
                    .as_deref()
                    .ok_or_else(|| bad("a list needs `item`, a type name"))?;
                let min_items = f.min_items.unwrap_or(if f.required { 1 } else { 0 });
                let max_items = f.max_items.unwrap_or(DEFAULT_MAX_ITEMS);
                if min_items > max_items {
                    return Err(bad("min_items is above max_items"));
                }
                FieldType::List {
                    item: named(item)?,
                    min_items,
                    max_items,
                }
            }
            other => FieldType::Object(named(other)?),
        };
        out.push(Field {
            name: f.name.clone(),
            ty,
            required: f.required,
            vi: f.vi.clone(),
            en: f.en.clone(),
        });
    }
    Ok(out)
}

// ---- validation --------------------------------------------------------------------------------

/// Data that passed validation.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The normalised JSON (strings trimmed, unknown keys refused), as kept in the register.
    pub json: Json,
    /// The same data for the template (`data` in the template inputs), dates as typst datetimes.
    pub typst: Dict,
}

/// What is wrong with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's path in the data (`requesters[1].personal_id`).
    pub path: String,
    /// The problem, in Vietnamese.
    pub vi: String,
    /// The problem, in English.
    pub en: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} / {}", self.path, self.vi, self.en)
    }
}

fn err(errors: &mut Vec<FieldError>, path: &str, field: &Field, vi: String, en: String) {
    errors.push(FieldError {
        path: path.to_owned(),
        vi: format!("{} ({}): {vi}", field.vi, path),
        en: format!("{}: {en}", field.en),
    });
}

/// What validation checks against besides the data: the day of issue and the fonts.
struct Check<'a> {
    today: Datetime,
    repertoire: &'a Repertoire,
}

fn validate_object(
    fields: &[Field],
    data: &Json,
    prefix: &str,
    ctx: &Check<'_>,
    errors: &mut Vec<FieldError>,
) -> Option<(Json, Dict)> {
    let Some(obj) = data.as_object() else {
        errors.push(FieldError {
            path: if prefix.is_empty() {
                "(data)".to_owned()
            } else {
                prefix.to_owned()
            },
            vi: "phải là một đối tượng JSON { … }".to_owned(),
            en: "must be a JSON object { … }".to_owned(),
        });
        return None;
    };
    let path_of = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        }
    };
    for key in obj.keys() {
        if !fields.iter().any(|f| &f.name == key) {
            errors.push(FieldError {
                path: path_of(key),
                vi: "trường không có trong mẫu".to_owned(),
                en: "not a field of this template".to_owned(),
            });
        }
    }
    let mut json = serde_json::Map::new();
    let mut dict = Dict::new();
    for f in fields {
        let path = path_of(&f.name);
        match obj.get(&f.name) {
            None | Some(Json::Null) => {
                if f.required {
                    err(
                        errors,
                        &path,
                        f,
                        "bắt buộc, chưa nhập".into(),
                        "is required but missing".into(),
                    );
                }
            }
            Some(v) => {
                if let Some((j, t)) = validate_value(f, v, &path, ctx, errors) {
                    json.insert(f.name.clone(), j);
                    dict.insert(Str::from(f.name.as_str()), t);
                }
            }
        }
    }
    Some((Json::Object(json), dict))
}

fn validate_value(
    f: &Field,
    v: &Json,
    path: &str,
    ctx: &Check<'_>,
    errors: &mut Vec<FieldError>,
) -> Option<(Json, Value)> {
    match &f.ty {
        FieldType::Text { max_length } => {
            let Some(s) = v.as_str() else {
                err(
                    errors,
                    path,
                    f,
                    "phải là chuỗi ký tự".into(),
                    "must be a string".into(),
                );
                return None;
            };
            // NFC first, so that length counts letters as printed and the register holds one
            // spelling whichever keyboard typed it.
            let s: String = s.trim().nfc().collect();
            let s = s.as_str();
            if s.is_empty() {
                err(
                    errors,
                    path,
                    f,
                    "không được để trống".into(),
                    "must not be empty".into(),
                );
                return None;
            }
            let chars = s.chars().count();
            if chars > *max_length {
                err(
                    errors,
                    path,
                    f,
                    format!("dài {chars} ký tự, tối đa {max_length}"),
                    format!("is {chars} characters long, at most {max_length} allowed"),
                );
                return None;
            }
            if s.chars().any(char::is_control) {
                err(
                    errors,
                    path,
                    f,
                    "chứa ký tự điều khiển (xuống dòng, tab…)".into(),
                    "contains control characters (line breaks, tabs…)".into(),
                );
                return None;
            }
            if let Err((vi, en)) = text_problem(s, ctx.repertoire) {
                err(errors, path, f, vi, en);
                return None;
            }
            Some((Json::String(s.to_owned()), Value::Str(s.into())))
        }
        FieldType::Date { not_after_today } => {
            let parsed = v.as_str().and_then(parse_iso_date);
            let Some((y, m, d, dt)) = parsed else {
                err(
                    errors,
                    path,
                    f,
                    "phải là ngày hợp lệ dạng YYYY-MM-DD (ví dụ 2026-11-25)".into(),
                    "must be a valid date written YYYY-MM-DD (e.g. 2026-11-25)".into(),
                );
                return None;
            };
            if *not_after_today && (y, m, d) > ymd(ctx.today) {
                err(
                    errors,
                    path,
                    f,
                    "không được sau ngày cấp".into(),
                    "must not be after the day of issue".into(),
                );
                return None;
            }
            Some((
                Json::String(format!("{y:04}-{m:02}-{d:02}")),
                Value::Datetime(dt),
            ))
        }
        FieldType::CitizenId => {
            let s = v.as_str().map(str::trim).unwrap_or_default();
            if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
                err(
                    errors,
                    path,
                    f,
                    "phải gồm đúng 12 chữ số".into(),
                    "must be exactly 12 digits".into(),
                );
                return None;
            }
            Some((Json::String(s.to_owned()), Value::Str(s.into())))
        }
        FieldType::Integer { min, max } => match v.as_i64() {
            Some(n) if n >= *min && n <= *max => Some((Json::from(n), Value::Int(n))),
            _ => {
                err(
                    errors,
                    path,
                    f,
                    format!("phải là số nguyên từ {min} đến {max}"),
                    format!("must be a whole number from {min} to {max}"),
                );
                None
            }
        },
        // Choices are NFC (checked at load), so NFD input selects the same choice.
        FieldType::Choice(choices) => {
            match v.as_str().map(|s| s.trim().nfc().collect::<String>()) {
                Some(s) if choices.contains(&s) => {
                    Some((Json::String(s.clone()), Value::Str(s.as_str().into())))
                }
                _ => {
                    let list = choices.join(", ");
                    err(
                        errors,
                        path,
                        f,
                        format!("phải là một trong: {list}"),
                        format!("must be one of: {list}"),
                    );
                    None
                }
            }
        }
        FieldType::List {
            item,
            min_items,
            max_items,
        } => {
            let Some(items) = v.as_array() else {
                err(
                    errors,
                    path,
                    f,
                    "phải là một danh sách [ … ]".into(),
                    "must be a list [ … ]".into(),
                );
                return None;
            };
            if items.len() < *min_items || items.len() > *max_items {
                err(
                    errors,
                    path,
                    f,
                    format!("cần từ {min_items} đến {max_items} mục, có {}", items.len()),
                    format!(
                        "needs {min_items} to {max_items} items, has {}",
                        items.len()
                    ),
                );
                return None;
            }
            let mut json = Vec::with_capacity(items.len());
            let mut arr = Array::new();
            for (i, it) in items.iter().enumerate() {
                if let Some((j, t)) =
                    validate_object(item, it, &format!("{path}[{i}]"), ctx, errors)
                {
                    json.push(j);
                    arr.push(Value::Dict(t));
                }
            }
            Some((Json::Array(json), Value::Array(arr)))
        }
        FieldType::Object(fields) => {
            validate_object(fields, v, path, ctx, errors).map(|(j, t)| (j, Value::Dict(t)))
        }
    }
}

/// At most this many offending characters are named in one message.
const NAMED_AT_MOST: usize = 5;

/// Why NFC text `s` cannot be printed as typed, in Vietnamese and English; `Ok` when it can.
/// Invisible and reordering characters are reported first: they are the ones that mislead.
fn text_problem(s: &str, repertoire: &Repertoire) -> Result<(), (String, String)> {
    let named = |bad: &dyn Fn(char) -> bool| -> Option<String> {
        let mut found: Vec<char> = Vec::new();
        for c in s.chars().filter(|&c| bad(c)) {
            if !found.contains(&c) {
                found.push(c);
            }
        }
        if found.is_empty() {
            return None;
        }
        let mut list: Vec<String> = found
            .iter()
            .take(NAMED_AT_MOST)
            .map(|&c| charset::describe(c))
            .collect();
        if found.len() > NAMED_AT_MOST {
            list.push("…".to_owned());
        }
        Some(list.join(", "))
    };
    if let Some(list) = named(&charset::is_invisible_or_reordering) {
        return Err((
            format!(
                "chứa ký tự vô hình hoặc ký tự đổi chiều chữ ({list}); chúng làm văn bản in ra \
                 khác với dữ liệu lưu trong sổ"
            ),
            format!(
                "contains invisible or text-direction characters ({list}), which make the \
                 printed text differ from what the register keeps"
            ),
        ));
    }
    if let Some(list) = named(&|c| !repertoire.contains(c)) {
        return Err((
            format!("chứa ký tự mà phông chữ của mẫu không in được: {list}"),
            format!("contains characters the template's font cannot print: {list}"),
        ));
    }
    let mut stacked = 0;
    for c in s.chars() {
        if unicode_normalization::char::canonical_combining_class(c) == 0 {
            stacked = 0;
            continue;
        }
        stacked += 1;
        if stacked > MAX_STACKED_MARKS {
            return Err((
                format!(
                    "có hơn {MAX_STACKED_MARKS} dấu chồng lên một chữ ({}); dấu chồng sẽ che dòng \
                     bên trên",
                    charset::describe(c)
                ),
                format!(
                    "stacks more than {MAX_STACKED_MARKS} combining marks on one letter ({}), \
                     which would cover the line above",
                    charset::describe(c)
                ),
            ));
        }
    }
    Ok(())
}

fn ymd(d: Datetime) -> (i32, u8, u8) {
    (
        d.year().unwrap_or(0),
        d.month().unwrap_or(0),
        d.day().unwrap_or(0),
    )
}

/// Parses `YYYY-MM-DD` strictly (four-digit year from 1900, real calendar day).
fn parse_iso_date(s: &str) -> Option<(i32, u8, u8, Datetime)> {
    let b = s.trim().as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let y = i32::try_from(num(0..4)?).ok()?;
    let m = u8::try_from(num(5..7)?).ok()?;
    let d = u8::try_from(num(8..10)?).ok()?;
    if y < 1900 {
        return None;
    }
    // Datetime::from_ymd checks the calendar (30 February is refused).
    let dt = Datetime::from_ymd(y, m, d)?;
    Some((y, m, d, dt))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types() -> SharedTypes {
        SharedTypes::parse(
            "types.toml",
            r#"
[types.person]
fields = [
  { name = "full_name", type = "text", vi = "Họ tên", en = "Full name", max_length = 10 },
  { name = "personal_id", type = "citizen_id", vi = "Số định danh", en = "Personal ID" },
]
"#,
        )
        .unwrap()
    }

    fn fonts() -> Arc<Repertoire> {
        Arc::new(Repertoire::of_fonts(
            &crate::templates::render::embedded_fonts(),
        ))
    }

    fn schema() -> Schema {
        Schema::parse(
            "s.toml",
            r#"
kind = "k"
version = "1.0"
title_vi = "K"
title_en = "K"
type_code = "SCT/BS"
numbering = "certification"
fields = [
  { name = "people", type = "list", item = "person", min_items = 1, max_items = 2, vi = "Người", en = "People" },
  { name = "born", type = "date", not_after_today = true, vi = "Ngày sinh", en = "Born" },
  { name = "pages", type = "integer", min = 1, max = 5, vi = "Số trang", en = "Pages" },
  { name = "note", type = "text", required = false, vi = "Ghi chú", en = "Note" },
]
"#,
            &types(),
            fonts(),
        )
        .unwrap()
    }

    fn today() -> Datetime {
        Datetime::from_ymd(2026, 11, 25).unwrap()
    }

    #[test]
    fn valid_data_is_normalised() {
        let data = serde_json::json!({
            "people": [{"full_name": "  Lê Văn A ", "personal_id": "001090000001"}],
            "born": "2000-02-29", "pages": 3
        });
        let v = schema().validate(&data, today()).unwrap();
        assert_eq!(v.json["people"][0]["full_name"], "Lê Văn A");
        assert!(v.json.get("note").is_none());
    }

    #[test]
    fn every_bad_field_is_reported_once() {
        let data = serde_json::json!({
            "people": [{"full_name": "Nguyễn Thị Bích Ngọc Anh", "personal_id": "12345"}, {"full_name": "A"}],
            "born": "2026-02-30", "pages": 0, "extra": 1
        });
        let errs = schema().validate(&data, today()).unwrap_err();
        let paths: Vec<_> = errs.iter().map(|e| e.path.as_str()).collect();
        // Unknown keys are reported first, then the declared fields in order.
        assert_eq!(
            paths,
            [
                "extra",
                "people[0].full_name",
                "people[0].personal_id",
                "people[1].personal_id",
                "born",
                "pages"
            ]
        );
        assert!(errs.iter().all(|e| !e.vi.is_empty() && !e.en.is_empty()));
    }

    #[test]
    fn future_dates_and_wrong_shapes_are_refused() {
        let data = serde_json::json!({"people": [], "born": "2027-01-01", "pages": "3"});
        let errs = schema().validate(&data, today()).unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(schema().validate(&serde_json::json!([1]), today()).is_err());
    }

    /// Data with `note` (a free text field) set to `text`.
    fn with_note(text: &str) -> Json {
        serde_json::json!({
            "people": [{"full_name": "Lê Văn A", "personal_id": "001090000001"}],
            "born": "2000-02-29", "pages": 3, "note": text
        })
    }

    fn note_error(text: &str) -> FieldError {
        let errs = schema().validate(&with_note(text), today()).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].path, "note");
        errs[0].clone()
    }

    #[test]
    fn characters_the_font_cannot_print_are_refused_and_named() {
        for (text, shown) in [
            ("Nguyễn 阮 An", "\"阮\" U+962E"),
            ("Đã ký 😀", "\"😀\" U+1F600"),
        ] {
            let e = note_error(text);
            assert!(e.vi.contains("phông chữ") && e.vi.contains(shown), "{e}");
            assert!(e.en.contains("cannot print") && e.en.contains(shown), "{e}");
        }
    }

    #[test]
    fn bidi_and_invisible_characters_are_refused_although_the_font_maps_them() {
        for c in [
            '\u{202E}', '\u{2066}', '\u{200F}', '\u{200B}', '\u{00AD}', '\u{FEFF}',
        ] {
            let e = note_error(&format!("Nguyễn{c}An"));
            let code = format!("U+{:04X}", u32::from(c));
            assert!(e.vi.contains("đổi chiều") && e.vi.contains(&code), "{e}");
            assert!(
                e.en.contains("text-direction") && e.en.contains(&code),
                "{e}"
            );
        }
    }

    #[test]
    fn decomposed_vietnamese_is_stored_composed() {
        // "Nguyễn Thị Ánh" as NFD: ê as e + U+0302, then the tone marks as combining characters.
        let nfd = "Nguye\u{302}\u{303}n Thi\u{323} A\u{301}nh";
        let v = schema().validate(&with_note(nfd), today()).unwrap();
        assert_eq!(v.json["note"], "Nguyễn Thị Ánh");
        assert_eq!(v.json["note"].as_str().unwrap().chars().count(), 14);
        // The length limit counts letters as printed, not code points typed.
        let name = "Nguye\u{302}\u{303}n A\u{301}"; // 8 letters, 11 code points
        let data = serde_json::json!({
            "people": [{"full_name": name, "personal_id": "001090000001"}],
            "born": "2000-02-29", "pages": 3
        });
        assert!(schema().validate(&data, today()).is_ok());
    }

    #[test]
    fn marks_stacked_beyond_what_vietnamese_needs_are_refused() {
        // A mark with no precomposed form is drawable and stays; five on one letter do not.
        assert!(
            schema()
                .validate(&with_note("x\u{323}\u{301}"), today())
                .is_ok()
        );
        let e = note_error("Lê\u{301}\u{300}\u{303}\u{309}\u{323} Văn");
        assert!(e.en.contains("combining marks"), "{e}");
    }

    #[test]
    fn a_choice_typed_decomposed_selects_the_composed_choice() {
        let s = Schema::parse(
            "s.toml",
            "kind='k'\nversion='1'\ntitle_vi='k'\ntitle_en='k'\ntype_code='X'\nnumbering='document'\nfields=[{name='sex',type='choice',choices=['Nam','Nữ'],vi='Giới tính',en='Sex'}]",
            &types(),
            fonts(),
        )
        .unwrap();
        let v = s
            .validate(&serde_json::json!({"sex": "Nu\u{31b}\u{303}"}), today())
            .unwrap();
        assert_eq!(v.json["sex"], "Nữ");
    }

    #[test]
    fn a_choice_the_font_cannot_print_is_a_schema_error() {
        let e = Schema::parse(
            "s.toml",
            "kind='k'\nversion='1'\ntitle_vi='k'\ntitle_en='k'\ntype_code='X'\nnumbering='document'\nfields=[{name='c',type='choice',choices=['男'],vi='c',en='c'}]",
            &types(),
            fonts(),
        );
        assert!(matches!(e, Err(SchemaError::Field { .. })), "{e:?}");
    }

    #[test]
    fn unknown_types_are_schema_errors() {
        let e = Schema::parse(
            "s.toml",
            "kind='k'\nversion='1'\ntitle_vi='k'\ntitle_en='k'\ntype_code='X'\nnumbering='document'\nfields=[{name='a',type='nope',vi='a',en='a'}]",
            &types(),
            fonts(),
        );
        assert!(matches!(e, Err(SchemaError::Field { .. })));
    }
}
