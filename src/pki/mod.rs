//! Certificates and keys: loading PEM files, the development PKI, and the development-mode guard.
