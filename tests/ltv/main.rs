//! Long-term signatures against the live test PKI (certomancer, tests/pki/certomancer.yml):
//! the OCSP client's refusals, B-LT and B-LTA files that pyHanko validates with revocation
//! checking on, and kyso's past signature validation of them years later.
#[path = "../common/mod.rs"]
mod common;

mod ocsp;
mod pdfa;
mod pki;
mod renewal;
mod signing;
mod validation;
