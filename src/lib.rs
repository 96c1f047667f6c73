//! The bookmarks service that every step shares, and the shutdown kit.
//!
//! Two halves. [`shutdown`] is the kit: signals, the deadline, the
//! cut-off, the runtime's end, the accept loop, systemd; it knows nothing
//! of bookmarks, and a reader copies its files into their own service.
//! Everything else is the app, the same from one step to the next:
//! configuration, the database, the routes, logging, background work.
//! Each `src/bin/stepN.rs` writes its shutdown out whole, from these
//! pieces, so that the difference between two steps is the lesson.

pub mod body;
pub mod config;
pub mod lifecycle;
pub mod link_check;
pub mod routes;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod visits;

use std::{fmt, io, net::SocketAddr, process::ExitCode};

use tokio::net::TcpListener;

use crate::{config::Config, store::Store};

/// Opens the database `DATABASE_URL` names.
pub fn open_database(config: &Config) -> Result<Store, StartupError> {
    Store::open(&config.database_url).map_err(|err| {
        StartupError(format!(
            "cannot open database DATABASE_URL={:?}: {err}",
            config.database_url
        ))
    })
}

/// Binds `HOST:PORT`. With `PORT=0` the operating system picks the port:
/// `listener.local_addr()` says which.
pub async fn listen(config: &Config) -> Result<TcpListener, StartupError> {
    let wanted = SocketAddr::new(config.host, config.port);
    TcpListener::bind(wanted)
        .await
        .map_err(|err| StartupError(format!("cannot listen on {wanted} (HOST, PORT): {err}")))
}

/// Serves `inherited`, a listening socket this process was handed (step 9),
/// instead of binding one.
pub fn serve_inherited(inherited: std::net::TcpListener) -> Result<TcpListener, StartupError> {
    // tokio needs the socket non-blocking; systemd hands it blocking.
    inherited
        .set_nonblocking(true)
        .and_then(|()| TcpListener::from_std(inherited))
        .map_err(|err| StartupError(format!("cannot serve the inherited socket: {err}")))
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

/// The kit's start-up failures (signals, the inherited socket, the
/// bound address) carry their own message.
impl From<io::Error> for StartupError {
    fn from(err: io::Error) -> Self {
        StartupError(err.to_string())
    }
}

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

/// Creates the tables of step 6's background work, beside the bookmarks.
pub async fn create_background_tables(store: &Store) -> Result<(), StartupError> {
    visits::create_tables(store)
        .await
        .and(link_check::create_tables(store).await)
        .map_err(|err| StartupError(format!("cannot create the background tables: {err}")))
}
