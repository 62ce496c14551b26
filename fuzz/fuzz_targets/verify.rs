//! Fuzz target over the whole verify path: revision discovery, loading within limits, byte-range
//! and gap checks, CMS parsing, chain building and modification analysis, then the content reader
//! (`kyso::pdf::content`) over every page and appearance of the last revision. Any panic that
//! escapes is a bug; panics inside the PDF parser are caught by kyso and
//! turned into errors, so the panic hook is silenced for those.
#![no_main]

use kyso::pdf::content::{Source, appearance, page_content};
use kyso::pdf::revisions::{Budget, ReadLimits, find_revisions, load_revision};
use kyso::validation::{Policy, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        // kyso catches parser panics itself; print only the others (libFuzzer reports any panic
        // that escapes as a crash either way).
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.location().is_some_and(|l| l.file().contains("lopdf")) {
                default(info);
            }
        }));
    },
    |data: &[u8]| {
        let policy = Policy {
            limits: ReadLimits { max_file_size: 4 << 20, max_decompressed_total: 16 << 20, ..ReadLimits::default() },
            ..Policy::default()
        };
        let _ = validate(data, &policy, time::OffsetDateTime::now_utc());
        // The content reader judges what a new signature widget paints over: it reads hostile
        // content streams too, reached here without a signature in front of them.
        let limits = policy.limits;
        let Ok(revs) = find_revisions(data, &limits) else { return };
        let Some(last) = revs.revisions.last() else { return };
        let budget = Budget::for_file(data.len());
        let Ok(rev) = load_revision(data, last, &limits, &budget) else { return };
        let src = Source { rev: &rev, bytes: data, limits: &limits, budget: &budget };
        for (id, obj) in rev.doc.objects.iter().take(256) {
            if let Ok(d) = obj.as_dict() {
                if d.has_type(b"Page") {
                    let _ = page_content(&src, *id);
                }
                if d.has(b"AP") {
                    let _ = appearance(&src, d);
                }
            }
        }
    }
);
