//! File uploads with progress: `fetch` cannot report how much of a request body was sent, so
//! bill uploads go through `XMLHttpRequest`.

use js_sys::Promise;
use nimbus_api_types::{ErrorBody, ErrorCode};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_futures::JsFuture;
use web_sys::{File, FormData, ProgressEvent, XmlHttpRequest};

use crate::api::{self, ApiError};

/// What the server answered: its status and JSON body.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    /// The API error of a failed answer.
    #[must_use]
    pub fn error(&self) -> (ApiError, Option<serde_json::Value>) {
        match serde_json::from_str::<ErrorBody>(&self.body) {
            Ok(body) => (
                ApiError {
                    code: Some(body.error.code),
                    message: body.error.message,
                },
                body.error.details,
            ),
            Err(_) => (
                ApiError {
                    code: Some(ErrorCode::for_status(self.status)),
                    message: format!("the server answered {}", self.status),
                },
                None,
            ),
        }
    }
}

/// `POST`s `file` as the form field `file` to `path`, calling `sent` with the fraction of the
/// file sent so far.
pub async fn post_file(
    path: &str,
    file: &File,
    sent: impl Fn(f64) + 'static,
) -> Result<Answer, ApiError> {
    let failed = |what: &str| ApiError {
        code: None,
        message: what.to_owned(),
    };
    let form = FormData::new().map_err(|_| failed("cannot build the upload form"))?;
    form.append_with_blob_and_filename("file", file, &file.name())
        .map_err(|_| failed("cannot read the file"))?;
    let request = XmlHttpRequest::new().map_err(|_| failed("cannot start the upload"))?;
    request
        .open("POST", path)
        .map_err(|_| failed("cannot start the upload"))?;
    if let Some(token) = api::csrf_token() {
        request
            .set_request_header("X-CSRF-Token", &token)
            .map_err(|_| failed("cannot start the upload"))?;
    }
    let on_progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |event: ProgressEvent| {
        if event.length_computable() && event.total() > 0.0 {
            sent(event.loaded() / event.total());
        }
    });
    if let Ok(upload) = request.upload() {
        upload.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
    }
    let finished = Promise::new(&mut |resolve, reject| {
        request.set_onload(Some(&resolve));
        request.set_onerror(Some(&reject));
        request.set_onabort(Some(&reject));
    });
    request
        .send_with_opt_form_data(Some(&form))
        .map_err(|_| failed("the upload could not be sent"))?;
    let outcome = JsFuture::from(finished).await;
    // The handler must outlive the request; it may go now.
    drop(on_progress);
    outcome.map_err(|_| failed("the upload was interrupted"))?;
    Ok(Answer {
        status: request.status().unwrap_or_default(),
        body: request.response_text().ok().flatten().unwrap_or_default(),
    })
}
