//! Lesson 7's lifecycle: the kit's `bookmarks::lifecycle::Lifecycle`
//! (`/ready`, the event streams, the WebSockets), with the middleware that
//! says `Connection: close` left for you to write. (The kit's file,
//! `src/lifecycle.rs`, is the answer: try before you open it.)

use axum::{
    Router,
    http::{HeaderValue, header},
    response::Response,
};
use bookmarks::{lifecycle, store::Store};
use tokio_util::sync::CancellationToken;
use tower_http::set_header::SetResponseHeaderLayer;

/// The kit's lifecycle, and the `not_ready` token your middleware watches.
#[derive(Clone)]
pub struct Lifecycle {
    kit: lifecycle::Lifecycle,
    not_ready: CancellationToken,
}

impl Lifecycle {
    /// `/ready` answers 503 once `not_ready` is cancelled; every stream
    /// ends once `draining` is.
    pub fn new(not_ready: CancellationToken, draining: CancellationToken, store: Store) -> Self {
        Lifecycle {
            kit: lifecycle::Lifecycle::new(not_ready.clone(), draining, store),
            not_ready,
        }
    }

    /// `api` plus the kit's `/ready`, `/events` and `/ws`. Around every
    /// route, a layer sets each response's `Connection` header to what
    /// your function below returns, if it returns something.
    pub fn around(&self, api: Router) -> Router {
        let not_ready = self.not_ready.clone();
        self.kit
            .around_without_close(api)
            .layer(SetResponseHeaderLayer::overriding(
                header::CONNECTION,
                move |response: &Response| close_when_not_ready(&not_ready, response),
            ))
    }

    /// Waits for every WebSocket to end.
    pub async fn websockets_closed(&self) {
        self.kit.websockets_closed().await;
    }
}

// YOURS: connection_close
// TODO: from the moment the server is not ready (`not_ready` cancelled),
//  every response must ask its client to close the connection after
//  reading it, so that a keep-alive client leaves during the delay, before
//  the drain closes the connection under it. Not the 101 that switches a
//  connection to WebSocket: its `Connection: upgrade` must stay. (HTTP/2
//  forbids the header; hyper removes it from HTTP/2 responses for you.)
fn close_when_not_ready(not_ready: &CancellationToken, response: &Response) -> Option<HeaderValue> {
    let _ = (not_ready, response);
    None
}
// YOURS_END: connection_close
