//! Errors as the API answers them: one status and one stable code per kind.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use populous_engine::ErrorKind;

/// An error answer of the REST API: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
}

impl ApiError {
    /// Builds an error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
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

/// The one mapping from engine error kinds to HTTP statuses and codes.
pub fn status_of(kind: ErrorKind) -> (StatusCode, &'static str) {
    match kind {
        ErrorKind::InvalidInput => (StatusCode::BAD_REQUEST, "invalid_input"),
        ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        ErrorKind::AlreadyExists => (StatusCode::CONFLICT, "already_exists"),
        ErrorKind::WrongState => (StatusCode::CONFLICT, "wrong_state"),
        ErrorKind::HasDependents => (StatusCode::CONFLICT, "has_dependents"),
        ErrorKind::PolicyDenied => (StatusCode::FORBIDDEN, "policy_denied"),
        ErrorKind::NoSpace => (StatusCode::INSUFFICIENT_STORAGE, "no_space"),
        ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        ErrorKind::Unsupported => (StatusCode::UNPROCESSABLE_ENTITY, "unsupported"),
        ErrorKind::MissingTool => (StatusCode::INTERNAL_SERVER_ERROR, "missing_tool"),
        ErrorKind::Busy => (StatusCode::CONFLICT, "busy"),
        ErrorKind::Failed => (StatusCode::INTERNAL_SERVER_ERROR, "failed"),
        ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

impl From<populous_engine::Error> for ApiError {
    fn from(e: populous_engine::Error) -> Self {
        let (status, code) = status_of(e.kind());
        ApiError::new(status, code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<populous_db::volume::VolumeDbError> for ApiError {
    fn from(e: populous_db::volume::VolumeDbError) -> Self {
        use populous_db::volume::VolumeDbError;
        match e {
            VolumeDbError::Engine(e) => e.into(),
            VolumeDbError::Db(e @ populous_db::DbError::NotADatadir { .. }) => {
                ApiError::new(StatusCode::CONFLICT, "wrong_state", e.to_string())
            }
            VolumeDbError::Db(e @ populous_db::DbError::NotInstalled { .. }) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "missing_tool",
                e.to_string(),
            ),
            VolumeDbError::Db(e) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "database", e.to_string())
            }
        }
    }
}
