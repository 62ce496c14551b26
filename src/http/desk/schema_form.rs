//! The clerk's form of a certification kind, generated from its `schema.toml`: what was typed
//! (by field path, with each list's row count), the JSON data the use case receives, the form
//! flattened into groups, rows and controls for `clerk/fields.html`, and the preview's summary.

use std::collections::{HashMap, HashSet};

use super::{Errors, errors_at};
use crate::http::pages::Lang;
use crate::templates::{Field, FieldType};

/// What the clerk typed, by field path (`requester.full_name`, `signers[1].full_name`), with
/// the row count of each list.
pub(super) struct Typed {
    pub(super) values: HashMap<String, String>,
}

impl Typed {
    pub(super) fn get(&self, path: &str) -> &str {
        self.values.get(path).map_or("", String::as_str)
    }

    pub(super) fn rows(&self, path: &str, min: usize, max: usize) -> usize {
        let declared = self
            .values
            .get(&format!("rows.{path}"))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        let extra = usize::from(self.values.get("add").is_some_and(|a| a == path));
        (declared + extra).max(min).max(1).min(max.max(1))
    }
}

pub(super) fn path_of(prefix: &str, f: &Field) -> String {
    if prefix.is_empty() {
        f.name.clone()
    } else {
        format!("{prefix}.{}", f.name)
    }
}

/// The JSON data of the form, shaped by the schema: empty inputs are left out (so a required
/// one is reported missing), integers are numbers when they parse, an optional object with
/// nothing typed is left out, empty list rows are dropped.
pub(super) fn data_of(
    fields: &[Field],
    prefix: &str,
    typed: &Typed,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let mut out = serde_json::Map::new();
    for f in fields {
        let path = path_of(prefix, f);
        match &f.ty {
            FieldType::Object(sub) => {
                let m = data_of(sub, &path, typed);
                if !m.is_empty() || f.required {
                    out.insert(f.name.clone(), Value::Object(m));
                }
            }
            FieldType::List {
                item,
                min_items,
                max_items,
            } => {
                let n = typed.rows(&path, *min_items, *max_items);
                let items: Vec<Value> = (0..n)
                    .map(|i| data_of(item, &format!("{path}[{i}]"), typed))
                    .filter(|m| !m.is_empty())
                    .map(Value::Object)
                    .collect();
                if !items.is_empty() || f.required {
                    out.insert(f.name.clone(), Value::Array(items));
                }
            }
            FieldType::Integer { .. } => {
                let v = typed.get(&path).trim();
                if !v.is_empty() {
                    out.insert(
                        f.name.clone(),
                        v.parse::<i64>()
                            .map_or_else(|_| Value::String(v.to_owned()), Value::from),
                    );
                }
            }
            _ => {
                let v = typed.get(&path);
                if !v.trim().is_empty() {
                    out.insert(f.name.clone(), Value::String(v.to_owned()));
                }
            }
        }
    }
    out
}

/// An input's kind, for its attributes.
pub(super) enum InputKind {
    Text { max_length: usize },
    Date,
    CitizenId,
    Integer { min: i64, max: i64 },
    Other,
}

/// A field's label, in the page's language, and whether it is required.
pub(super) struct Label {
    pub(super) text: String,
    pub(super) required: bool,
}

/// An input or a select of the generated form.
pub(super) struct Control {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) label: Label,
    pub(super) value: String,
    pub(super) kind: InputKind,
    /// The choices of a select (none for an input).
    pub(super) choices: Option<Vec<String>>,
    pub(super) errors: Vec<String>,
}

/// The generated form, flattened: groups and list rows open and close around their controls.
pub(super) enum Item {
    /// A group (an object or a list) opens: its legend and its own problems; a list carries
    /// its row count in a hidden input.
    Open {
        id: String,
        label: Label,
        errors: Vec<String>,
        rows: Option<(String, usize)>,
    },
    /// A row of a list opens.
    Row { number: usize, errors: Vec<String> },
    /// A row of a list closes.
    EndRow,
    /// A group closes; a list not full offers a row more.
    Close { add: Option<String> },
    /// An input or a select.
    Control(Control),
}

pub(super) fn label(lang: Lang, f: &Field) -> Label {
    Label {
        text: lang.t(&f.vi, &f.en).to_owned(),
        required: f.required,
    }
}

pub(super) fn items(
    lang: Lang,
    fields: &[Field],
    prefix: &str,
    typed: &Typed,
    errors: &Errors,
    out: &mut Vec<Item>,
) {
    for f in fields {
        let path = path_of(prefix, f);
        let id = format!("f-{}", path.replace(['.', '[', ']'], "-"));
        let own_errors = errors_at(errors, &path).to_vec();
        match &f.ty {
            FieldType::Object(sub) => {
                out.push(Item::Open {
                    id,
                    label: label(lang, f),
                    errors: own_errors,
                    rows: None,
                });
                items(lang, sub, &path, typed, errors, out);
                out.push(Item::Close { add: None });
            }
            FieldType::List {
                item,
                min_items,
                max_items,
            } => {
                let n = typed.rows(&path, *min_items, *max_items);
                out.push(Item::Open {
                    id,
                    label: label(lang, f),
                    errors: own_errors,
                    rows: Some((format!("rows.{path}"), n)),
                });
                for i in 0..n {
                    let row = format!("{path}[{i}]");
                    out.push(Item::Row {
                        number: i + 1,
                        errors: errors_at(errors, &row).to_vec(),
                    });
                    items(lang, item, &row, typed, errors, out);
                    out.push(Item::EndRow);
                }
                out.push(Item::Close {
                    add: (n < *max_items).then_some(path),
                });
            }
            ty => {
                let (kind, choices) = match ty {
                    FieldType::Choice(choices) => (InputKind::Other, Some(choices.clone())),
                    FieldType::Text { max_length } => (
                        InputKind::Text {
                            max_length: *max_length,
                        },
                        None,
                    ),
                    FieldType::Date { .. } => (InputKind::Date, None),
                    FieldType::CitizenId => (InputKind::CitizenId, None),
                    FieldType::Integer { min, max } => (
                        InputKind::Integer {
                            min: *min,
                            max: *max,
                        },
                        None,
                    ),
                    _ => (InputKind::Other, None),
                };
                out.push(Item::Control(Control {
                    id,
                    value: typed.get(&path).to_owned(),
                    name: path,
                    label: label(lang, f),
                    kind,
                    choices,
                    errors: own_errors,
                }));
            }
        }
    }
}

pub(super) fn collect_paths(
    fields: &[Field],
    prefix: &str,
    typed: &Typed,
    out: &mut HashSet<String>,
) {
    for f in fields {
        let path = path_of(prefix, f);
        match &f.ty {
            FieldType::Object(sub) => collect_paths(sub, &path, typed, out),
            FieldType::List {
                item,
                min_items,
                max_items,
            } => {
                for i in 0..typed.rows(&path, *min_items, *max_items) {
                    let row = format!("{path}[{i}]");
                    collect_paths(item, &row, typed, out);
                    out.insert(row);
                }
            }
            _ => {}
        }
        out.insert(path);
    }
}

/// What was typed, as hidden inputs (the preview page posts it on unchanged).
pub(super) fn hidden_inputs(typed: &Typed) -> Vec<(String, String)> {
    let mut kept: Vec<(String, String)> = typed
        .values
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "csrf" | "key" | "go" | "add"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    kept.sort();
    kept
}

/// What was typed, label by label, as the preview page lists it (one flat list: a group's
/// label goes before its fields' labels, so that the list fits a phone).
pub(super) fn summary(
    lang: Lang,
    fields: &[Field],
    prefix: &str,
    group: &str,
    typed: &Typed,
    out: &mut Vec<(String, String)>,
) {
    for f in fields {
        let path = path_of(prefix, f);
        let own = lang.t(&f.vi, &f.en);
        let name = if group.is_empty() {
            own.to_owned()
        } else {
            format!("{group} — {own}")
        };
        match &f.ty {
            FieldType::Object(sub) => summary(lang, sub, &path, &name, typed, out),
            FieldType::List {
                item,
                min_items,
                max_items,
            } => {
                for i in 0..typed.rows(&path, *min_items, *max_items) {
                    summary(
                        lang,
                        item,
                        &format!("{path}[{i}]"),
                        &format!("{name} {}", i + 1),
                        typed,
                        out,
                    );
                }
            }
            _ => {
                let v = typed.get(&path).trim();
                if !v.is_empty() {
                    out.push((name, v.to_owned()));
                }
            }
        }
    }
}
