//! Ollama's native `POST /api/show`, for one thing: the context length the served model
//! runs with. Chat itself goes through Ollama's OpenAI-compatible `/v1` (see `openai`).

use super::{Route, WireError, header};
use crate::json::{self, Object, Value};

/// The show request for `route`'s model, as a full URL (the native API lives beside
/// the `/v1` base URL, not under it), headers and body.
pub fn show_request(route: &Route) -> (String, Vec<(String, String)>, Vec<u8>) {
    let root = route.base_url.strip_suffix("/v1").unwrap_or(&route.base_url);
    let body = Value::from(Object::new().with("model", route.model.as_str())).wire();
    (format!("{root}/api/show"), vec![header("content-type", "application/json")], body)
}

/// The context window from a show response: the Modelfile's `num_ctx` capped at the
/// model's trained `<arch>.context_length` (Ollama caps it too), or whichever is given.
/// `None` when the response names neither.
pub fn context_length(body: &[u8]) -> Result<Option<u64>, WireError> {
    let show = json::parse(body)?;
    let trained = show.get("model_info").and_then(trained_length);
    let configured = show.get("parameters").and_then(Value::as_str).and_then(num_ctx);
    Ok(match (configured, trained) {
        (Some(c), Some(t)) => Some(c.min(t)),
        (c, t) => c.or(t),
    })
}

/// `<general.architecture>.context_length`, else any `*.context_length` key.
fn trained_length(info: &Value) -> Option<u64> {
    let arch = info.get("general.architecture").and_then(Value::as_str);
    let exact = arch.and_then(|a| info.get(&format!("{a}.context_length"))?.as_u64());
    let any = || {
        let fields = info.as_object()?.iter();
        fields.filter(|(k, _)| k.ends_with(".context_length")).find_map(|(_, v)| v.as_u64())
    };
    exact.or_else(any).filter(|&n| n > 0)
}

/// `parameters` is Modelfile text, one `name value` per line: "num_ctx    8192".
fn num_ctx(parameters: &str) -> Option<u64> {
    parameters.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some("num_ctx")).then(|| words.next()?.parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::provider::route;

    #[test]
    fn show_goes_beside_v1() {
        let providers = crate::yaml::parse(b"ollama: [{name: home, url: 'http://10.0.0.2:11434'}]").unwrap();
        let r = route("home/qwen3:8b", Some(&providers)).unwrap();
        let (url, headers, body) = show_request(&r);
        assert_eq!(url, "http://10.0.0.2:11434/api/show");
        assert_eq!(headers, vec![("content-type".into(), "application/json".into())]);
        assert_eq!(body, br#"{"model":"qwen3:8b"}"#);
    }

    #[test]
    fn either_source_alone_and_the_smaller_of_both() {
        let length = |text: &str| context_length(text.as_bytes()).unwrap();
        assert_eq!(
            length(r#"{"model_info":{"general.architecture":"qwen3","qwen3.context_length":40960}}"#),
            Some(40960)
        );
        assert_eq!(length(r#"{"model_info":{"x.context_length":2048}}"#), Some(2048));
        assert_eq!(length(r#"{"parameters":"stop \"<|im_end|>\"\nnum_ctx 8192"}"#), Some(8192));
        assert_eq!(
            length(r#"{"parameters":"num_ctx 65536","model_info":{"a.context_length":32768}}"#),
            Some(32768)
        );
        assert_eq!(length(r#"{"parameters":"temperature 0.7","model_info":{}}"#), None);
        assert!(context_length(b"not json").is_err());
    }
}
