//! Archive stories: signed files reach the local store or Garage, checksummed, and survive
//! outages and crashes.
#[path = "../common/mod.rs"]
mod common;
#[path = "../support/mod.rs"]
mod support;

mod audit;
mod garage;
mod local;
mod signing;
