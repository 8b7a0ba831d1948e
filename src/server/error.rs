//! The API's errors: one JSON shape, `{"error": {"code", "message", "help"}}`, and a status
//! decided from the use case's error kind, the same kinds that decide the CLI's exit codes: a
//! name or revision that is not stored is 404, an input the CLI refuses (exit 1) is 400 or
//! 409, trouble on the server's side (exit 2) is 500. A refused spec is not an error document
//! but its diagnostics document (422), as `envc check --format json` prints it.

use crate::ops;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub help: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            help: None,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> ApiError {
        self.help = Some(help.into());
        self
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<ops::Error> for ApiError {
    fn from(e: ops::Error) -> ApiError {
        use crate::store::Error as S;
        let message = e.to_string();
        match &e {
            ops::Error::NameNotFound { .. }
            | ops::Error::Store(S::NameNotFound { .. } | S::RevisionNotFound { .. }) => {
                ApiError::not_found(message)
                    .help("GET /v1/environments lists the environments the store holds")
            }
            ops::Error::Name(_) | ops::Error::Identifier(_) => ApiError::bad_request(message),
            ops::Error::Store(S::Changed { .. }) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            _ if e.exit_code() == ops::EXIT_NO => {
                ApiError::new(StatusCode::CONFLICT, "refused", message)
            }
            _ => ApiError::internal(message),
        }
    }
}

impl From<crate::store::Error> for ApiError {
    fn from(e: crate::store::Error) -> ApiError {
        ops::Error::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = serde_json::json!({"code": self.code, "message": self.message});
        if let Some(help) = self.help {
            error["help"] = help.into();
        }
        let body = format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({ "error": error }))
                .expect("a JSON value serialises")
        );
        (
            self.status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}
