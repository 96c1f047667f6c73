//! The HTTP API: every route of the contract, and bad input answered with
//! the right status and a JSON `{"error"}`.
//!
//! Most of these call the router directly with `oneshot`, no socket needed;
//! the last one sends the same bad input to a real step over TCP and checks
//! that it keeps serving.

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
    routing::get,
};
use bookmarks::{
    routes::{BODY_LIMIT, api, with_middleware},
    store::Store,
};
use http_body_util::BodyExt;
use libtest2_mimic::Trial;
use serde_json::{Value, json};
use tower::ServiceExt;

/// This file's tests, for `tests/steps.rs` to run.
pub(crate) fn trials() -> Vec<Trial> {
    trials![
        async health_answers_ok,
        async bookmarks_round_trip,
        async slow_answers_after_the_wait,
        async slow_answers_after_the_wait_in_every_mode,
        async slow_with_an_unknown_mode_is_400,
        async malformed_json_is_400,
        async missing_field_is_422,
        async url_that_is_not_absolute_http_is_422,
        async body_over_the_limit_is_413,
        async wrong_content_type_is_415,
        async unknown_or_non_numeric_id,
        async slow_with_a_bad_ms_is_400,
        async unknown_route_is_a_json_404,
        async panicking_handler_answers_500_and_serving_goes_on,
        async closed_database_answers_503,
        real_server_stays_healthy_after_bad_input,
    ]
}

/// What steps 1 to 4 serve, without a socket.
fn app(store: Store) -> Router {
    with_middleware(api(store))
}

fn test_app() -> Router {
    app(Store::open(":memory:").expect("in-memory database"))
}

/// Sends one request; returns the status and the body as JSON (or as a
/// JSON string when the body is not JSON).
async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, body)
}

fn get_req(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post_json(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

/// Asserts a JSON error answer with `status`.
#[track_caller]
fn assert_error(answer: (StatusCode, Value), status: StatusCode) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert!(
        answer.1["error"]
            .as_str()
            .is_some_and(|text| !text.is_empty()),
        "a JSON error body: {}",
        answer.1
    );
}

async fn health_answers_ok() {
    let answer = send(&test_app(), get_req("/health")).await;
    assert_eq!(answer, (StatusCode::OK, Value::String("ok".into())));
}

async fn bookmarks_round_trip() {
    let app = test_app();
    let body = json!({"url": "https://www.rust-lang.org/", "title": "Rust"}).to_string();

    let (status, created) = send(&app, post_json("/bookmarks", body)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["url"], "https://www.rust-lang.org/");
    assert_eq!(created["title"], "Rust");
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    let id = created["id"].as_i64().unwrap();

    let (status, listed) = send(&app, get_req("/bookmarks")).await;
    assert_eq!((status, listed), (StatusCode::OK, json!([created.clone()])));
    let (status, fetched) = send(&app, get_req(&format!("/bookmarks/{id}"))).await;
    assert_eq!((status, fetched), (StatusCode::OK, created));

    let delete = || {
        Request::delete(format!("/bookmarks/{id}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(send(&app, delete()).await.0, StatusCode::NO_CONTENT);
    assert_error(send(&app, delete()).await, StatusCode::NOT_FOUND);
    assert_error(
        send(&app, get_req(&format!("/bookmarks/{id}"))).await,
        StatusCode::NOT_FOUND,
    );
}

async fn slow_answers_after_the_wait() {
    let started = std::time::Instant::now();
    let answer = send(&test_app(), get_req("/slow?ms=50")).await;
    assert_eq!(answer, (StatusCode::OK, Value::String("done".into())));
    assert!(started.elapsed() >= std::time::Duration::from_millis(50));
}

async fn slow_answers_after_the_wait_in_every_mode() {
    let app = test_app();
    for mode in ["async", "blocking", "query"] {
        let started = std::time::Instant::now();
        let answer = send(&app, get_req(&format!("/slow?ms=50&mode={mode}"))).await;
        assert_eq!(
            answer,
            (StatusCode::OK, Value::String("done".into())),
            "{mode}"
        );
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(50),
            "{mode} answered after {:?}",
            started.elapsed()
        );
    }
    // The query's transaction committed its bookmark.
    let (status, listed) = send(&app, get_req("/bookmarks")).await;
    assert_eq!(status, StatusCode::OK);
    let urls: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["url"].clone())
        .collect();
    assert_eq!(urls, [json!("https://example.com/slow-query")]);
}

async fn slow_with_an_unknown_mode_is_400() {
    let app = test_app();
    for uri in [
        "/slow?ms=5&mode=other",
        "/slow?ms=5&mode=",
        "/slow?ms=5&mode=Query",
    ] {
        assert_error(send(&app, get_req(uri)).await, StatusCode::BAD_REQUEST);
    }
}

async fn malformed_json_is_400() {
    let answer = send(&test_app(), post_json("/bookmarks", "{\"url\": ")).await;
    assert_error(answer, StatusCode::BAD_REQUEST);
}

async fn missing_field_is_422() {
    let body = json!({"url": "https://example.com/"}).to_string();
    assert_error(
        send(&test_app(), post_json("/bookmarks", body)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
}

async fn url_that_is_not_absolute_http_is_422() {
    for url in [
        "example.com",
        "/relative/path",
        "ftp://example.com/file",
        "javascript:alert(1)",
        "http://",
        "",
    ] {
        let body = json!({"url": url, "title": "t"}).to_string();
        let answer = send(&test_app(), post_json("/bookmarks", body)).await;
        assert_error(answer, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

async fn body_over_the_limit_is_413() {
    let title = "x".repeat(BODY_LIMIT);
    let body = json!({"url": "https://example.com/", "title": title}).to_string();
    assert_error(
        send(&test_app(), post_json("/bookmarks", body)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    );
}

async fn wrong_content_type_is_415() {
    let request = Request::post("/bookmarks")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("{}"))
        .unwrap();
    assert_error(
        send(&test_app(), request).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    );
}

async fn unknown_or_non_numeric_id() {
    let app = test_app();
    assert_error(
        send(&app, get_req("/bookmarks/999")).await,
        StatusCode::NOT_FOUND,
    );
    assert_error(
        send(&app, get_req("/bookmarks/abc")).await,
        StatusCode::BAD_REQUEST,
    );
    let delete = Request::delete("/bookmarks/abc")
        .body(Body::empty())
        .unwrap();
    assert_error(send(&app, delete).await, StatusCode::BAD_REQUEST);
}

async fn slow_with_a_bad_ms_is_400() {
    let app = test_app();
    for uri in ["/slow?ms=soon", "/slow?ms=-5", "/slow"] {
        assert_error(send(&app, get_req(uri)).await, StatusCode::BAD_REQUEST);
    }
}

async fn unknown_route_is_a_json_404() {
    assert_error(
        send(&test_app(), get_req("/nope")).await,
        StatusCode::NOT_FOUND,
    );
}

async fn boom() -> &'static str {
    panic!("{}a bug in one handler", crate::ON_PURPOSE)
}

/// A handler that panics costs its request a 500; the next request is
/// served as usual.
async fn panicking_handler_answers_500_and_serving_goes_on() {
    let router = with_middleware(
        Router::new()
            .route("/boom", get(boom))
            .route("/fine", get(|| async { "fine" })),
    );
    assert_error(
        send(&router, get_req("/boom")).await,
        StatusCode::INTERNAL_SERVER_ERROR,
    );
    assert_eq!(send(&router, get_req("/fine")).await.0, StatusCode::OK);
}

/// Requests after the database is closed get 503, not a panic.
async fn closed_database_answers_503() {
    let store = Store::open(":memory:").unwrap();
    let app = app(store.clone());
    store.close().await.unwrap();
    assert_error(
        send(&app, get_req("/bookmarks")).await,
        StatusCode::SERVICE_UNAVAILABLE,
    );
}

/// The same bad input over a real socket: each gets its status, and the
/// server stays healthy and drains cleanly afterwards.
fn real_server_stays_healthy_after_bad_input() {
    use std::{io::Write, net::TcpStream, time::Duration};
    use tools::{
        client::get,
        harness::{Launch, Signal, assert_exit_code},
    };

    let mut server = Launch::new("step2").start();
    let limit = Duration::from_secs(5);
    let raw = |request: &str| {
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream.set_read_timeout(Some(limit)).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
        answer
    };
    let post = |body: &str| {
        raw(&format!(
            "POST /bookmarks HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ))
    };

    assert!(post("{\"url\":").starts_with("HTTP/1.1 400"));
    assert!(post("{\"url\":\"https://a.example/\"}").starts_with("HTTP/1.1 422"));
    assert!(post("{\"url\":\"a.example\",\"title\":\"t\"}").starts_with("HTTP/1.1 422"));
    let huge = format!(
        "{{\"url\":\"https://a.example/\",\"title\":\"{}\"}}",
        "x".repeat(20_000)
    );
    assert!(post(&huge).starts_with("HTTP/1.1 413"));
    assert!(raw("garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
    assert_eq!(get(&server.url("/bookmarks/abc"), limit).unwrap().0, 400);
    assert_eq!(get(&server.url("/slow?ms=soon"), limit).unwrap().0, 400);

    assert_eq!(get(&server.url("/health"), limit), Ok((200, "ok".into())));
    server.signal(Signal::SIGTERM);
    assert_exit_code(server.expect_exit(limit), 0);
}
