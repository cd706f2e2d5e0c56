//! The UI's static files, embedded in the binary: htmx (from the npm package
//! `htmx.org`, unmodified), the UI's own script (reveal, copy, confirm) and
//! its style sheet. Served with their content type; nothing else is served.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::UiError;
use crate::error::ApiError;

/// The embedded files: name, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/htmx.min.js"),
    ),
    (
        "leash.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/leash.js"),
    ),
    (
        "leash.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/leash.css"),
    ),
];

/// `GET /ui/assets/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => {
            let mut response = (StatusCode::OK, *bytes).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
        }
        None => UiError::from(ApiError::not_found("no such asset")).into_response(),
    }
}
