//! What tokens cost: a small built-in price table for common models, overridden per model
//! by the config's `pricing` section; self-hosted servers cost nothing.

use crate::json::Value;

use super::Route;

/// USD per million tokens (input, output) as the providers published them (2025; list
/// prices, no batch or cache discounts). They drift: `pricing:` in config.yaml overrides.
/// A model id matches its entry exactly or with a dated/versioned suffix
/// (`gpt-4o-2024-08-06`, `claude-sonnet-4-20250514`); the longest entry wins.
const TABLE: &[(&str, f64, f64)] = &[
    // OpenAI
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("o3", 2.00, 8.00),
    ("o3-mini", 1.10, 4.40),
    ("o4-mini", 1.10, 4.40),
    // Anthropic (OpenRouter's dotted ids, `claude-sonnet-4.5`, are matched as dashed)
    ("claude-opus-4", 15.00, 75.00),
    ("claude-opus-4-1", 15.00, 75.00),
    ("claude-opus-4-5", 5.00, 25.00),
    ("claude-sonnet-4", 3.00, 15.00),
    ("claude-sonnet-4-5", 3.00, 15.00),
    ("claude-haiku-4-5", 1.00, 5.00),
    ("claude-3-5-haiku", 0.80, 4.00),
    // Llama on Groq
    ("llama-3.3-70b-versatile", 0.59, 0.79),
    ("llama-3.1-8b-instant", 0.05, 0.08),
    ("llama-4-scout-17b-16e-instruct", 0.11, 0.34),
    ("llama-4-maverick-17b-128e-instruct", 0.20, 0.60),
    // Gemini (2.5 Pro: prompts up to 200k tokens)
    ("gemini-2.0-flash", 0.10, 0.40),
    ("gemini-2.0-flash-lite", 0.075, 0.30),
    ("gemini-2.5-flash", 0.30, 2.50),
    ("gemini-2.5-flash-lite", 0.10, 0.40),
    ("gemini-2.5-pro", 1.25, 10.00),
];

/// (input, output) USD per million tokens for `model` ("provider/id" as in config):
/// the `pricing` override for the full string or the bare id, else the built-in table.
pub fn price(model: &str, overrides: Option<&Value>) -> Option<(f64, f64)> {
    let id = model.split_once('/').map_or(model, |(_, id)| id);
    override_for(model, overrides).or_else(|| override_for(id, overrides)).or_else(|| builtin(id))
}

/// The price for a routed model: an override, else free when self-hosted, else the table.
pub fn route_price(route: &Route, overrides: Option<&Value>) -> Option<(f64, f64)> {
    let model = format!("{}/{}", route.provider, route.model);
    let local = is_self_hosted(route).then_some((0.0, 0.0));
    override_for(&model, overrides)
        .or_else(|| override_for(&route.model, overrides))
        .or(local)
        .or_else(|| price(&model, None))
}

/// What a turn cost, or `None` when the model's price is unknown.
pub fn cost_usd(
    route: &Route,
    overrides: Option<&Value>,
    input_tokens: u64,
    output_tokens: u64,
) -> Option<f64> {
    let (input, output) = route_price(route, overrides)?;
    Some((input_tokens as f64 * input + output_tokens as f64 * output) / 1_000_000.0)
}

/// No key to bill (Ollama, keyless custom servers) or a loopback address.
pub fn is_self_hosted(route: &Route) -> bool {
    route.key_env.is_none() || is_loopback(host(&route.base_url))
}

fn host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost") || host == "::1" || host.starts_with("127.")
}

/// `pricing: {"<model>": {input_per_mtok, output_per_mtok}}`; both are needed, neither negative.
fn override_for(model: &str, overrides: Option<&Value>) -> Option<(f64, f64)> {
    let entry = overrides?.get(model)?;
    let rate = |key| entry.get(key)?.as_f64().filter(|r| r.is_finite() && *r >= 0.0);
    Some((rate("input_per_mtok")?, rate("output_per_mtok")?))
}

fn builtin(id: &str) -> Option<(f64, f64)> {
    // OpenRouter and Groq ids may carry a vendor: "anthropic/claude-sonnet-4.5".
    let id = id.rsplit('/').next().unwrap_or(id).to_ascii_lowercase();
    let id = if id.starts_with("claude-") { id.replace('.', "-") } else { id };
    let matching = TABLE.iter().filter(|(name, _, _)| matches_entry(&id, name));
    matching.max_by_key(|(name, _, _)| name.len()).map(|&(_, input, output)| (input, output))
}

/// `id` is `name`, or `name` plus a date or version: `-2024-08-06`, `-20250514`, `-latest`.
fn matches_entry(id: &str, name: &str) -> bool {
    match id.strip_prefix(name) {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix('-')
            .is_some_and(|r| r == "latest" || r.starts_with(|c: char| c.is_ascii_digit())),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_match_only_dates_and_versions() {
        assert_eq!(builtin("gpt-4o-2024-08-06"), Some((2.50, 10.00)));
        assert_eq!(builtin("gpt-4o-mini-2024-07-18"), Some((0.15, 0.60)));
        assert_eq!(builtin("claude-3-5-haiku-latest"), Some((0.80, 4.00)));
        assert_eq!(builtin("o3-pro"), None);
        assert_eq!(builtin("gpt-4oo"), None);
    }

    #[test]
    fn hosts_are_read_from_urls() {
        assert_eq!(host("http://localhost:11434/v1"), "localhost");
        assert_eq!(host("http://[::1]:8080/v1"), "::1");
        assert_eq!(host("https://user:pw@127.0.0.1/v1"), "127.0.0.1");
        assert_eq!(host("https://api.openai.com/v1"), "api.openai.com");
        assert!(is_loopback("LOCALHOST") && is_loopback("127.0.0.2") && !is_loopback("10.0.0.1"));
    }
}
