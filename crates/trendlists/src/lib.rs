//! Trend lists in, Trend observations out: the formats a seller or a source
//! hands us (`parse`), the niche and product types a keyword belongs to
//! (`taxonomy`), and storing them idempotently through the Trend aggregate
//! (`ingest`). Used by the trends worker, `pod trends import` and the
//! dashboard's import alike.

pub mod ingest;
pub mod parse;
pub mod taxonomy;
