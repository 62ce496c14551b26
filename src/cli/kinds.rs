//! `kyso kinds`: the certification kinds, their template versions, registers and fields.

use std::process::ExitCode;

use anyhow::Context as _;
use kyso::templates::{Catalog, Field, FieldType};

use super::Context;
use super::output::out;

pub fn run(_ctx: &Context) -> anyhow::Result<ExitCode> {
    let catalog = Catalog::load().context("templates")?;
    let mut out = String::new();
    for t in catalog.kinds() {
        let s = &t.schema;
        out.push_str(&format!(
            "{}  (v{}, {})\n  {} / {}\n",
            s.kind, s.version, s.type_code, s.title_vi, s.title_en
        ));
        list_fields(&mut out, &s.fields, 2);
        out.push('\n');
    }
    out!("{out}")?;
    Ok(ExitCode::SUCCESS)
}

fn list_fields(out: &mut String, fields: &[Field], indent: usize) {
    for f in fields {
        let pad = " ".repeat(indent);
        let req = if f.required { "required" } else { "optional" };
        let detail = match &f.ty {
            FieldType::Choice(c) => format!(": {}", c.join(" | ")),
            FieldType::Integer { min, max } => format!(" {min}..{max}"),
            FieldType::Text { max_length } => format!(" ≤{max_length}"),
            FieldType::List {
                min_items,
                max_items,
                ..
            } => format!(" of {min_items}..{max_items}"),
            _ => String::new(),
        };
        out.push_str(&format!(
            "{pad}{} ({}{detail}, {req}): {} / {}\n",
            f.name,
            f.ty.name(),
            f.vi,
            f.en
        ));
        match &f.ty {
            FieldType::List { item, .. } => list_fields(out, item, indent + 4),
            FieldType::Object(sub) => list_fields(out, sub, indent + 4),
            _ => {}
        }
    }
}
