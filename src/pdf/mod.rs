//! PDF utilities: reading untrusted bytes within limits, and writing incremental updates.
