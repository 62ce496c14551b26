//! Compiles one standalone typst file to PDF with kyso's embedded fonts (Kyso Serif). Used
//! by `keys-dev/images/make.sh` to draw the development officials' signature and seal images.
//!
//! Usage: typst_to_pdf IN.typ OUT.pdf

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Duration};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};

struct OneFile {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
    source: Source,
}

impl World for OneFile {
    fn library(&self) -> &LazyHash<Library> {
        &self.library
    }
    fn book(&self) -> &LazyHash<FontBook> {
        &self.book
    }
    fn main(&self) -> FileId {
        self.source.id()
    }
    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.source.id() {
            Ok(self.source.clone())
        } else {
            Err(FileError::AccessDenied)
        }
    }
    fn file(&self, id: FileId) -> FileResult<Bytes> {
        self.source(id)
            .map(|s| Bytes::from_string(s.text().to_owned()))
    }
    fn font(&self, index: usize) -> Option<Font> {
        self.fonts.get(index).cloned()
    }
    fn today(&self, _: Option<Duration>) -> Option<Datetime> {
        Datetime::from_ymd(2026, 1, 1)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        return Err("usage: typst_to_pdf IN.typ OUT.pdf".into());
    }
    let fonts: Vec<Font> = [
        &include_bytes!("../fonts/KysoSerif-Regular.ttf")[..],
        &include_bytes!("../fonts/KysoSerif-Bold.ttf")[..],
    ]
    .into_iter()
    .flat_map(|d| Font::iter(Bytes::new(d)))
    .collect();
    let id = RootedPath::new(
        VirtualRoot::Project,
        VirtualPath::new("/main.typ").map_err(|e| format!("{e:?}"))?,
    )
    .intern();
    let world = OneFile {
        library: LazyHash::new(Library::default()),
        book: LazyHash::new(FontBook::from_fonts(&fonts)),
        fonts,
        source: Source::new(id, std::fs::read_to_string(&args[1])?),
    };
    let doc = typst::compile::<typst_layout::PagedDocument>(&world)
        .output
        .map_err(|d| {
            d.iter()
                .map(|d| d.message.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })?;
    let pdf = typst_pdf::pdf(&doc, &typst_pdf::PdfOptions::default()).map_err(|d| {
        d.iter()
            .map(|d| d.message.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    std::fs::write(&args[2], pdf)?;
    Ok(())
}
