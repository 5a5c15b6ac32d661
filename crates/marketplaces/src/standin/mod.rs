//! Stand-ins for the marketplaces, served on 127.0.0.1 by tests and
//! benchmarks (feature `standins`): each speaks the provider's HTTP
//! contract and keeps the state a real one would, so the real clients run
//! against them unchanged.

pub mod etsy;
