//! Request bodies: a size limit whose 413 the client gets to read, and a
//! 408 for a body that stops arriving.
//!
//! Refusing a big body is easy; getting the refusal read is not. A client
//! that sends its whole body before it reads (Python's `http.client`,
//! `ureq`, curl with `Expect:` turned off) is still writing when an early
//! 413 comes back. If the server then closes with unread bytes in its
//! receive buffer, the kernel answers with a reset (RFC 2525, section 2.17),
//! and the client meets a broken pipe instead of the 413. So the rest of an
//! oversized body is read and thrown away before the answer, up to
//! [`DISCARD_LIMIT`] bytes. Go's `net/http` does the same, up to 256 KB,
//! with a body its handler left unread (`maxPostHandlerReadBytes` in
//! `src/net/http/server.go`), and nginx in its lingering close.
//!
//! A client that sent `Expect: 100-continue` has sent no body yet: it is
//! refused without a read, so hyper sends no `100 Continue`.

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderMap, HeaderValue, StatusCode, Version, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http_body_util::BodyExt;
use tower_http::timeout::TimeoutError;

use crate::routes::{ApiError, BODY_LIMIT};

/// The most of an oversized body read (and thrown away) so that its client
/// gets the 413. A body declared larger is refused without a read, and so
/// is whatever follows this much of a body of unknown length: a client
/// that sends such a body whole may see a reset instead of the 413.
pub const DISCARD_LIMIT: u64 = 4 * 1024 * 1024;

// ANCHOR: limit
/// Middleware: reads the request body whole (at most [`BODY_LIMIT`] bytes)
/// before the handler runs.
pub(crate) async fn limit(request: Request, next: Next) -> Response {
    let (parts, mut body) = request.into_parts();
    let declared = content_length(&parts.headers).filter(|&length| length > BODY_LIMIT as u64);
    if let Some(declared) = declared {
        // Nothing sent yet, or more than is worth reading: refuse unread.
        if expects_continue(&parts.headers) || declared > DISCARD_LIMIT {
            tracing::info!(declared, "request body too large, not read");
            return refuse(too_large(), parts.version);
        }
    }
    let mut kept = Vec::new();
    let mut read = 0_u64;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(err) if is_timeout(&err) => {
                let answer = ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "the request body stopped arriving",
                );
                return refuse(answer, parts.version);
            }
            // A broken body (bad chunked framing, the connection gone):
            // 400, for whoever is still there to read it.
            Err(err) => {
                return ApiError::new(StatusCode::BAD_REQUEST, err.to_string()).into_response();
            }
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        read += data.len() as u64;
        if read <= BODY_LIMIT as u64 {
            kept.extend_from_slice(&data);
        } else if read > DISCARD_LIMIT {
            tracing::info!(read, "request body too large, stopped reading");
            return refuse(too_large(), parts.version);
        }
    }
    if read > BODY_LIMIT as u64 {
        tracing::info!(read, "request body too large, read to the end");
        return too_large().into_response();
    }
    if !kept.is_empty() && is_json(&parts.headers) {
        // serde_json refuses more than 128 levels of nesting where it
        // recurses, but skips the value of a field it does not know
        // without a limit. Parsing the whole body once applies the limit
        // everywhere; a syntax error is the 400 the handler would give.
        if let Err(err) = serde_json::from_slice::<serde_json::Value>(&kept) {
            return ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON: {err}"))
                .into_response();
        }
    }
    next.run(Request::from_parts(parts, Body::from(kept))).await
}
// ANCHOR_END: limit

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body larger than {BODY_LIMIT} bytes"),
    )
}

/// An answer after which the connection closes: the rest of the body is
/// still on its way, or was never asked for. HTTP/2 has no such header; the
/// stream ends instead.
fn refuse(answer: ApiError, version: Version) -> Response {
    let mut response = answer.into_response();
    if version <= Version::HTTP_11 {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Whether `err` is `BODY_TIMEOUT` firing (tower-http's `TimeoutBody`, put
/// around every body by `crate::shutdown::accept`, step 8 on).
fn is_timeout(err: &axum::Error) -> bool {
    std::error::Error::source(err).is_some_and(|source| source.is::<TimeoutError>())
}

#[cfg(test)]
mod tests {
    /// Why `limit` parses every JSON body as a plain value first: serde_json
    /// (1.0.154) counts the depth where it recurses (128 levels,
    /// `remaining_depth` in its `src/de.rs`) but skips an unknown field's
    /// value in a loop of its own (`ignore_value`), with no limit. Should a
    /// later serde_json limit that too, this fails, and the extra parse can
    /// go.
    #[test]
    fn serde_json_skips_an_unknown_field_at_any_depth() {
        #[derive(serde::Deserialize)]
        struct Known {
            #[allow(dead_code, reason = "only its presence is parsed")]
            url: String,
        }
        let deep = format!(
            r#"{{"url": "https://example.com", "extra": {}{}}}"#,
            "[".repeat(5000),
            "]".repeat(5000)
        );
        assert!(serde_json::from_str::<Known>(&deep).is_ok());
        assert!(serde_json::from_str::<serde_json::Value>(&deep).is_err());
    }
}
