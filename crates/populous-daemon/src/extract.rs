//! The REST API's extractors: the caller behind the bearer token, and path,
//! query and body extractors whose rejections are the API's JSON errors
//! rather than axum's plain text, so every answer has the documented shape.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::Json;
use populous_engine::{Name, TokenInfo, VolumeInfo};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::Daemon;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller(pub TokenInfo);

impl Caller {
    pub(crate) fn actor(&self) -> String {
        format!("token:{}", self.0.name)
    }
    /// 404 unless the token may read `folder`: a folder it does not cover
    /// answers exactly like one that does not exist.
    pub(crate) fn read(&self, folder: &Name) -> Result<(), ApiError> {
        if self.0.can_read(folder.as_str()) {
            Ok(())
        } else {
            Err(ApiError::invisible(folder.as_str()))
        }
    }
    /// As [`Caller::read`], then 403 unless the token may also change `folder`.
    pub(crate) fn write(&self, folder: &Name) -> Result<(), ApiError> {
        self.read(folder)?;
        if self.0.can_write(folder.as_str()) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "token {} may read folder {folder} but not change it",
                    self.0.name
                ),
            ))
        }
    }
    /// Whether names in `folder` may appear in an answer to this caller.
    pub(crate) fn sees(&self, folder: &str) -> bool {
        self.0.can_read(folder)
    }
    /// `v` as this caller may see it: names in other folders hidden.
    pub(crate) fn shown(&self, mut v: VolumeInfo) -> VolumeInfo {
        v.redact(|f| self.sees(f));
        v
    }
    pub(crate) fn admin(&self) -> Result<(), ApiError> {
        if self.0.admin {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this needs an admin token (`populous token create NAME --admin`)",
            ))
        }
    }
}

impl FromRequestParts<Arc<Daemon>> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, d: &Arc<Daemon>) -> Result<Self, ApiError> {
        let secret = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Caller(d.authenticate(secret.to_owned()).await?))
    }
}

/// The secret of an `Authorization: Bearer <secret>` value. The scheme is
/// case-insensitive (RFC 9110 §11.1): `bearer x` is the same credential.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, secret) = value.trim().split_once(' ')?;
    let secret = secret.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !secret.is_empty()).then_some(secret)
}

/// A query string whose rejections are API errors (400 `invalid_input`), not axum's plain text.
#[derive(Debug)]
pub struct Q<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Q(v)),
            Err(rej) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_input",
                format!("invalid query string: {}", rej.body_text()),
            )),
        }
    }
}

/// Path parameters whose rejections (bad percent-encoding, not UTF-8) are API errors.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(rej) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_input",
                format!("invalid path: {}", rej.body_text()),
            )),
        }
    }
}

/// A JSON body whose rejections are API errors (400 malformed, 413 too large, 415 wrong type).
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let invalid = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", m);
        let value = match Json::<serde_json::Value>::from_request(req, state).await {
            Ok(Json(v)) => v,
            Err(rej) => return Err(json_rejection(&rej)),
        };
        // Serde also fills a struct from an array (`[null, null]`): every body
        // of this API is an object, and anything else is refused.
        if !value.is_object() {
            return Err(invalid(
                "invalid request body: expected a JSON object".to_owned(),
            ));
        }
        serde_json::from_value(value)
            .map(Body)
            .map_err(|e| invalid(format!("invalid request body: {e}")))
    }
}

fn json_rejection(rej: &JsonRejection) -> ApiError {
    let status = rej.status();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "invalid_json",
    };
    // Axum answers 422 for JSON of the wrong shape; the API calls all of it a bad request.
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    ApiError::new(
        status,
        code,
        format!("invalid request body: {}", rej.body_text()),
    )
}
