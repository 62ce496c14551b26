//! Stories of the one-stop desk: issuing certifications, officials signing them in their own
//! right or under delegation, the agency seal, and the demo.
#[path = "../common/mod.rs"]
mod common;

mod authority;
mod demo;
mod inputs;
mod issuing;
mod public_page;
mod records;
mod signing;
