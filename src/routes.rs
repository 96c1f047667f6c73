//! The HTTP API: routes, JSON errors and the middleware every step shares.
//!
//! Handlers stay small on purpose; the interesting part of this repository is
//! what happens around them when the process is asked to stop.

use std::time::Duration;

use axum::{
    Json, Router,
    extract::{
        DefaultBodyLimit, FromRef, FromRequest, FromRequestParts, State,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::{Method, StatusCode, Uri},
    middleware,
    response::{IntoResponse, Response},
    routing::{MethodRouter, get},
};
use serde::Deserialize;
use serde_json::json;
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    classify::StatusInRangeAsFailures,
    trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer},
};
use tracing::Level;

use crate::{
    body,
    shutdown::in_flight,
    store::{Bookmark, Store, StoreError},
};

/// The largest request body accepted: a bookmark is a URL and a title.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The API of the contract with its middleware: what steps 1 to 5 serve.
pub fn app(store: Store) -> Router {
    with_middleware(api(store))
}

/// The API of the contract, without middleware: see [`with_middleware`].
pub fn api(store: Store) -> Router {
    table(get(get_bookmark)).with_state(store)
}

/// The route table, generic over the state so that step 5 can bring state
/// of its own, and its own `GET /bookmarks/{id}`: the one answer that grows
/// (`visits`, in [`crate::visits::api`]).
pub(crate) fn table<S>(get_one: MethodRouter<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Store: FromRef<S>,
{
    Router::new()
        .route("/health", get(health))
        .route("/bookmarks", get(list_bookmarks).post(create_bookmark))
        .route("/bookmarks/{id}", get_one.delete(delete_bookmark))
        .route("/slow", get(slow))
}

/// What every route a step serves gets: JSON answers for unknown routes
/// and methods, the body limit, a log line per request, panics caught.
pub fn with_middleware(router: Router) -> Router {
    // One stack, outermost first, applied with one `layer`: axum wraps every
    // route in each layer it is given, so five calls would put five boxes
    // around each route, each cloned per request (axum's middleware docs
    // recommend `ServiceBuilder` for several layers).
    let stack = ServiceBuilder::new()
        // Outermost, so that it counts every request a handler is working
        // on: what a shutdown that cuts them off reports as abandoned.
        .layer(middleware::from_fn(in_flight::count_requests))
        // A bug in one handler costs that request a 500, not the process:
        // without this the panic would end the connection's task and the
        // client would see the connection drop.
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }))
        // One log line per answered request, so a reader watching the logs
        // sees requests finish *after* `shutting down`.
        //
        // A failure (an ERROR line) is a 500 only. Every 503 here says
        // "shutting down", the answer a stop is meant to give: one ERROR for
        // each of a load balancer's polls of `/ready` would bury real errors.
        .layer(
            TraceLayer::new(StatusInRangeAsFailures::new(500..=500).into_make_classifier())
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        // A bigger body is read, up to a bound, so that its client gets
        // the 413 ...
        .layer(middleware::from_fn(body::limit))
        // ... and refused before it is read into memory.
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    router
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(stack)
}

async fn health() -> &'static str {
    "ok"
}

async fn list_bookmarks(State(store): State<Store>) -> Result<Json<Vec<Bookmark>>, ApiError> {
    Ok(Json(store.list().await?))
}

/// The body of `POST /bookmarks`.
#[derive(Debug, Deserialize)]
struct NewBookmark {
    url: String,
    title: String,
}

async fn create_bookmark(
    State(store): State<Store>,
    JsonBody(new): JsonBody<NewBookmark>,
) -> Result<(StatusCode, Json<Bookmark>), ApiError> {
    let url = validate_url(&new.url)?;
    let bookmark = store.insert(url, new.title).await?;
    Ok((StatusCode::CREATED, Json(bookmark)))
}

async fn get_bookmark(
    State(store): State<Store>,
    PathParam(id): PathParam<i64>,
) -> Result<Json<Bookmark>, ApiError> {
    match store.get(id).await? {
        Some(bookmark) => Ok(Json(bookmark)),
        None => Err(ApiError::not_found(id)),
    }
}

async fn delete_bookmark(
    State(store): State<Store>,
    PathParam(id): PathParam<i64>,
) -> Result<StatusCode, ApiError> {
    if store.delete(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(id))
    }
}

#[derive(Debug, Deserialize)]
struct SlowParams {
    ms: u64,
    #[serde(default)]
    mode: SlowMode,
}

/// How `/slow` spends its time: the three kinds of work a shutdown meets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SlowMode {
    /// Waiting at an `.await`, as for a slow dependency. Dropping the
    /// handler's future ends it.
    #[default]
    Async,
    /// Synchronous work on a blocking thread: a CPU-bound job, a library
    /// without async. No cancellation reaches it; it runs until it returns.
    Blocking,
    /// One write transaction that keeps SQLite busy: see
    /// [`Store::slow_query`].
    Query,
}

impl std::fmt::Display for SlowMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SlowMode::Async => "async",
            SlowMode::Blocking => "blocking",
            SlowMode::Query => "query",
        })
    }
}

/// Stands in for any request that takes a while: a report, an upload, a call
/// to a slow dependency. The tests use it to have work in flight when the
/// signal arrives, of each kind (`mode`).
async fn slow(
    State(store): State<Store>,
    QueryParams(params): QueryParams<SlowParams>,
) -> Result<&'static str, ApiError> {
    // A line of our own that tests can wait for: the request has reached
    // its handler and is now truly in flight.
    tracing::info!(ms = params.ms, mode = %params.mode, "slow request started");
    let duration = Duration::from_millis(params.ms);
    match params.mode {
        SlowMode::Async => tokio::time::sleep(duration).await,
        SlowMode::Blocking => {
            // Counted from now, while it waits for a thread too.
            let in_flight = in_flight::BLOCKING.enter();
            tokio::task::spawn_blocking(move || {
                let _in_flight = in_flight;
                std::thread::sleep(duration);
            })
            .await
            // The closure cannot panic; the task is cancelled only when the
            // runtime shuts down before it started.
            .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down"))?
        }
        SlowMode::Query => store.slow_query(duration).await?,
    }
    Ok("done")
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route for {method} {}", uri.path()),
    )
}

/// axum adds the `Allow` header to this answer itself.
async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// Accepts only absolute `http` and `https` URLs with a host.
fn validate_url(raw: &str) -> Result<String, ApiError> {
    let invalid = || {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("url must be an absolute http or https URL, got {raw:?}"),
        )
    };
    let url = url::Url::parse(raw).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid());
    }
    Ok(url.into())
}

/// An error answer: a status and `{"error": "…"}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn not_found(id: i64) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, format!("no bookmark with id {id}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            // Only during shutdown: tell the client to try again elsewhere.
            StoreError::Closed | StoreError::CutOff | StoreError::GaveUp => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err.to_string())
            }
            StoreError::Sqlite(err) => {
                tracing::error!(error = %err, "database error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "database error")
            }
        }
    }
}

// axum's own extractors answer a bad request in plain text; these wrappers
// keep their status codes and messages but answer in the API's JSON shape.

/// [`axum::Json`] with JSON errors: 400 malformed, 415 wrong content type,
/// 422 missing or mistyped field, 413 over [`BODY_LIMIT`].
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
struct JsonBody<T>(T);

/// [`axum::extract::Path`] with JSON errors: 400 for an id that is not a number.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(crate) struct PathParam<T>(pub(crate) T);

/// [`axum::extract::Query`] with JSON errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
struct QueryParams<T>(T);

macro_rules! from_rejection {
    ($($rejection:ty),*) => {$(
        impl From<$rejection> for ApiError {
            fn from(rejection: $rejection) -> Self {
                ApiError::new(rejection.status(), rejection.body_text())
            }
        }
    )*};
}

from_rejection!(JsonRejection, PathRejection, QueryRejection);
