//! The real [`Model`]: a `provider/model` string routed to its API, called over HTTPS
//! with the profile's key, its stream decoded into events as the bytes arrive.

use std::io::Read;
use std::sync::OnceLock;
use std::time::Duration;

use crate::json::Value;

use super::provider::{self, ChatRequest, Event, Route, pricing};
use super::turn::{Cancel, Model, ModelError};
use crate::net::http::{Client, HttpError, Request, Timeouts};
use crate::profile::dotenv::DotEnv;

/// Error bodies quoted in messages are read up to this size.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// A model reached over HTTP(S).
pub struct HttpModel {
    name: String,
    route: Route,
    key: Option<String>,
    client: Client,
    timeouts: Timeouts,
    pricing: Option<Value>,
    /// Ollama models are asked for their window (`/api/show`), once.
    ollama: bool,
    window: OnceLock<usize>,
}

impl HttpModel {
    /// Routes `model` with the config's `providers` and `pricing` sections and looks up
    /// its key (process environment first, then the profile's `.env`), where a built-in
    /// provider's `<PROVIDER>_BASE_URL` (e.g. `ANTHROPIC_BASE_URL`) may also point it at
    /// a gateway or proxy.
    pub fn new(
        model: &str,
        providers: Option<&Value>,
        pricing: Option<&Value>,
        env: &DotEnv,
    ) -> Result<Self, String> {
        let mut route = provider::route(model, providers).map_err(|e| e.to_string())?;
        if let Some(base) = provider::builtin_base_url_var(&route).and_then(|var| env.get(&var)) {
            route.base_url = base.trim_end_matches('/').to_owned();
        }
        let key = match &route.key_env {
            Some(var) => Some(env.get(var).ok_or_else(|| {
                format!(
                    "{} needs {var}: put {var}=… in ~/.alpi/.env or run alpi setup",
                    provider::provider_label(&route)
                )
            })?),
            None => None,
        };
        let client = Client::new().map_err(|e| e.to_string())?;
        Ok(Self {
            name: model.to_owned(),
            ollama: provider::is_ollama(providers, &route.provider),
            route,
            key,
            client,
            timeouts: Timeouts::default(),
            pricing: pricing.cloned(),
            window: OnceLock::new(),
        })
    }

    /// Overrides the timeouts (config `runtime.*`).
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Uses this HTTP client (tests: a private CA).
    pub fn with_client(mut self, client: Client) -> Self {
        self.client = client;
        self
    }

    pub fn route(&self) -> &Route {
        &self.route
    }

    /// The context length Ollama serves the model with; its default when it won't say.
    fn ollama_window(&self) -> usize {
        const OLLAMA_DEFAULT: usize = 4_096;
        let (url, headers, body) = provider::ollama::show_request(&self.route);
        let request = Request { method: "POST", url: &url, headers, body };
        let quick = Timeouts { first_byte: Duration::from_secs(10), ..Timeouts::default() };
        let response = self.client.send(&request, &quick).ok().filter(|r| r.status == 200);
        let body = response.and_then(|r| r.bytes(1 << 20).ok()).unwrap_or_default();
        let length = provider::ollama::context_length(&body).ok().flatten();
        length.map_or(OLLAMA_DEFAULT, |n| n as usize)
    }

    fn transport_error(&self, e: HttpError) -> ModelError {
        ModelError { message: format!("{}: {e}", provider::provider_label(&self.route)), retryable: true }
    }
}

impl Model for HttpModel {
    fn complete(
        &self,
        req: &ChatRequest,
        cancel: &Cancel,
        on_event: &mut dyn FnMut(&Event) -> bool,
    ) -> Result<(), ModelError> {
        let timeouts = Timeouts { cancel: Some(cancel.clone()), ..self.timeouts.clone() };
        let req = ChatRequest { model: self.route.model.clone(), ..req.clone() };
        let (path, headers, body) = self.route.api.request(&req, &self.route, self.key.as_deref());
        let url = format!("{}{path}", self.route.base_url);
        let request = Request { method: "POST", url: &url, headers, body };
        let response = self.client.send(&request, &timeouts).map_err(|e| self.transport_error(e))?;
        if response.status != 200 {
            let status = response.status;
            let body = response.bytes(ERROR_BODY_LIMIT).unwrap_or_default();
            let message = provider::error_message(status, &body, &self.route);
            let message = super::redact::redact_known(&message, &[self.key.as_deref().unwrap_or_default()]);
            return Err(ModelError { message, retryable: status == 429 || status >= 500 });
        }
        let mut decoder = self.route.api.stream_decoder();
        let mut reader = response.into_reader();
        let mut buf = vec![0u8; 16 * 1024];
        let wire =
            |e: provider::WireError| ModelError { message: format!("{}: {e}", self.name), retryable: false };
        loop {
            let n = reader.read(&mut buf).map_err(|e| self.transport_error(HttpError::from(e)))?;
            let events = if n == 0 {
                decoder.finish().map_err(wire)?
            } else {
                decoder.feed(&buf[..n]).map_err(wire)?
            };
            for event in &events {
                if !on_event(event) {
                    return Ok(());
                }
            }
            if n == 0 {
                return Ok(());
            }
        }
    }

    fn cost(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        pricing::cost_usd(&self.route, self.pricing.as_ref(), input_tokens, output_tokens).unwrap_or(0.0)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn context_window(&self) -> usize {
        *self.window.get_or_init(|| match self.ollama {
            true => self.ollama_window(),
            false => provider::context_window(&self.route.model),
        })
    }
}
