//! Workers: the pipeline's reactions to events. Each stage is a worker kind
//! with its own durable consumer; each calls its providers (real or
//! offline), then issues commands on aggregates. Workers never read read
//! models: they act on events and aggregates only.

pub mod backoff;
pub mod budget;
pub mod config;
pub mod designs;
pub mod etsy_session;
pub mod ideation;
pub mod kinds;
pub mod listings;
pub mod openai;
pub mod pipeline;
pub mod provider;
pub mod publishing;
pub mod runtime;
pub mod screening;
pub mod sync;
pub mod trends;
