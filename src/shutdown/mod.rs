//! The shutdown kit: everything a step needs to stop well, and nothing of
//! the bookmarks app. Each file depends only on tokio, axum, tokio-util,
//! hyper-util (the accept loop), tracing, listenfd and sd-notify (systemd),
//! and on its neighbours here, so a reader can copy the files into their
//! own service.
//!
//! - [`signals`]: SIGINT and SIGTERM (step 2);
//! - [`deadline`]: the drain deadline and the phases of a stop (step 3);
//! - [`cutoff`]: closing every connection at the deadline (step 3);
//! - [`in_flight`]: what was in flight, for the `abandoned` line (step 3);
//! - [`runtime`]: a runtime that leaves blocking threads behind (step 5);
//! - [`workers`]: background tasks stopped together (step 6);
//! - [`accept`]: an accept loop with timeouts for slow clients (step 8);
//! - [`systemd`]: the inherited socket and notify messages (step 9).

pub mod accept;
pub mod cutoff;
pub mod deadline;
pub mod in_flight;
pub mod runtime;
pub mod signals;
pub mod systemd;
pub mod workers;
