//! Trend ingestion: sources, imports and the niche taxonomy.

pub mod taxonomy;
