//! Errors as the API answers them: one status and one stable code per kind.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use populous_error::{ErrorKind, HasKind};

/// An error answer of the REST API: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// The library error's kind, when the error came from an operation
    /// (not from the protocol: a bad token, malformed JSON).
    pub kind: Option<ErrorKind>,
    /// A sentence for people.
    pub message: String,
}

impl ApiError {
    /// Builds an error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            kind: None,
            message: message.into(),
        }
    }

    /// 401: no token or an unknown one.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or unknown token: send `Authorization: Bearer <token>` (create one with `populous token create`)",
        )
    }

    /// 404 for a folder the caller may not see, worded so it does not tell whether it exists.
    pub fn invisible(folder: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("folder {folder} does not exist or this token cannot see it"),
        )
    }
}

/// The one mapping from error kinds to HTTP statuses; the code is the kind's name.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists
        | ErrorKind::WrongState
        | ErrorKind::HasDependents
        | ErrorKind::Busy => StatusCode::CONFLICT,
        ErrorKind::PolicyDenied | ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NoSpace => StatusCode::INSUFFICIENT_STORAGE,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Unsupported => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::MissingTool | ErrorKind::Failed | ErrorKind::Internal => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// Any library error: its kind decides the status and the code.
impl<E: HasKind + std::fmt::Display> From<E> for ApiError {
    fn from(e: E) -> Self {
        let kind = e.kind();
        ApiError {
            status: status_of(kind),
            code: kind.as_str(),
            kind: Some(kind),
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        (self.status, axum::Json(body)).into_response()
    }
}
