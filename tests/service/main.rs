//! Stories of the service (`kyso serve`): the desk, the officials and the seal over HTTP, who
//! may call what, the API's contract, and what a crash leaves behind.
#[path = "../common/mod.rs"]
mod common;

mod browser;
mod client;
mod contract;
mod crash;
mod pages;
mod roles;
mod story;
