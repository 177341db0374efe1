//! `qmp shell` driven as a person would: in a pseudo-terminal (a private tmux server),
//! typing, pressing TAB and Enter, and reading the screen, against real QEMUs.
//!
//! A missing QEMU or tmux fails the test under `CI=true` and skips it elsewhere.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use qemu_qmp::testing::{find_qemu, Qemu, QemuBuilder};
use qemu_qmp::{Backoff, Client, Endpoint};
use serde_json::Value;

/// How long any one thing may take to show on the screen.
const PATIENCE: Duration = Duration::from_secs(20);

fn missing(what: &str) {
    let msg = format!("{what} not found: run `bash scripts/install-qemu.sh` first");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg} (CI=true: a missing dependency is a failure)");
    }
    eprintln!("SKIPPED: {msg}");
}

/// The workspace root (above this package).
fn root() -> PathBuf {
    let package = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    package.parent().map_or(package.clone(), Path::to_path_buf)
}

/// QEMU 10.0 (the one on PATH), or `None` (skipped).
fn qemu10() -> Option<QemuBuilder> {
    match find_qemu() {
        Some(bin) => Some(QemuBuilder::new(bin)),
        None => {
            missing("qemu-system-x86_64 (QEMU 10.0)");
            None
        }
    }
}

/// QEMU 7.2 from `$QMP_QEMU72_DIR` or the workspace's target/qemu-7.2.
fn qemu72() -> Option<QemuBuilder> {
    let dir = std::env::var_os("QMP_QEMU72_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/qemu-7.2"));
    let bin = dir.join("usr/bin/qemu-system-x86_64");
    if !bin.is_file() {
        missing(&format!("QEMU 7.2 ({})", bin.display()));
        return None;
    }
    Some(QemuBuilder::new(bin).env("QEMU_MODULE_DIR", dir.join("usr/lib/x86_64-linux-gnu/qemu")))
}

/// Whether tmux is there (else the test is skipped, or fails under CI).
fn have_tmux() -> bool {
    let found = Command::new("tmux")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        missing("tmux");
    }
    found
}

/// Words quoted for `sh`.
fn sh_quote(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A private tmux server running one `qmp shell` in a 200x50 pane. Dropping it kills the
/// server, and with it the shell.
struct Tmux {
    /// The server's socket, in the test's temporary directory (removed with it).
    socket: PathBuf,
}

impl Tmux {
    /// Starts `qmp ARGS...` in a new pane, with its history under `state`, no colour. When
    /// the shell ends the pane prints `[exit N]` and stays, so the screen can be read.
    fn start(args: &[&str], state: &Path) -> Tmux {
        let mut words = vec![
            "env".to_string(),
            format!("XDG_STATE_HOME={}", state.display()),
            "NO_COLOR=1".into(),
            env!("CARGO_BIN_EXE_qmp").into(),
        ];
        words.extend(args.iter().map(|a| a.to_string()));
        let script = format!("{}; echo \"[exit $?]\"; sleep 600", sh_quote(&words));
        let tmux = Tmux {
            socket: state.join("tmux.sock"),
        };
        let status = Command::new("tmux")
            .arg("-S")
            .arg(&tmux.socket)
            .args(["-f", "/dev/null", "new-session", "-d"])
            .args(["-x", "200", "-y", "50", &script])
            .status()
            .expect("run tmux");
        assert!(status.success(), "tmux new-session failed");
        tmux
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The visible screen, wrapped lines joined.
    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-J"])
    }

    /// Waits until the screen satisfies `ready`, or fails showing it.
    fn wait(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            if Instant::now() >= deadline {
                panic!("timed out waiting for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Waits until the screen shows `text`.
    fn wait_for(&self, text: &str) -> String {
        self.wait(&format!("{text:?}"), |s| s.contains(text))
    }

    /// Waits until the last line holding anything is `line` (the prompt and what is typed).
    fn wait_for_last_line(&self, line: &str) -> String {
        self.settle(line);
        self.screen()
    }

    /// Presses keys by their tmux names (`Tab`, `Enter`, `Up`, `C-d`).
    fn key(&self, key: &str) {
        self.tmux(&["send-keys", key]);
    }

    /// Types `text` a character at a time, as a person does, and waits until the last line
    /// reads `expect`.
    ///
    /// rustyline 15 with an external printer shows only the first of several keys that
    /// arrive in one read, until the next key (kkawakam/rustyline#976); keys a person
    /// types come apart, and a harmless End key settles any that came together.
    fn type_text(&self, text: &str, expect: &str) {
        for c in text.chars() {
            // tmux reads a lone `;` as the end of its command.
            let key = if c == ';' {
                r"\;".to_string()
            } else {
                c.to_string()
            };
            self.tmux(&["send-keys", "-l", &key]);
            std::thread::sleep(Duration::from_millis(5));
        }
        self.settle(expect);
    }

    /// Waits until the last non-empty line is `line`, nudging with End now and then.
    fn settle(&self, line: &str) {
        let deadline = Instant::now() + PATIENCE;
        let mut nudge = Instant::now() + Duration::from_millis(150);
        loop {
            let screen = self.screen();
            if last_line(&screen) == line {
                return;
            }
            if Instant::now() >= deadline {
                panic!("timed out waiting for the line {line:?}; the screen:\n{screen}");
            }
            if Instant::now() >= nudge {
                self.key("End");
                nudge = Instant::now() + Duration::from_millis(150);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types a line (which the screen must then show after the prompt) and presses Enter.
    fn run(&self, prompt: &str, line: &str) {
        self.type_text(line, &format!("{prompt}{line}"));
        self.key("Enter");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The last line of the screen that holds anything, without trailing spaces.
fn last_line(screen: &str) -> &str {
    screen
        .lines()
        .rev()
        .map(str::trim_end)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// The text after the last occurrence of `marker` (what a command printed after it).
fn after<'a>(screen: &'a str, marker: &str) -> &'a str {
    screen
        .rfind(marker)
        .map_or("", |at| &screen[at + marker.len()..])
}

/// A runtime for the tests' own QMP connections.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A second monitor of QEMU on `path`: `-qmp unix:PATH,server=on,wait=off`.
fn second_monitor(builder: QemuBuilder, path: &Path) -> QemuBuilder {
    builder
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", path.display()))
}

/// Connects to the monitor at `path` while QEMU starts up.
fn connect_to(rt: &tokio::runtime::Runtime, path: &Path) -> Client {
    let backoff = Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(100),
        attempts: 200,
    };
    rt.block_on(Client::builder().connect_with_retry(Endpoint::Unix(path.into()), backoff))
        .expect("connect to QEMU's second monitor")
}

/// The path of QEMU's own (first) monitor, for the shell.
fn first_monitor(qemu: &Qemu) -> String {
    match qemu.endpoint() {
        Some(Endpoint::Unix(path)) => path.display().to_string(),
        other => panic!("QEMU has no Unix socket: {other:?}"),
    }
}

#[test]
fn completion_then_an_event_arrives_mid_line() {
    let Some(builder) = qemu10() else { return };
    if !have_tmux() {
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let second = dir.path().join("second.sock");
    let qemu = second_monitor(builder, &second)
        .spawn()
        .expect("start QEMU");
    let rt = runtime();
    let other = connect_to(&rt, &second);
    let shell = Tmux::start(&["shell", &first_monitor(&qemu)], dir.path());
    shell.wait_for_last_line("(qmp)");

    // A command name, completed.
    shell.type_text("query-statu", "(qmp) query-statu");
    shell.key("Tab");
    shell.wait_for_last_line("(qmp) query-status");
    shell.key("Enter");
    shell.wait_for("\"status\": \"running\"");

    // An enum value, then a nested key and a boolean value.
    shell.type_text(
        "blockdev-add driver=null-c",
        "(qmp) blockdev-add driver=null-c",
    );
    shell.key("Tab");
    shell.wait_for_last_line("(qmp) blockdev-add driver=null-co");
    shell.type_text(
        "node-name=n0 cache.di",
        "(qmp) blockdev-add driver=null-co node-name=n0 cache.di",
    );
    shell.key("Tab");
    shell.wait_for_last_line("(qmp) blockdev-add driver=null-co node-name=n0 cache.direct=");
    shell.type_text(
        "t",
        "(qmp) blockdev-add driver=null-co node-name=n0 cache.direct=t",
    );
    shell.key("Tab");
    shell.wait_for_last_line("(qmp) blockdev-add driver=null-co node-name=n0 cache.direct=true");
    shell.key("Enter");
    shell.wait_for_last_line("(qmp)");
    let nodes = rt
        .block_on(other.execute_raw(
            "query-named-block-nodes",
            Some(serde_json::json!({"flat": true})),
        ))
        .expect("query-named-block-nodes");
    let n0 = nodes
        .as_array()
        .and_then(|list| list.iter().find(|n| n["node-name"] == "n0"))
        .unwrap_or_else(|| panic!("no node n0 in {nodes}"));
    assert_eq!(n0["cache"]["direct"], true, "{n0}");

    // A partial line, then an event from the other monitor: it shows above the prompt
    // and the partial line stays as typed.
    shell.type_text("query-sta", "(qmp) query-sta");
    rt.block_on(other.execute_raw("stop", None)).expect("stop");
    let screen = shell.wait(" STOP above the partial line", |s| {
        s.lines().any(|l| l.ends_with("  STOP")) && last_line(s) == "(qmp) query-sta"
    });
    let lines: Vec<&str> = screen.lines().collect();
    let stop_line = lines.iter().rposition(|l| l.ends_with("  STOP"));
    let prompt_line = lines
        .iter()
        .rposition(|l| l.trim_end() == "(qmp) query-sta");
    assert!(
        stop_line < prompt_line,
        "the event is not above the prompt:\n{screen}"
    );
    // Enter runs the line as it stands, finished.
    shell.type_text("tus", "(qmp) query-status");
    shell.key("Enter");
    let screen = shell.wait_for("\"status\": \"paused\"");
    assert!(after(&screen, "(qmp) query-status").contains("\"running\": false"));
    rt.block_on(other.execute_raw("cont", None)).expect("cont");
    shell.wait(" RESUME", |s| s.lines().any(|l| l.ends_with("  RESUME")));

    // An ambiguous Tab lists the candidates at once; an event arriving then still shows
    // without waiting for another key.
    shell.type_text("query-na", "(qmp) query-na");
    shell.key("Tab");
    shell.wait("the candidates", |s| {
        s.lines().any(|l| l.contains("query-named-block-nodes"))
            && last_line(s) == "(qmp) query-name"
    });
    rt.block_on(other.execute_raw("stop", None)).expect("stop");
    shell.wait("a second STOP above the line", |s| {
        s.lines().filter(|l| l.ends_with("  STOP")).count() == 2
            && last_line(s) == "(qmp) query-name"
    });
    drop(qemu);
}

#[test]
fn reconnects_when_qemu_comes_back_and_keeps_the_history() {
    let Some(builder) = qemu10() else { return };
    if !have_tmux() {
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let socket = dir.path().join("vm.sock");
    let start = || {
        second_monitor(builder.clone(), &socket)
            .spawn()
            .expect("start QEMU")
    };
    let mut qemu = start();
    let rt = runtime();
    // Wait until QEMU listens, then let the shell have the monitor.
    rt.block_on(connect_to(&rt, &socket).close());
    let shell = Tmux::start(
        &[
            "shell",
            socket.to_str().expect("a UTF-8 path"),
            "--retry-delay",
            "0.1",
            "--retries",
            "200",
        ],
        dir.path(),
    );
    shell.wait_for_last_line("(qmp)");
    shell.run("(qmp) ", "query-status");
    shell.wait_for("\"status\": \"running\"");
    shell.run("(qmp) ", "query-name");
    shell.wait_for_last_line("(qmp)");

    qemu.kill().expect("kill QEMU");
    shell.wait_for("QEMU went away");
    // The line being typed survives the notices.
    shell.type_text("query-kvm", "(qmp) query-kvm");
    qemu = start();
    shell.wait_for("reconnected to");
    assert_eq!(last_line(&shell.screen()), "(qmp) query-kvm");
    shell.key("C-u");
    shell.wait_for_last_line("(qmp)");

    // Up goes back through the history: query-name, then query-status.
    shell.key("Up");
    shell.wait_for_last_line("(qmp) query-name");
    shell.key("Up");
    shell.wait_for_last_line("(qmp) query-status");
    shell.key("Enter");
    let screen = shell.wait("a second reply", |s| {
        s.matches("\"status\": \"running\"").count() >= 2 && last_line(s) == "(qmp)"
    });
    assert!(screen.contains("QEMU went away"), "{screen}");
    shell.key("C-d");
    shell.wait_for("[exit 0]");
    let history =
        std::fs::read_to_string(dir.path().join("qmp/history")).expect("the history file");
    assert!(
        history.contains("query-status") && history.contains("query-name"),
        "{history}"
    );
    drop(qemu);
}

#[test]
fn launch_runs_qemu_and_leaving_ends_it() {
    let Some(_) = qemu10() else { return };
    if !have_tmux() {
        return;
    }
    let Some(bin) = find_qemu() else { return };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let bin = bin.to_str().expect("a UTF-8 path").to_string();
    let shell = Tmux::start(
        &[
            "shell",
            "--launch",
            "--",
            &bin,
            "-M",
            "none",
            "-nodefaults",
            "-display",
            "none",
        ],
        dir.path(),
    );
    let screen = shell.wait_for("(pid ");
    let pid: u32 = after(&screen, "(pid ")
        .split(')')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pid in:\n{screen}"));
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "QEMU {pid} is not running"
    );
    shell.wait_for_last_line("(qmp)");
    shell.run("(qmp) ", "query-status");
    shell.wait_for("\"status\": \"running\"");
    shell.key("C-d");
    shell.wait_for("[exit 0]");
    let deadline = Instant::now() + PATIENCE;
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "QEMU {pid} outlived the shell");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn hmp_mode_and_the_toggle() {
    let Some(builder) = qemu10() else { return };
    if !have_tmux() {
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let qemu = builder.spawn().expect("start QEMU");
    let rt = runtime();
    // Only to wait until QEMU listens.
    let path = first_monitor(&qemu);
    rt.block_on(connect_to(&rt, Path::new(&path)).close());
    let shell = Tmux::start(&["shell", "-H", &path], dir.path());
    shell.wait_for_last_line("(hmp)");
    shell.run("(hmp) ", "info status");
    shell.wait_for("VM status: running");
    shell.run("(hmp) ", ":qmp");
    shell.wait_for_last_line("(qmp)");
    shell.run("(qmp) ", "stop");
    shell.run("(qmp) ", ":hmp");
    shell.wait_for_last_line("(hmp)");
    shell.run("(hmp) ", "info status");
    shell.wait_for("VM status: paused");
    // Errors are one line, and the shell goes on.
    shell.run("(hmp) ", ":qmp");
    shell.run("(qmp) ", "query-statsu");
    let screen = shell.wait_for("did you mean `query-status`?");
    assert_eq!(last_line(&screen), "(qmp)");
    shell.run("(qmp) ", "help query-cpus-fast");
    shell.wait_for("in QEMU 7.2, 10.0");
    drop(qemu);
}

#[test]
fn a_transaction_block_adds_two_bitmaps() {
    let Some(builder) = qemu10() else { return };
    if !have_tmux() {
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let second = dir.path().join("second.sock");
    let qemu = second_monitor(builder, &second)
        .spawn()
        .expect("start QEMU");
    let rt = runtime();
    let other = connect_to(&rt, &second);
    let shell = Tmux::start(&["shell", &first_monitor(&qemu)], dir.path());
    shell.wait_for_last_line("(qmp)");
    shell.run("(qmp) ", "blockdev-add driver=null-co node-name=disk0");
    shell.wait_for_last_line("(qmp)");
    // Enter inside the block adds a line: rustyline shows the rest without a prompt.
    shell.run("(qmp) ", "transaction(");
    shell.type_text("  block-dirty-bitmap-a", "  block-dirty-bitmap-a");
    shell.key("Tab");
    shell.wait_for_last_line("  block-dirty-bitmap-add");
    shell.type_text(
        "node=disk0 name=b1",
        "  block-dirty-bitmap-add node=disk0 name=b1",
    );
    shell.key("Enter");
    shell.type_text(
        "  block-dirty-bitmap-add node=disk0 name=b2 persistent=off",
        "  block-dirty-bitmap-add node=disk0 name=b2 persistent=off",
    );
    shell.key("Enter");
    shell.type_text(")", ")");
    shell.key("Enter");
    shell.wait_for_last_line("(qmp)");
    let nodes = rt
        .block_on(other.execute_raw(
            "query-named-block-nodes",
            Some(serde_json::json!({"flat": true})),
        ))
        .expect("query-named-block-nodes");
    let disk = nodes
        .as_array()
        .and_then(|list| list.iter().find(|n| n["node-name"] == "disk0"))
        .unwrap_or_else(|| panic!("no disk0 in {nodes}"));
    let mut names: Vec<&str> = disk["dirty-bitmaps"]
        .as_array()
        .map(|b| b.iter().filter_map(|b| b["name"].as_str()).collect())
        .unwrap_or_default();
    names.sort();
    assert_eq!(names, ["b1", "b2"], "{disk}");

    // A mistake in one action names it, and nothing is done.
    shell.run(
        "(qmp) ",
        "transaction( block-dirty-bitmap-add node=disk0 name=b3 ; block-dirty-bitmap-add node=disk0 nam=b4 )",
    );
    shell.wait_for("did you mean `name`?");
    drop(qemu);
}

#[test]
fn piped_input_answers_in_json_lines() {
    let Some(builder) = qemu10() else { return };
    let qemu = builder.spawn().expect("start QEMU");
    let rt = runtime();
    let path = first_monitor(&qemu);
    rt.block_on(connect_to(&rt, Path::new(&path)).close());
    let script = "\
# a comment, then commands
query-status
blockdev-add {\"driver\": \"null-co\", \"node-name\": \"n1\", \"size\": 1048576}
transaction( block-dirty-bitmap-add node=n1 name=\"b x\" ; block-dirty-bitmap-add node=n1 name='b y' )
query-statsu
blockdev-del node-name=nope

:hmp
info status
";
    let mut child = Command::new(env!("CARGO_BIN_EXE_qmp"))
        .args(["shell", &path])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start qmp shell");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(script.as_bytes())
            .expect("write the script");
        // Bytes that are not text fail their own line only.
        stdin
            .write_all(b"\xff\xfe\ninfo name\n")
            .expect("write the script");
    }
    let out = child.wait_with_output().expect("qmp shell ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    assert_eq!(lines.len(), 9, "one answer a command:\n{stdout}");
    assert_eq!(lines[0]["return"]["status"], "running");
    assert_eq!(lines[1], serde_json::json!({"return": {}}));
    assert_eq!(lines[2], serde_json::json!({"return": {}}));
    assert_eq!(lines[3]["error"]["class"], "CommandNotFound");
    assert!(lines[3]["error"]["desc"]
        .as_str()
        .is_some_and(|d| d.contains("did you mean `query-status`?")));
    assert_eq!(lines[4]["error"]["class"], "GenericError");
    // `:hmp` answers too, so answers and lines stay in step.
    assert_eq!(lines[5], serde_json::json!({"return": {}}));
    assert_eq!(lines[6]["return"], "VM status: running\r\n");
    assert_eq!(lines[7]["error"]["desc"], "line 10 is not UTF-8 text");
    assert!(lines[8]["return"].is_string(), "{}", lines[8]);
    // The unknown command is the worst failure: a usage error.
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // All well: exit 0.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'query-status\\n' | {} shell {}",
            sh_quote(&[env!("CARGO_BIN_EXE_qmp").to_string()]),
            sh_quote(std::slice::from_ref(&path))
        ))
        .output()
        .expect("run qmp shell");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(qemu);
}

#[test]
fn qemu_72_connects_runs_and_completes() {
    let Some(builder) = qemu72() else { return };
    if !have_tmux() {
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let qemu = builder.spawn().expect("start QEMU 7.2");
    let rt = runtime();
    let path = first_monitor(&qemu);
    rt.block_on(connect_to(&rt, Path::new(&path)).close());
    let shell = Tmux::start(&["shell", &path], dir.path());
    shell.wait_for("(QEMU 7.2.");
    shell.wait_for_last_line("(qmp)");
    shell.type_text("query-statu", "(qmp) query-statu");
    shell.key("Tab");
    shell.wait_for_last_line("(qmp) query-status");
    shell.key("Enter");
    shell.wait_for("\"status\": \"running\"");
    shell.type_text(
        "blockdev-add driver=null-c",
        "(qmp) blockdev-add driver=null-c",
    );
    shell.key("Tab");
    shell.wait_for_last_line("(qmp) blockdev-add driver=null-co");
    shell.type_text(
        "node-name=n0",
        "(qmp) blockdev-add driver=null-co node-name=n0",
    );
    shell.key("Enter");
    shell.wait_for_last_line("(qmp)");
    shell.run("(qmp) ", "query-named-block-nodes");
    shell.wait_for("\"node-name\": \"n0\"");
    drop(qemu);
}
