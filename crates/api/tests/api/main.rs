//! The REST API against real NATS and PostgreSQL (`scripts/services.sh`
//! starts both): each test has its own NATS namespace and database, seeded
//! through commands and projections, never by writing read models by hand.

mod support;

mod authorization;
mod browser;
mod dashboard;
mod hostile;
mod ideas;
mod listings;
mod live;
mod marketplaces;
mod oidc;
mod pagination;
mod schemathesis;
mod selling;
mod team;
mod trends;
