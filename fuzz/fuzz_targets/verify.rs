//! Fuzz target over the whole verify path: revision discovery, loading within limits, byte-range
//! and gap checks, CMS parsing, chain building and modification analysis. Any panic that escapes
//! `kyso::validation::validate` is a bug; panics inside the PDF parser are caught by kyso and
//! turned into errors, so the panic hook is silenced for those.
#![no_main]

use kyso::pdf::revisions::ReadLimits;
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
        let _ = validate(data, &policy);
    }
);
