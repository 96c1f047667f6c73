//! What step 6 adds around the API so that clients and load balancers can
//! follow the process through its life: `/ready` for balancers that probe,
//! `Connection: close` on every HTTP/1.1 response once not ready, and two
//! streams of the bookmarks created, `/events` and `/ws`, that end when the
//! drain begins instead of holding it until the deadline.

use std::{convert::Infallible, pin, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{
        State,
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code},
    },
    http::{HeaderValue, StatusCode, header},
    response::{
        Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::get,
};
use futures_util::{Stream, StreamExt, stream};
use tokio_stream::wrappers::BroadcastStream;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::store::Store;

/// How often an idle `/events` stream sends a comment line, so proxies
/// and clients can tell a quiet stream from a dead one.
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);

// ANCHOR: lifecycle
/// Where the process is in its life, as the routes that tell the outside
/// world need it: the two moments, the bookmarks created, and every
/// WebSocket still open (they leave hyper at the upgrade, so the server's
/// drain does not know them).
///
/// Shared behind one `Arc`: the middleware below is handed a clone per
/// request, and cloning the tokens themselves would take their lock each
/// time.
#[derive(Clone)]
pub struct Lifecycle(Arc<Moments>);

pub struct Moments {
    not_ready: CancellationToken,
    draining: CancellationToken,
    /// Where `/events` and `/ws` hear of each bookmark created.
    store: Store,
    websockets: TaskTracker,
}

impl std::ops::Deref for Lifecycle {
    type Target = Moments;

    fn deref(&self) -> &Moments {
        &self.0
    }
}
// ANCHOR_END: lifecycle

impl Lifecycle {
    /// `/ready` answers 503 once `not_ready` is cancelled; every stream
    /// ends once `draining` is.
    pub fn new(not_ready: CancellationToken, draining: CancellationToken, store: Store) -> Self {
        Lifecycle(Arc::new(Moments {
            not_ready,
            draining,
            store,
            websockets: TaskTracker::new(),
        }))
    }

    /// `api` plus `/ready`, `/events` and `/ws`; every HTTP/1.1 response
    /// from `not_ready` on says `Connection: close`.
    pub fn around(&self, api: Router) -> Router {
        let state = self.clone();
        self.around_without_close(api)
            .layer(SetResponseHeaderLayer::overriding(
                header::CONNECTION,
                move |response: &Response| close_when_not_ready(&state, response),
            ))
    }

    /// As [`around`](Lifecycle::around), but without `Connection: close`:
    /// for a service that says it its own way (the workbook's lesson 7
    /// has its reader write it).
    pub fn around_without_close(&self, api: Router) -> Router {
        let own = Router::new()
            .route("/ready", get(ready))
            .route("/events", get(events))
            .route("/ws", get(websocket))
            .with_state(self.clone());
        api.merge(own)
    }

    /// Waits for every WebSocket to end. Once the server has drained, no
    /// handler can open another, so this ends when the last one closes.
    pub async fn websockets_closed(&self) {
        self.websockets.close();
        self.websockets.wait().await;
    }
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

// ANCHOR: connection_close
/// From the first signal on, every HTTP/1.1 response asks its client to
/// close the connection after reading it (hyper closes it too). A pooled
/// client or a proxy then opens its next connection to wherever its
/// balancer now sends traffic, instead of sending it on a kept-alive
/// connection that the drain is about to close under it.
///
/// Not the 101 that switches a connection to WebSocket: its `Connection:
/// upgrade` must stay. On HTTP/2, where `Connection` is forbidden (RFC
/// 9113, section 8.2.2), hyper removes the header before it sends the
/// response (`strip_connection_headers` in its `src/proto/h2/mod.rs`), and
/// GOAWAY, at the drain, does this job.
fn close_when_not_ready(state: &Lifecycle, response: &Response) -> Option<HeaderValue> {
    let upgrade = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    (state.not_ready.is_cancelled() && !upgrade).then(|| HeaderValue::from_static("close"))
}
// ANCHOR_END: connection_close

/// The JSON of each bookmark created from now on. A listener that falls
/// more than 64 behind skips the ones it missed.
fn created(state: &Lifecycle) -> impl Stream<Item = String> + use<> {
    BroadcastStream::new(state.store.subscribe_inserted()).filter_map(|bookmark| async move {
        bookmark
            .ok()
            .and_then(|bookmark| serde_json::to_string(&bookmark).ok())
    })
}

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
    let created = created(&state).map(|json| Ok(Event::default().event("bookmark").data(json)));
    let goodbye = stream::once(async {
        Ok(Event::default()
            .event("shutdown")
            .data("the server is shutting down"))
    });
    let stream = created
        .take_until(state.draining.clone().cancelled_owned())
        .chain(goodbye);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}
// ANCHOR_END: events

// ANCHOR: websocket
/// A WebSocket: one JSON text message per bookmark created.
///
/// After the upgrade the socket is no longer hyper's, and the server's
/// drain neither waits for it nor tells it anything. So the handler takes
/// a token of `websockets` *before* the upgrade, while the connection is
/// still one the drain waits for: by the time the server has drained, every
/// WebSocket is counted, and [`Lifecycle::websockets_closed`] misses none.
///
/// It subscribes to the bookmarks before answering too, so a client that
/// creates one as soon as its socket is open gets its message.
async fn websocket(State(state): State<Lifecycle>, upgrade: WebSocketUpgrade) -> Response {
    let open = state.websockets.token();
    let created = created(&state);
    upgrade.on_upgrade(move |socket| async move {
        let _open = open;
        feed(socket, created, state.draining.clone()).await;
    })
}

/// Sends bookmarks until the drain begins, then says "going away" (close
/// code 1001) and waits for the client's Close. A client that never
/// answers is cut off at the drain deadline with every other connection:
/// the upgraded socket is still the listener's `CutoffStream`.
async fn feed(
    mut socket: WebSocket,
    created: impl Stream<Item = String>,
    draining: CancellationToken,
) {
    let mut created = pin::pin!(created);
    loop {
        tokio::select! {
            () = draining.cancelled() => break,
            Some(json) = created.next() => {
                if socket.send(Message::Text(json.into())).await.is_err() {
                    return;
                }
            }
            // The client's messages are not read for their content; a
            // Close from it is answered by the library, and the socket
            // then ends (`None`).
            received = socket.recv() => match received {
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return,
            },
        }
    }
    let going_away = CloseFrame {
        code: close_code::AWAY,
        reason: "the server is shutting down".into(),
    };
    if socket.send(Message::Close(Some(going_away))).await.is_err() {
        return;
    }
    // Until the client's Close (then `None`), or the cut-off (an error).
    while let Some(Ok(_)) = socket.recv().await {}
}
// ANCHOR_END: websocket
