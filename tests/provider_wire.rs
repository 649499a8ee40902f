//! Provider wire formats: recorded streams (tests/vectors/providers) decode to the same
//! events whole, byte by byte and in random splits; request bodies have the exact shape
//! each API wants; model strings route; failed responses and prices read right.

use std::fs;
use std::path::Path;

use alpi::agent::provider::pricing::{cost_usd, is_self_hosted, price, route_price};
use alpi::agent::provider::{
    Api, ChatRequest, Event, Message, Route, StreamDecoder, ToolCall, ToolSpec, WireError, anthropic,
    error_message, ollama, openai, route,
};
use alpi::json::{Value, parse};

fn fixture(name: &str) -> Vec<u8> {
    fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/providers").join(name)).unwrap()
}

/// xorshift64*: reproducible split points without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

fn decode<'a>(api: Api, pieces: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<Event>, WireError> {
    let mut decoder = api.stream_decoder();
    let mut events = Vec::new();
    for piece in pieces {
        events.extend(decoder.feed(piece)?);
    }
    events.extend(decoder.finish()?);
    Ok(events)
}

/// Pieces of 1..=max bytes, cut anywhere (mid-line, mid-`\r\n`, mid-UTF-8).
fn random_pieces(bytes: &[u8], seed: u64, max: usize) -> Vec<&[u8]> {
    let (mut rng, mut rest, mut pieces) = (Rng(seed), bytes, Vec::new());
    while !rest.is_empty() {
        let (piece, tail) = rest.split_at((1 + rng.below(max)).min(rest.len()));
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// The events of `bytes` fed whole, which every other split must reproduce.
fn decode_every_way(api: Api, bytes: &[u8]) -> Vec<Event> {
    let whole = decode(api, [bytes]).unwrap();
    assert_eq!(decode(api, bytes.chunks(1)).unwrap(), whole, "byte by byte");
    for seed in 1..=40u64 {
        let max = [2, 7, 31, 300][seed as usize % 4];
        assert_eq!(decode(api, random_pieces(bytes, seed, max)).unwrap(), whole, "seed {seed}");
    }
    // The same stream with \r\n and with bare \r line ends (no raw newlines inside JSON).
    for ending in ["\r\n", "\r"] {
        let text = String::from_utf8(bytes.to_vec()).unwrap().replace('\n', ending);
        assert_eq!(decode(api, [text.as_bytes()]).unwrap(), whole, "{ending:?}");
        assert_eq!(decode(api, text.as_bytes().chunks(1)).unwrap(), whole, "{ending:?} byte by byte");
        assert_eq!(decode(api, random_pieces(text.as_bytes(), 7, 5)).unwrap(), whole, "{ending:?} split");
    }
    whole
}

fn text(s: &str) -> Event {
    Event::TextDelta(s.into())
}

fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall { id: id.into(), name: name.into(), arguments: arguments.into() }
}

fn usage(input_tokens: u64, output_tokens: u64) -> Event {
    Event::Usage { input_tokens, output_tokens }
}

fn done(stop_reason: &str) -> Event {
    Event::Done { stop_reason: stop_reason.into() }
}

fn error(message: &str) -> Event {
    Event::Error { message: message.into() }
}

// --- streams ---

#[test]
fn openai_stream_with_text_and_two_split_tool_calls() {
    let events = decode_every_way(Api::OpenAi, &fixture("openai_stream_tools.sse"));
    let zurich =
        call("call_Qm1dX8vK2pL0aB7cN4eR9sT3", "get_weather", r#"{"city":"Zürich","unit":"celsius"}"#);
    let krakow =
        call("call_Rt2fY6wJ8hM5qZ1xV0bU7kP4", "get_weather", r#"{"city": "Kraków", "unit": "celsius"}"#);
    let expected = vec![
        text("Checking"),
        text(" the weather"),
        text(" in Zürich"),
        text(" and Kraków"),
        text(" 🌦…"),
        Event::ToolCall(zurich),
        Event::ToolCall(krakow),
        usage(82, 64),
        done("tool_calls"),
    ];
    assert_eq!(events, expected);
    for event in &events {
        if let Event::ToolCall(c) = event {
            assert!(parse(c.arguments.as_bytes()).unwrap().as_object().is_some(), "{c:?}");
        }
    }
}

#[test]
fn openai_stream_with_an_error_object() {
    let events = decode_every_way(Api::OpenAi, &fixture("openai_stream_error.sse"));
    assert_eq!(
        events,
        vec![text("Here is"), text(" the first part"), error("Provider disconnected unexpectedly")]
    );
}

#[test]
fn anthropic_stream_with_text_and_a_split_tool_use() {
    let events = decode_every_way(Api::Anthropic, &fixture("anthropic_stream_tools.sse"));
    let tool = call(
        "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
        "get_weather",
        r#"{"location": "Zürich, CH", "unit": "celsius"}"#,
    );
    let expected = vec![
        text("Okay"),
        text(", let me check the weather in "),
        text("Zürich — one moment"),
        text(" 🌤"),
        Event::ToolCall(tool),
        usage(472, 89),
        done("tool_use"),
    ];
    assert_eq!(events, expected);
}

#[test]
fn anthropic_stream_with_an_error_event() {
    let events = decode_every_way(Api::Anthropic, &fixture("anthropic_stream_error.sse"));
    assert_eq!(events, vec![text("Let me"), error("Overloaded (overloaded_error)")]);
}

#[test]
fn streams_cut_short_are_errors_not_silent_ends() {
    for (api, name) in
        [(Api::OpenAi, "openai_stream_tools.sse"), (Api::Anthropic, "anthropic_stream_tools.sse")]
    {
        let bytes = fixture(name);
        let mut rng = Rng(99);
        for _ in 0..50 {
            // Anywhere before the finish: the decoder must not invent a clean ending.
            let cut = rng.below(bytes.len() * 3 / 4);
            assert!(decode(api, [&bytes[..cut]]).is_err(), "{name} cut at {cut}");
        }
    }
}

#[test]
fn an_over_long_line_is_refused() {
    let mut decoder = openai::Decoder::new();
    let mut line = b"data: ".to_vec();
    line.resize(alpi::agent::provider::sse::MAX_LINE + 1, b'x');
    assert!(matches!(decoder.feed(&line), Err(WireError::LineTooLong(_))));
}

// --- whole responses ---

#[test]
fn non_streamed_responses_decode_to_the_same_kind_of_events() {
    let read = call("call_Ab3dEf6hIj9kLm2nOp5qRs8t", "read_file", r#"{"path":"notes/todo.md"}"#);
    assert_eq!(
        openai::decode_full(&fixture("openai_full.json")).unwrap(),
        vec![Event::ToolCall(read), usage(120, 18), done("tool_calls")]
    );
    let read = call("toolu_01D7FLrfh4GYq7yT1ULFeyMV", "read_file", r#"{"path":"notes/todo.md"}"#);
    assert_eq!(
        Api::Anthropic.decode_full(&fixture("anthropic_full.json")).unwrap(),
        vec![text("I will read the file."), Event::ToolCall(read), usage(210, 54), done("tool_use")]
    );
    let plain =
        br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"Hi!"},"finish_reason":"stop"}]}"#;
    assert_eq!(openai::decode_full(plain).unwrap(), vec![text("Hi!"), done("stop")]);
}

#[test]
fn non_streamed_errors_and_malformed_bodies() {
    let body =
        br#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: required"}}"#;
    assert_eq!(
        anthropic::decode_full(body).unwrap(),
        vec![error("max_tokens: required (invalid_request_error)")]
    );
    let body = br#"{"error":{"message":"boom","type":"server_error","param":null,"code":null}}"#;
    assert_eq!(openai::decode_full(body).unwrap(), vec![error("boom (server_error)")]);
    assert!(matches!(openai::decode_full(b"{\"choices\":[]}"), Err(WireError::Shape("choices"))));
    assert!(matches!(anthropic::decode_full(b"{}"), Err(WireError::Shape("content"))));
    assert!(matches!(openai::decode_full(b"<html>"), Err(WireError::Json(_))));
}

// --- requests ---

fn weather_tool() -> ToolSpec {
    let schema = br#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#;
    ToolSpec {
        name: "get_weather".into(),
        description: "Weather now".into(),
        parameters: parse(schema).unwrap(),
    }
}

fn conversation(stream: bool) -> ChatRequest {
    let calls =
        vec![call("c1", "get_weather", r#"{"city":"Zürich"}"#), call("c2", "get_weather", "{\"city\":")];
    ChatRequest {
        model: "some-model".into(),
        system: "Be brief.".into(),
        messages: vec![
            Message::user("Weather in Zürich and Kraków?"),
            Message::assistant("Checking.", calls),
            Message::tool_result("c1", "12°C, rain"),
            Message::tool_result("c2", "bad arguments"),
            Message::user("Thanks"),
            Message::system("Answer in German."),
            Message::assistant("", vec![]),
            Message::assistant("Bitte.", vec![]),
            Message::assistant("", vec![call("c3", "now", "")]),
        ],
        tools: vec![
            weather_tool(),
            ToolSpec { name: "now".into(), description: "Time".into(), parameters: Value::Null },
        ],
        max_tokens: Some(512),
        temperature: Some(0.2),
        stream,
    }
}

fn route_of(model: &str) -> Route {
    route(model, None).unwrap()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn body_of(bytes: &[u8]) -> Value {
    parse(bytes).unwrap()
}

#[test]
fn openai_request_shape() {
    let (path, headers, body) = openai::request(&conversation(true), &route_of("groq/x"), Some("gsk_k"));
    assert_eq!(path, "/chat/completions");
    assert_eq!(headers, owned(&[("content-type", "application/json"), ("authorization", "Bearer gsk_k")]));
    let expected = r#"{
        "model": "some-model",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Zürich and Kraków?"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Zürich\"}"}},
                {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":"}}
            ]},
            {"role": "tool", "content": "12°C, rain", "tool_call_id": "c1"},
            {"role": "tool", "content": "bad arguments", "tool_call_id": "c2"},
            {"role": "user", "content": "Thanks"},
            {"role": "system", "content": "Answer in German."},
            {"role": "assistant", "content": ""},
            {"role": "assistant", "content": "Bitte."},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c3", "type": "function", "function": {"name": "now", "arguments": ""}}
            ]}
        ],
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "Weather now",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
            {"type": "function", "function": {"name": "now", "description": "Time",
                "parameters": {"type": "object", "properties": {}}}}
        ],
        "stream": true,
        "stream_options": {"include_usage": true},
        "max_tokens": 512,
        "temperature": 0.2
    }"#;
    assert_eq!(body_of(&body), body_of(expected.as_bytes()));
}

#[test]
fn openai_request_variants() {
    let req = ChatRequest {
        model: "gpt-4o-mini".into(),
        messages: vec![Message::user("hi")],
        ..Default::default()
    };
    let (_, headers, body) = Api::OpenAi.request(&req, &route_of("openai/gpt-4o-mini"), None);
    assert_eq!(headers, owned(&[("content-type", "application/json")]), "no key, no authorization");
    let expected = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":false}"#;
    assert_eq!(body, expected.as_bytes(), "no system, tools, stream_options or options when unset");
    let req = ChatRequest { max_tokens: Some(100), ..req };
    let body = body_of(&openai::request(&req, &route_of("openai/o4-mini"), None).2);
    assert_eq!(body.get("max_completion_tokens").and_then(Value::as_u64), Some(100), "OpenAI's own API");
    assert!(body.get("max_tokens").is_none());
}

#[test]
fn anthropic_request_shape() {
    let route = route_of("anthropic/claude-sonnet-4-5");
    let req = ChatRequest { max_tokens: None, ..conversation(false) };
    let (path, headers, body) = anthropic::request(&req, &route, Some("sk-ant-k"));
    assert_eq!(path, "/messages");
    let expected_headers = [
        ("content-type", "application/json"),
        ("anthropic-version", "2023-06-01"),
        ("x-api-key", "sk-ant-k"),
    ];
    assert_eq!(headers, owned(&expected_headers));
    let expected = r#"{
        "model": "some-model",
        "system": "Be brief.\n\nAnswer in German.",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Weather in Zürich and Kraków?"}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "c1", "name": "get_weather", "input": {"city": "Zürich"}},
                {"type": "tool_use", "id": "c2", "name": "get_weather", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "c1", "content": "12°C, rain"},
                {"type": "tool_result", "tool_use_id": "c2", "content": "bad arguments"},
                {"type": "text", "text": "Thanks"}
            ]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Bitte."},
                {"type": "tool_use", "id": "c3", "name": "now", "input": {}}
            ]}
        ],
        "tools": [
            {"name": "get_weather", "description": "Weather now",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
            {"name": "now", "description": "Time", "input_schema": {"type": "object", "properties": {}}}
        ],
        "max_tokens": 4096,
        "temperature": 0.2,
        "stream": false
    }"#;
    assert_eq!(body_of(&body), body_of(expected.as_bytes()));
}

#[test]
fn anthropic_request_minimal_and_streaming() {
    let req = ChatRequest {
        model: "claude-haiku-4-5".into(),
        messages: vec![Message::user("hi"), Message::user("again")],
        max_tokens: Some(64),
        stream: true,
        ..Default::default()
    };
    let (_, headers, body) = Api::Anthropic.request(&req, &route_of("anthropic/claude-haiku-4-5"), None);
    assert!(headers.iter().all(|(k, _)| k != "x-api-key"));
    let expected = concat!(
        r#"{"model":"claude-haiku-4-5","messages":[{"role":"user","content":[{"type":"text","text":"hi"},"#,
        r#"{"type":"text","text":"again"}]}],"max_tokens":64,"stream":true}"#
    );
    assert_eq!(String::from_utf8(body).unwrap(), expected);
}

// --- routing ---

fn providers() -> Value {
    alpi::yaml::parse(
        b"ollama:\n  - {name: home, url: 'http://localhost:11434/'}\n  - {name: pi, url: 'http://192.168.1.20:11434'}\n\
         custom:\n  - {name: together, base_url: 'https://api.together.xyz/v1/', api_key_env: TOGETHER_API_KEY}\n  \
         - {name: lms, base_url: 'http://127.0.0.1:1234/v1'}\n  - {name: broken}\n",
    )
    .unwrap()
}

fn expect_route(model: &str, api: Api, base_url: &str, id: &str, key_env: Option<&str>, provider: &str) {
    let p = providers();
    let r = route(model, Some(&p)).unwrap();
    let key_env = key_env.map(String::from);
    let want = Route { api, base_url: base_url.into(), model: id.into(), key_env, provider: provider.into() };
    assert_eq!(r, want, "{model}");
}

#[test]
fn every_model_string_form_routes() {
    use Api::{Anthropic, OpenAi};
    let cases = [
        ("anthropic/claude-sonnet-4-5", Anthropic, "https://api.anthropic.com/v1", "claude-sonnet-4-5"),
        ("openai/gpt-4o-mini", OpenAi, "https://api.openai.com/v1", "gpt-4o-mini"),
        (
            "openrouter/anthropic/claude-sonnet-4",
            OpenAi,
            "https://openrouter.ai/api/v1",
            "anthropic/claude-sonnet-4",
        ),
        ("groq/llama-3.3-70b-versatile", OpenAi, "https://api.groq.com/openai/v1", "llama-3.3-70b-versatile"),
        (
            "gemini/gemini-2.5-flash",
            OpenAi,
            "https://generativelanguage.googleapis.com/v1beta/openai",
            "gemini-2.5-flash",
        ),
    ];
    let keys =
        ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY", "GROQ_API_KEY", "GOOGLE_API_KEY"];
    for ((model, api, base, id), key) in cases.into_iter().zip(keys) {
        expect_route(model, api, base, id, Some(key), model.split('/').next().unwrap());
    }
    expect_route("home/llama3.2:3b", OpenAi, "http://localhost:11434/v1", "llama3.2:3b", None, "home");
    expect_route("pi/qwen3:8b", OpenAi, "http://192.168.1.20:11434/v1", "qwen3:8b", None, "pi");
    let together = "meta-llama/Llama-3.3-70B-Instruct-Turbo";
    let base = "https://api.together.xyz/v1";
    expect_route(
        &format!("together/{together}"),
        OpenAi,
        base,
        together,
        Some("TOGETHER_API_KEY"),
        "together",
    );
    expect_route(
        "lms/qwen2.5-7b-instruct",
        OpenAi,
        "http://127.0.0.1:1234/v1",
        "qwen2.5-7b-instruct",
        None,
        "lms",
    );
}

#[test]
fn bad_model_strings_are_explained() {
    let p = providers();
    let unknown = route("foo/bar", Some(&p)).unwrap_err().to_string();
    assert_eq!(
        unknown,
        "unknown provider 'foo' in model 'foo/bar' — use anthropic/, openai/, openrouter/, groq/, gemini/ \
         or a name from providers.ollama / providers.custom"
    );
    assert!(
        matches!(route("home/llama3", None), Err(WireError::UnknownProvider { .. })),
        "no config, no ollama"
    );
    for bad in ["gpt-4o", "openai/", "/gpt-4o", ""] {
        let message = route(bad, None).unwrap_err().to_string();
        assert_eq!(message, format!("model '{bad}' is not provider/model — e.g. openai/gpt-4o-mini"));
    }
    assert_eq!(
        route("broken/m", Some(&p)).unwrap_err().to_string(),
        "providers.custom entry 'broken' has no base_url — add it in config.yaml"
    );
}

// --- failed responses ---

#[test]
fn error_lines_name_provider_status_and_remedy() {
    let p = providers();
    let openai = route_of("openai/gpt-4o-mini");
    let body = br#"{"error":{"message":"Incorrect API key provided: sk-abc***xyz.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
    assert_eq!(
        openai::error_message(401, body, &openai),
        "OpenAI returned HTTP 401: Incorrect API key provided: sk-abc***xyz. (invalid_request_error) — \
         set OPENAI_API_KEY in ~/.alpi/.env or run alpi setup"
    );
    let claude = route_of("anthropic/claude-sonnet-9");
    let body = br#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-sonnet-9"}}"#;
    assert_eq!(
        anthropic::error_message(404, body, &claude),
        "Anthropic returned HTTP 404: model: claude-sonnet-9 (not_found_error) — check the model id 'claude-sonnet-9'"
    );
    let body = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    assert_eq!(
        error_message(529, body, &claude),
        "Anthropic returned HTTP 529: Overloaded (overloaded_error) — provider error — retry later"
    );
    let body = br#"{"error":{"message":"Rate limit reached for model `llama-3.3-70b-versatile`","type":"tokens","code":"rate_limit_exceeded"}}"#;
    assert!(
        error_message(429, body, &route_of("groq/llama-3.3-70b-versatile"))
            .starts_with("Groq returned HTTP 429: Rate limit reached")
    );
    assert!(
        error_message(429, b"", &openai)
            .ends_with("— rate limited — wait a moment and retry, or check the plan's limits")
    );
    assert_eq!(
        error_message(403, b"", &route_of("gemini/gemini-2.5-pro")),
        "Gemini returned HTTP 403 — set GOOGLE_API_KEY in ~/.alpi/.env or run alpi setup"
    );
    assert_eq!(
        error_message(502, b"<html><body>Bad gateway</body></html>", &route_of("openrouter/x/y")),
        "OpenRouter returned HTTP 502 — provider error — retry later"
    );
    let body = br#"{"error":{"message":"Insufficient credits","code":402}}"#;
    assert!(
        error_message(402, body, &route_of("openrouter/x/y"))
            .ends_with("out of credits — top it up with the provider")
    );
    let home = route("home/llama9", Some(&p)).unwrap();
    assert_eq!(
        error_message(404, br#"{"error":"model \"llama9\" not found, try pulling it first"}"#, &home),
        "home returned HTTP 404: model \"llama9\" not found, try pulling it first — check the model id 'llama9' \
         and the base URL http://localhost:11434/v1"
    );
    let lms = route("lms/m", Some(&p)).unwrap();
    assert_eq!(
        error_message(401, b"", &lms),
        "lms returned HTTP 401 — the server at http://127.0.0.1:1234/v1 refused access — check its settings"
    );
}

// --- Ollama ---

#[test]
fn ollama_show_gives_the_context_length() {
    assert_eq!(ollama::context_length(&fixture("ollama_show.json")).unwrap(), Some(8192));
    assert_eq!(ollama::context_length(&fixture("ollama_show_default.json")).unwrap(), Some(40960));
    assert_eq!(ollama::context_length(b"{}").unwrap(), None);
    let p = providers();
    let (url, _, body) = ollama::show_request(&route("pi/qwen3:8b", Some(&p)).unwrap());
    assert_eq!(
        (url.as_str(), body.as_slice()),
        ("http://192.168.1.20:11434/api/show", &br#"{"model":"qwen3:8b"}"#[..])
    );
}

// --- pricing ---

#[test]
fn built_in_prices() {
    let cases = [
        ("openai/gpt-4o-mini", Some((0.15, 0.60))),
        ("openai/gpt-4o-2024-11-20", Some((2.50, 10.00))),
        ("openai/gpt-4.1-nano", Some((0.10, 0.40))),
        ("openai/o4-mini", Some((1.10, 4.40))),
        ("anthropic/claude-sonnet-4-5-20250929", Some((3.00, 15.00))),
        ("anthropic/claude-opus-4-1-20250805", Some((15.00, 75.00))),
        ("anthropic/claude-haiku-4-5", Some((1.00, 5.00))),
        ("openrouter/anthropic/claude-sonnet-4.5", Some((3.00, 15.00))),
        ("openrouter/openai/gpt-4o-mini", Some((0.15, 0.60))),
        ("groq/llama-3.3-70b-versatile", Some((0.59, 0.79))),
        ("gemini/gemini-2.5-flash", Some((0.30, 2.50))),
        ("gemini/gemini-2.5-pro", Some((1.25, 10.00))),
        ("openai/o3-pro", None),
        ("groq/mystery-model", None),
    ];
    for (model, want) in cases {
        assert_eq!(price(model, None), want, "{model}");
    }
}

#[test]
fn overrides_and_self_hosted_servers() {
    let overrides = alpi::yaml::parse(
        b"openai/gpt-4o-mini: {input_per_mtok: 0.1, output_per_mtok: 0.5}\n\
         Llama-3.3-70B-Instruct-Turbo: {input_per_mtok: 0.88, output_per_mtok: 0.88}\n\
         lms/big: {input_per_mtok: 1, output_per_mtok: 2}\n\
         gemini/gemini-2.5-pro: {input_per_mtok: 1}\n",
    )
    .unwrap();
    let o = Some(&overrides);
    assert_eq!(price("openai/gpt-4o-mini", o), Some((0.1, 0.5)));
    assert_eq!(price("together/Llama-3.3-70B-Instruct-Turbo", o), Some((0.88, 0.88)), "bare id key");
    assert_eq!(price("gemini/gemini-2.5-pro", o), Some((1.25, 10.00)), "incomplete override ignored");

    let p = providers();
    let at = |model: &str| route(model, Some(&p)).unwrap();
    assert!(is_self_hosted(&at("pi/qwen3:8b")) && is_self_hosted(&at("lms/x")));
    assert!(!is_self_hosted(&at("together/x")) && !is_self_hosted(&at("openai/gpt-4o")));
    assert_eq!(route_price(&at("pi/qwen3:8b"), None), Some((0.0, 0.0)));
    assert_eq!(route_price(&at("lms/big"), o), Some((1.0, 2.0)), "an override beats free");
    assert_eq!(route_price(&at("together/mystery"), o), None);
    assert_eq!(cost_usd(&at("home/llama3.2"), o, 5_000_000, 1_000_000), Some(0.0));
    let cost = cost_usd(&at("anthropic/claude-sonnet-4-5"), o, 2_000_000, 100_000).unwrap();
    assert!((cost - 7.5).abs() < 1e-9, "{cost}");
    let cost = cost_usd(&at("openai/gpt-4o-mini"), o, 1_000_000, 1_000_000).unwrap();
    assert!((cost - 0.6).abs() < 1e-9, "{cost}");
}
