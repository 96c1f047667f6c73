//! The bookmarks service that every step shares.
//!
//! Everything here stays the same from one step to the next: configuration,
//! the database, the routes, logging. Each step calls them in its own `main`,
//! in the order it needs. How the process *stops* is not here: each
//! `src/bin/stepN.rs` writes its shutdown out whole, so that the difference
//! between two steps is the lesson.

pub mod body;
pub mod config;
pub mod cutoff;
mod in_flight;
pub mod lifecycle;
pub mod link_check;
pub mod phase;
pub mod routes;
pub mod server;
pub mod signals;
pub mod store;
pub mod systemd;
pub mod telemetry;
pub mod visits;

use std::{fmt, net::SocketAddr, process::ExitCode};

use tokio::net::TcpListener;

use crate::{config::Config, store::Store};

/// What every step serves from: database open, port bound.
pub struct Service {
    pub store: Store,
    pub listener: TcpListener,
    /// The address actually bound: with `PORT=0`, the port the OS chose.
    pub addr: SocketAddr,
}

impl Service {
    /// Prepares everything a step needs before it can serve.
    ///
    /// Binding here, before the step logs `server starting`, means that by
    /// the time that line appears the port accepts connections.
    pub async fn start(config: &Config) -> Result<Service, StartupError> {
        Service::start_on(config, None).await
    }

    /// As [`Service::start`], but serving `inherited`, a listening socket
    /// this process was handed (step 7), instead of binding `HOST:PORT`.
    pub async fn start_on(
        config: &Config,
        inherited: Option<std::net::TcpListener>,
    ) -> Result<Service, StartupError> {
        let store = Store::open(&config.database_url).map_err(|err| {
            StartupError(format!(
                "cannot open database DATABASE_URL={:?}: {err}",
                config.database_url
            ))
        })?;
        let listener = match inherited {
            // tokio needs the socket non-blocking; systemd hands it blocking.
            Some(inherited) => inherited
                .set_nonblocking(true)
                .and_then(|()| TcpListener::from_std(inherited))
                .map_err(|err| StartupError(format!("cannot serve the inherited socket: {err}")))?,
            None => {
                let wanted = SocketAddr::new(config.host, config.port);
                TcpListener::bind(wanted).await.map_err(|err| {
                    StartupError(format!("cannot listen on {wanted} (HOST, PORT): {err}"))
                })?
            }
        };
        let addr = listener
            .local_addr()
            .map_err(|err| StartupError(format!("cannot read the bound address: {err}")))?;
        Ok(Service {
            store,
            listener,
            addr,
        })
    }
}

/// Why a step could not start: one line for a person to read.
#[derive(Debug)]
pub struct StartupError(pub String);

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartupError {}

impl StartupError {
    /// The exit status for a process that never served: 2, so that a
    /// supervisor can tell a configuration mistake from a drain that ended
    /// badly (1).
    const EXIT_STATUS: u8 = 2;

    /// Prints the one line on standard error and gives the exit status.
    pub fn report(self) -> ExitCode {
        eprintln!("error: {self}");
        ExitCode::from(Self::EXIT_STATUS)
    }
}

/// Creates the tables of step 5's background work, beside the bookmarks.
pub async fn create_background_tables(store: &Store) -> Result<(), StartupError> {
    visits::create_tables(store)
        .await
        .and(link_check::create_tables(store).await)
        .map_err(|err| StartupError(format!("cannot create the background tables: {err}")))
}
