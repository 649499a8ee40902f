//! `alpi schedule` and the daemon's scheduler end to end: jobs on disk in the original's
//! files, a job fired as an agent turn against the local fake LLM, `no_agent` scripts
//! confined to the profile's skills and stopped at their time limit, a corrupt jobs
//! file refused and left as it was, and the daemon running a due job by itself.

mod common;
#[path = "common/fake_openai.rs"]
mod fake_openai;

use std::os::unix::fs::PermissionsExt;

use alpi::json::{self, Value};
use common::{Sandbox, eventually};
use fake_openai::{Canned, fake_provider, final_stream};

fn added_id(run: &common::Run) -> String {
    run.stdout.split_whitespace().nth(1).unwrap().to_owned()
}

fn jobs(sb: &Sandbox) -> Vec<Value> {
    let bytes = std::fs::read(sb.root().join("schedule/jobs.json")).unwrap();
    json::parse(&bytes).unwrap().as_array().unwrap().to_vec()
}

fn rows(path: std::path::PathBuf) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().map(|l| json::parse(l.as_bytes()).unwrap()).collect()
}

#[test]
fn jobs_are_added_listed_paused_and_removed_in_the_originals_files() {
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    let add =
        sb.ok(&["schedule", "add", "--cron", "0 9 * * mon-fri", "--prompt", "morning brief", "--notify"]);
    let id = added_id(&add);
    assert_eq!(id.len(), 8);
    let job = &jobs(&sb)[0];
    assert_eq!(job.get("kind").and_then(Value::as_str), Some("cron"));
    assert_eq!(job.get("expression").and_then(Value::as_str), Some("0 9 * * mon-fri"));
    assert_eq!(job.get("notify").and_then(Value::as_bool), Some(true));
    let list = sb.ok(&["schedule", "list"]).stdout;
    assert!(
        list.contains(&id) && list.contains("cron 0 9 * * mon-fri") && list.contains("next 20"),
        "{list}"
    );
    sb.ok(&["schedule", "pause", &id]);
    assert!(sb.ok(&["schedule", "list"]).stdout.contains("next paused"));
    sb.ok(&["schedule", "resume", &id]);
    assert!(jobs(&sb)[0].get("paused").is_none());
    sb.ok(&["schedule", "add", "--at", "2030-01-01T08:00", "--prompt", "new year"]);
    sb.ok(&["schedule", "add", "--after-hours", "48", "--prompt", "check in"]);
    assert_eq!(jobs(&sb).len(), 3);
    sb.ok(&["schedule", "remove", &id]);
    assert_eq!(jobs(&sb).len(), 2);
    let missing = sb.run(&["schedule", "remove", &id]);
    assert!(missing.code == 1 && missing.stderr.contains("no job"), "{}", missing.stderr);
}

#[test]
fn bad_definitions_and_a_corrupt_file_are_refused_with_the_file_untouched() {
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    let bad = sb.run(&["schedule", "add", "--cron", "0 25 * * *", "--prompt", "x"]);
    assert!(bad.code == 1 && bad.stderr.contains("hour"), "{}", bad.stderr);
    let two =
        sb.run(&["schedule", "add", "--cron", "* * * * *", "--at", "2030-01-01T00:00", "--prompt", "x"]);
    assert!(two.stderr.contains("exactly one"), "{}", two.stderr);
    std::fs::create_dir_all(sb.root().join("schedule")).unwrap();
    let corrupt = "[{\"id\": \"abc\", \"kind\": \"cron\"";
    std::fs::write(sb.root().join("schedule/jobs.json"), corrupt).unwrap();
    for args in [&["schedule", "list"][..], &["schedule", "add", "--cron", "* * * * *", "--prompt", "x"]] {
        let run = sb.run(args);
        assert_eq!(run.code, 1);
        assert!(run.stderr.contains("jobs.json") && run.stderr.contains("untouched"), "{}", run.stderr);
    }
    assert_eq!(std::fs::read_to_string(sb.root().join("schedule/jobs.json")).unwrap(), corrupt);
}

#[test]
fn fire_runs_an_agent_turn_and_records_it_everywhere() {
    let fake = fake_provider(vec![Canned::ok(final_stream("Disk is 42% full."))]);
    let sb = Sandbox::new();
    sb.configure_fake_model(fake.port, "");
    let id = added_id(&sb.ok(&[
        "schedule",
        "add",
        "--cron",
        "0 9 * * *",
        "--prompt",
        "check the disk",
        "--title",
        "disk",
    ]));
    sb.ok(&["schedule", "pause", &id]);
    let fire = sb.ok(&["schedule", "fire", &id]);
    assert_eq!(fire.stdout.trim(), "Disk is 42% full.", "fire runs paused jobs too");
    let requests = fake.requests.lock().unwrap();
    let sent = String::from_utf8(requests[0].wire()).unwrap();
    assert!(sent.contains(&format!("[SCHEDULED cron job {id} · disk]")), "{sent}");
    let run = &rows(sb.root().join("logs/runs.jsonl"))[0];
    assert_eq!(run.get("outcome").and_then(Value::as_str), Some("ok"));
    assert_eq!(run.get("job_id").and_then(Value::as_str), Some(id.as_str()));
    assert_eq!(run.get("backend").and_then(Value::as_str), Some("agent"));
    let inbox = &rows(sb.root().join("outputs/outputs.jsonl"))[0];
    assert_eq!(inbox.get("body").and_then(Value::as_str), Some("Disk is 42% full."));
    assert_eq!(inbox.get("status").and_then(Value::as_str), Some("unread"));
    let state = json::parse(&std::fs::read(sb.root().join("schedule/runs.json")).unwrap()).unwrap();
    assert_eq!(state.get(&id).and_then(|s| s.get("last_run_status")).and_then(Value::as_str), Some("ok"));
    let log = std::fs::read_to_string(sb.root().join("logs/agent.log")).unwrap();
    assert!(log.contains("surface=schedule"), "{log}");

    let merged = sb.ok(&["logs", "-n", "20"]).stdout;
    let turn = merged.find("surface=schedule").expect(&merged);
    let run = merged.find(&format!("alpi.schedule job={id} outcome=ok")).expect(&merged);
    assert!(turn < run, "merged by time: the turn's line comes before the run's record\n{merged}");
    let only = sb.ok(&["logs", "--source", "schedule"]).stdout;
    assert_eq!(only.lines().count(), 1, "{only}");
    assert!(sb.run(&["logs", "--source", "mail"]).stderr.contains("use service, agent, approval, schedule"));
}

fn skill_script(sb: &Sandbox, name: &str, body: &str) {
    let dir = sb.root().join("skills/demo/scripts");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn no_agent_scripts_run_only_from_skills_and_stop_at_their_limit() {
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    skill_script(&sb, "hello.sh", "echo \"hello $1\"");
    skill_script(&sb, "slow.sh", "sleep 30");
    let hello = sb.ok(&[
        "schedule",
        "add",
        "--cron",
        "0 9 * * *",
        "--no-agent",
        "--prompt",
        "skills/demo/scripts/hello.sh 'big world'",
    ]);
    assert_eq!(sb.ok(&["schedule", "fire", &added_id(&hello)]).stdout.trim(), "hello big world");

    let outside =
        sb.ok(&["schedule", "add", "--cron", "0 9 * * *", "--no-agent", "--prompt", "rm -rf /tmp/x"]);
    let refused = sb.run(&["schedule", "fire", &added_id(&outside)]);
    assert!(refused.code == 1 && refused.stderr.contains("no_agent rejected"), "{}", refused.stderr);
    let inline =
        sb.ok(&["schedule", "add", "--cron", "0 9 * * *", "--no-agent", "--prompt", "python3 -c 'print(1)'"]);
    assert!(sb.run(&["schedule", "fire", &added_id(&inline)]).stderr.contains("-c is not allowed"));

    let slow = sb.ok(&[
        "schedule",
        "add",
        "--cron",
        "0 9 * * *",
        "--no-agent",
        "--timeout",
        "1",
        "--prompt",
        "skills/demo/scripts/slow.sh",
    ]);
    let started = std::time::Instant::now();
    let stopped = sb.run(&["schedule", "fire", &added_id(&slow)]);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(stopped.code == 1 && stopped.stderr.contains("timeout"), "{}", stopped.stderr);
    let runs = rows(sb.root().join("logs/runs.jsonl"));
    assert_eq!(runs.last().and_then(|r| r.get("outcome")).and_then(Value::as_str), Some("timeout"));
}

#[test]
fn the_daemon_runs_a_due_once_job_by_itself_and_removes_it() {
    let fake = fake_provider(vec![Canned::ok(final_stream("Reminder sent."))]);
    let sb = Sandbox::new();
    sb.configure_fake_model(fake.port, "");
    sb.ok(&["schedule", "add", "--at", "2020-01-01T09:00", "--prompt", "remind me"]);
    let _daemon = sb.daemon(&[]);
    let inbox = sb.root().join("outputs/outputs.jsonl");
    assert!(eventually(20, || !rows(inbox.clone()).is_empty()), "the job never ran");
    assert_eq!(rows(inbox)[0].get("body").and_then(Value::as_str), Some("Reminder sent."));
    assert!(eventually(5, || jobs(&sb).is_empty()), "a once job that succeeded is removed");
}

/// A once job, due since 2020, that runs the skill script `name` (`body` in sh).
fn overdue_script_job(sb: &Sandbox, name: &str, body: &str) {
    skill_script(sb, name, body);
    let script = format!("skills/demo/scripts/{name}");
    sb.ok(&["schedule", "add", "--at", "2020-01-01T00:00", "--no-agent", "--prompt", &script]);
}

#[test]
fn a_job_that_kills_its_own_process_leaves_the_daemon_serving() {
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    // The job's parent is the process running it: the daemon itself, were jobs run
    // in-process.
    overdue_script_job(&sb, "crash.sh", "kill -9 $PPID");
    let mut daemon = sb.daemon(&[]);
    let log = sb.root().join("logs/daemon.log");
    let noticed = || std::fs::read_to_string(&log).unwrap_or_default().contains("the daemon carries on");
    assert!(eventually(20, noticed), "the crashed run was never noticed");
    assert!(daemon.child.try_wait().unwrap().is_none(), "the daemon died with its job");
    assert!(sb.ok(&["daemon", "status"]).stdout.contains("default"));
    let runs = json::parse(&std::fs::read(sb.root().join("schedule/runs.json")).unwrap()).unwrap();
    let id = jobs(&sb)[0].get("id").and_then(Value::as_str).unwrap().to_owned();
    assert!(runs.get(&id).and_then(|r| r.get("last_run_at")).is_some(), "no refire loop: {runs:?}");
}

#[test]
fn run_once_runs_what_is_due_for_a_system_cron() {
    let sb = Sandbox::new();
    sb.ok(&["peers", "key"]);
    overdue_script_job(&sb, "tick.sh", "date +%s > \"$ALPI_HOME/ticked\"");
    assert!(sb.ok(&["schedule", "run-once"]).stdout.contains("1 job(s) ran"));
    assert!(sb.root().join("ticked").exists());
    assert!(sb.ok(&["schedule", "run-once"]).stdout.contains("0 job(s) ran"));
}

#[test]
fn the_agent_schedules_jobs_notifies_and_may_message_only_allowed_chats() {
    let add =
        r#"{"action":"add","kind":"cron","expression":"0 8 * * *","prompt":"weather","title":"weather"}"#;
    let fake = fake_provider(vec![
        Canned::ok(fake_openai::tool_call_stream("c1", "schedule", add)),
        Canned::ok(fake_openai::tool_call_stream("c2", "schedule", add)),
        Canned::ok(fake_openai::tool_call_stream(
            "c3",
            "notify",
            r#"{"title":"heads up","body":"the disk is almost full"}"#,
        )),
        Canned::ok(fake_openai::tool_call_stream(
            "c4",
            "send_message",
            r#"{"chat_id":999,"text":"hello stranger"}"#,
        )),
        Canned::ok(final_stream("Done.")),
    ]);
    let sb = Sandbox::new();
    sb.configure_fake_model(fake.port, "");
    std::fs::write(sb.root().join(".env"), "FAKE_KEY=test-key\nTELEGRAM_ALLOWED_CHAT_IDS=42\n").unwrap();
    let run = sb.run(&["chat", "--once", "every morning tell me the weather"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let jobs = jobs(&sb);
    assert_eq!(jobs.len(), 1, "the duplicate was refused");
    assert_eq!(jobs[0].get("expression").and_then(Value::as_str), Some("0 8 * * *"));
    let results: Vec<String> = fake.requests.lock().unwrap()[1..]
        .iter()
        .map(|r| {
            let messages = r.get("messages").and_then(Value::as_array).unwrap();
            messages
                .last()
                .and_then(|m| m.get("content"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(results[0].starts_with("added job "), "{results:?}");
    assert!(results[1].contains("already scheduled as"), "{results:?}");
    assert!(results[3].contains("not in TELEGRAM_ALLOWED_CHAT_IDS"), "{results:?}");
    let inbox = rows(sb.root().join("outputs/outputs.jsonl"));
    assert_eq!(inbox.len(), 1, "only the notify row: {inbox:?}");
    assert_eq!(inbox[0].get("title").and_then(Value::as_str), Some("heads up"));
    assert_eq!(inbox[0].get("push").and_then(Value::as_bool), Some(true));
}
