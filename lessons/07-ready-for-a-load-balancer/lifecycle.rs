//! Lesson 7's lifecycle: the kit's `bookmarks::lifecycle::Lifecycle`
//! (`/ready`, the event streams, the WebSockets), with the middleware that
//! says `Connection: close` left for you to write. (The kit's file,
//! `src/lifecycle.rs`, is the answer: try before you open it.)

use axum::{
    Router,
    extract::{Request, State},
    middleware::{self, Next},
    response::Response,
};
use bookmarks::{lifecycle, store::Store};
use tokio_util::sync::CancellationToken;

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

    /// `api` plus the kit's `/ready`, `/events` and `/ws`, with your
    /// middleware around every route.
    pub fn around(&self, api: Router) -> Router {
        self.kit
            .around_without_close(api)
            .layer(middleware::from_fn_with_state(
                self.not_ready.clone(),
                close_when_not_ready,
            ))
    }

    /// Waits for every WebSocket to end.
    pub async fn websockets_closed(&self) {
        self.kit.websockets_closed().await;
    }
}

// YOURS: connection_close
// TODO: from the moment the server is not ready (`not_ready` cancelled),
//  every HTTP/1.1 response must ask its client to close the connection
//  after reading it, so that a keep-alive client leaves during the delay,
//  before the drain closes the connection under it. Not an HTTP/2 response,
//  where that header is forbidden, nor the 101 that switches a connection
//  to WebSocket.
async fn close_when_not_ready(
    State(not_ready): State<CancellationToken>,
    request: Request,
    next: Next,
) -> Response {
    let _not_ready = not_ready;
    next.run(request).await
}
// YOURS_END: connection_close
