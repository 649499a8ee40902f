//! `alpi mcp`: the profile's MCP servers — each one started, whether it runs (or why
//! not), and the tools it gives the model.

use std::process::ExitCode;

use argh::FromArgs;

use super::{CliResult, open_profile};
use crate::agent::mcp::{ServerReport, Toolbox, stop_all};
use crate::agent::tools::Gate;
use crate::profile::ProfileHome;
use crate::profile::config::Config;

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "mcp")]
/// MCP servers (mcp.servers in config.yaml): list them, test one
pub struct McpCmd {
    #[argh(subcommand)]
    command: McpSub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum McpSub {
    List(ListCmd),
    Test(TestCmd),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
/// start every configured server and show whether it runs, and its tools; exit 1 if one fails
struct ListCmd {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "test")]
/// start one server and list its tools (none is called); exit 1 if it fails
struct TestCmd {
    /// the server's name under mcp.servers
    #[argh(positional)]
    name: String,
}

pub fn run(cmd: McpCmd, home: &ProfileHome) -> CliResult {
    open_profile(home)?;
    let config = Config::load(&home.config_path())?;
    let only = match &cmd.command {
        McpSub::List(ListCmd {}) => None,
        McpSub::Test(TestCmd { name }) => Some(name.as_str()),
    };
    let toolbox = Toolbox::load_only(home, &config, only);
    stop_all();
    if toolbox.reports().is_empty() {
        return match only {
            Some(name) => {
                Err(format!("no server `{name}` under mcp.servers — `alpi mcp list` shows them").into())
            }
            None => {
                println!(
                    "no MCP servers configured — add them under mcp.servers in config.yaml (docs/mcp.md)"
                );
                Ok(ExitCode::SUCCESS)
            }
        };
    }
    let gate = Gate::deny(string_list(&config, &["tools", "deny"]));
    for report in toolbox.reports() {
        print_server(report, &toolbox, &gate);
    }
    let failed = toolbox.reports().iter().any(|r| r.outcome.is_err());
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn print_server(report: &ServerReport, toolbox: &Toolbox, gate: &Gate) {
    let info = match &report.outcome {
        Ok(info) => info,
        Err(e) => return println!("{}  failed · {e}", report.name),
    };
    let tools: Vec<_> = toolbox.tools().iter().filter(|t| t.server == report.name).collect();
    println!(
        "{}  running · {} tools · {} {} · protocol {} · {:.1} s to its tool list",
        report.name,
        tools.len(),
        info.name,
        info.version,
        info.protocol_version,
        report.elapsed.as_secs_f64()
    );
    let width = tools.iter().map(|t| t.exposed.len()).max().unwrap_or(0);
    for tool in tools {
        let first = tool.description.lines().next().unwrap_or_default();
        let first: String = first.chars().take(80).collect();
        let denied = if gate.offers(&tool.gate_name()) { "" } else { " (denied by tools.deny)" };
        println!("  {:<width$}  {first}{denied}", tool.exposed);
    }
}

fn string_list(config: &Config, path: &[&str]) -> Vec<String> {
    let node = path.iter().try_fold(config.raw.as_ref(), |node, key| Some(node?.get(key))).flatten();
    node.and_then(|n| n.as_array())
        .map(|items| items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}
