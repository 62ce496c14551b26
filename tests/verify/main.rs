//! Verification stories: what `kyso verify` says of signed, tampered and forged files.
#[path = "../common/mod.rs"]
mod common;

mod ambiguity;
mod attacks;
mod fixtures;
mod limits;
mod modifications;
mod posing;
mod timestamps;
