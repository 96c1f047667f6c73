//! Step 6's routes that tell the outside world where the process is in
//! its life: `/ready` for load balancers, and `/events`, a stream that
//! must not outlive the drain.

use std::{convert::Infallible, time::Duration};

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    response::sse::{Event, KeepAlive, Sse},
    routing::get,
};
use futures_util::{Stream, StreamExt, stream};
use tokio_stream::wrappers::BroadcastStream;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// How often an idle `/events` stream sends a comment line, so proxies
/// and clients can tell a quiet stream from a dead one.
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct Lifecycle {
    store: Store,
    not_ready: CancellationToken,
    draining: CancellationToken,
}

/// `/ready` answers 503 once `not_ready` is cancelled; every `/events`
/// stream ends once `draining` is.
pub fn routes(store: Store, not_ready: CancellationToken, draining: CancellationToken) -> Router {
    Router::new()
        .route("/ready", get(ready))
        .route("/events", get(events))
        .with_state(Lifecycle {
            store,
            not_ready,
            draining,
        })
}

// ANCHOR: ready
/// Readiness, not health: "send me traffic", which stops being true at the
/// first signal, while `/health` ("I am alive, do not restart me") stays
/// 200 until the process ends.
async fn ready(State(state): State<Lifecycle>) -> (StatusCode, &'static str) {
    if state.not_ready.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else {
        (StatusCode::OK, "ready")
    }
}
// ANCHOR_END: ready

// ANCHOR: events
/// A server-sent-events stream: one `bookmark` event per bookmark created.
///
/// Left alone, a stream like this never ends, and graceful shutdown waits
/// for every response to end: one open browser tab would hold the drain
/// until the deadline. So the stream ends itself when the drain begins,
/// with a last `shutdown` event that tells the client why; an
/// `EventSource` then reconnects, to a server that is still ready.
async fn events(
    State(state): State<Lifecycle>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let created = BroadcastStream::new(state.store.subscribe())
        // A client too slow to keep up skips what it missed.
        .filter_map(|bookmark| async move { bookmark.ok() })
        .map(|bookmark| {
            let data = serde_json::to_string(&bookmark).unwrap_or_default();
            Ok(Event::default().event("bookmark").data(data))
        });
    let goodbye = stream::once(async {
        Ok(Event::default()
            .event("shutdown")
            .data("the server is shutting down"))
    });
    let stream = created
        .take_until(state.draining.cancelled_owned())
        .chain(goodbye);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}
// ANCHOR_END: events
