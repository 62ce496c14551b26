//! PAdES signing: CMS SignedData over a PDF byte range, produced by a [`Signer`] wherever its key lives.
