//! `qmp shell`: an interactive shell over one QMP connection, or with stdin not a terminal,
//! a runner of one command a line that answers in JSON lines.
//!
//! Rustyline blocks, so the editor owns the main thread and the client lives on a tokio
//! runtime with one worker: each command is a `block_on` from the main thread, while the
//! event printer and the reconnecting supervisor run as tasks on the worker and write
//! through rustyline's external printer, above the line being typed.

mod complete;
mod help;
mod launch;
mod lines;
mod transaction;

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, RwLock};
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use clap::{Args, ValueEnum};
use futures_util::StreamExt;
use qemu_qmp::events::Gap;
use qemu_qmp::{Backoff, Client, ConnectionState, Endpoint, EventFilter, LiveSchema};
use rustyline::config::Configurer;
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Config, Editor, ExternalPrinter};
use serde_json::Value;
use tokio::runtime::Runtime;

use crate::args::{self, ArgError};
use crate::failure::{self, Failure, FailureKind};
use crate::{address, connect, events, exec, output, ConnectOptions};
use complete::{SharedSchema, ShellHelper};
use launch::Launched;
use lines::Line;

/// Options of `qmp shell`.
#[derive(Args, Debug)]
#[command(after_long_help = SHELL_HELP)]
pub struct ShellArgs {
    /// The address (left out when $QMP_SOCKET holds it), or with `--launch`, the QEMU
    /// command line after `--`.
    #[arg(value_name = "ARG")]
    words: Vec<String>,
    /// Start QEMU from the words after `--` and talk to it over a socket pair made
    /// beforehand (the shell adds `-chardev socket,fd=...` and `-mon`); leaving the shell
    /// ends QEMU.
    #[arg(long)]
    launch: bool,
    /// Start in HMP mode: lines go to the human monitor through `human-monitor-command`
    /// (`:qmp` switches to QMP, `:hmp` back).
    #[arg(short = 'H', long = "hmp")]
    hmp: bool,
    /// How many times to try reconnecting when QEMU goes away (0: do not try; the shell's
    /// `:reconnect` tries again).
    #[arg(long, value_name = "N", default_value_t = 30)]
    retries: u32,
    /// Seconds between reconnection tries.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0, value_parser = crate::parse_seconds)]
    retry_delay: f64,
    /// When to print events: `auto` prints them above the prompt in a terminal and not at
    /// all with piped input; `always` prints them with piped input too, as JSON lines.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = EventsWhen::Auto)]
    events: EventsWhen,
    /// The history file [default: $XDG_STATE_HOME/qmp/history, or ~/.local/state/qmp/history].
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
    #[command(flatten)]
    connect: ConnectOptions,
}

/// How `qmp shell --help` describes the lines, the piped mode and the exit status.
const SHELL_HELP: &str = "\
In the shell: `COMMAND key=value...` (dotted keys for nested members, quotes for spaces) \
or `COMMAND {JSON}`; `transaction(`, then one action `TYPE key=value...` a line, then `)`; \
`help [COMMAND]`; `:hmp` and `:qmp` switch monitors; `:quit` or Ctrl-D leaves (QMP's `quit` \
ends QEMU). The history is kept across sessions.

Examples:
  qmp shell /run/vm.qmp
  qmp shell --launch -- qemu-system-x86_64 -M q35 -display none
  qmp shell /run/vm.qmp < script.qmp

With stdin not a terminal, each line is a command (blank lines and `#` comments are \
skipped; a `transaction(` block or JSON may span lines) and each answer is one JSON \
line on stdout: {\"return\": ...} (HMP's and help's text as a string), or \
{\"error\": {\"class\": ..., \"desc\": ...}} with QEMU's error class, or the shell's own: \
CommandNotFound (an unknown command), GenericError (a bad argument or line), \
Disconnected (no connection). Events are JSON lines too with `--events always`. \
The shell does not reconnect in this mode.

Exit status: 0 when every line succeeded; otherwise the largest status of the failed \
lines, as `qmp exec` gives them: 1 QMP error, 2 a bad command, argument or line, \
3 no connection. Interactive: 0, or 3 when the first connection fails.";

/// When events are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EventsWhen {
    /// In a terminal only.
    Auto,
    /// Always (JSON lines with piped input).
    Always,
    /// Never.
    Never,
}

/// Lines for the person: through rustyline's external printer, above the line being
/// typed, or on stderr when there is no editor.
#[derive(Clone)]
pub struct Notices {
    to_printer: Option<mpsc::Sender<String>>,
}

impl Notices {
    /// Notices written to stderr.
    fn stderr() -> Notices {
        Notices { to_printer: None }
    }

    /// Prints one line.
    pub fn say(&self, line: String) {
        match &self.to_printer {
            // The printer thread has ended only when the shell is leaving.
            Some(tx) => {
                let _ = tx.send(line);
            }
            None => err_line(&line),
        }
    }
}

/// Writes `text` and a line break to stdout (colour stripped where it should be). A
/// closed stdout is an error to handle, not a panic as with `println!`.
fn out_line(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut stdout = anstream::stdout().lock();
    writeln!(stdout, "{text}")?;
    stdout.flush()
}

/// Writes one line to stderr; a closed stderr leaves nobody to tell.
fn err_line(text: &str) {
    use std::io::Write;
    let _ = writeln!(anstream::stderr(), "{text}");
}

/// A line's answer.
enum Reply {
    /// A QMP command's return value.
    Return(Value),
    /// Text to print as it is: HMP's output, help.
    Text(String),
    /// The shell did something of its own (switched mode, reconnected).
    Note(String),
    /// Nothing to say (a blank line).
    Nothing,
    /// Leave the shell.
    Leave,
}

/// A line that failed: the error class and description (QEMU's, or the shell's own for
/// what never reached QEMU) and the exit status it stands for.
struct LineFailure {
    class: String,
    desc: String,
    status: u8,
    /// Whether QEMU said so (then the class is worth showing a person).
    from_qemu: bool,
}

impl LineFailure {
    /// A mistake in the arguments of `command`, caught before sending.
    fn check(command: &str, e: ArgError) -> LineFailure {
        let (class, desc) = if e.unknown_command {
            ("CommandNotFound", e.message)
        } else {
            ("GenericError", format!("{command}: {}", e.message))
        };
        LineFailure {
            class: class.into(),
            desc,
            status: 2,
            from_qemu: false,
        }
    }

    /// A line the shell cannot read.
    fn line(desc: String) -> LineFailure {
        LineFailure {
            class: "GenericError".into(),
            desc,
            status: 2,
            from_qemu: false,
        }
    }

    /// A failure of the tool's own kind.
    fn from_failure(failure: Failure) -> LineFailure {
        let class = match failure.kind {
            FailureKind::Connection => "Disconnected",
            FailureKind::Usage => "GenericError",
            FailureKind::Qmp | FailureKind::Other => "GenericError",
        };
        LineFailure {
            class: class.into(),
            status: failure.exit_status(),
            desc: failure.message,
            from_qemu: false,
        }
    }

    /// A failed call.
    fn call(command: &str, error: qemu_qmp::Error) -> LineFailure {
        match error {
            qemu_qmp::Error::Qmp { class, desc } => LineFailure {
                class: class.as_str().to_string(),
                desc,
                status: 1,
                from_qemu: true,
            },
            other => LineFailure::from_failure(failure::from_call(command, other)),
        }
    }

    /// The JSON line of piped mode.
    fn json(&self) -> Value {
        serde_json::json!({"error": {"class": self.class, "desc": self.desc}})
    }

    /// The one line for a person.
    fn print(&self) {
        let red = Style::new().bold().fg_color(Some(AnsiColor::Red.into()));
        if self.from_qemu {
            err_line(&format!("{red}error:{red:#} {}: {}", self.class, self.desc));
        } else {
            err_line(&format!("{red}error:{red:#} {}", self.desc));
        }
    }
}

/// One connection to QEMU and what the shell knows about it.
struct Session {
    /// Where the client's tasks run; commands are `block_on`s from the main thread.
    runtime: Runtime,
    /// The connection, shared with the background tasks.
    client: Client,
    /// Where to reconnect to (none for a launched QEMU, reached over a socket pair).
    endpoint: Option<Endpoint>,
    /// The connect timeout, for `:reconnect`.
    options: ConnectOptions,
    /// The schema completion reads, refreshed on every command.
    schema: SharedSchema,
    /// Whether lines go to HMP.
    hmp: Arc<AtomicBool>,
    /// Whether Ctrl-C stops waiting for a reply (interactive) rather than ends the shell.
    interruptible: bool,
}

impl Session {
    /// Fetches this connection's schema for checking and for completion.
    fn refresh_schema(&self) -> Result<Arc<LiveSchema>, LineFailure> {
        let schema = self
            .runtime
            .block_on(exec::schema_of(&self.client))
            .map_err(LineFailure::from_failure)?;
        store(&self.schema, &schema);
        Ok(schema)
    }

    /// Sends `command` and waits for its reply.
    fn call(&self, command: &str, arguments: Option<Value>) -> Result<Value, LineFailure> {
        let call = self.client.execute_raw(command, arguments);
        self.runtime.block_on(async {
            if !self.interruptible {
                return call.await.map_err(|e| LineFailure::call(command, e));
            }
            tokio::select! {
                reply = call => reply.map_err(|e| LineFailure::call(command, e)),
                _ = tokio::signal::ctrl_c() => Err(LineFailure {
                    class: "GenericError".into(),
                    desc: format!("interrupted: stopped waiting for {command}'s reply (QEMU may still carry it out)"),
                    status: 1,
                    from_qemu: false,
                }),
            }
        })
    }

    /// Runs one line (or block).
    fn run_line(&self, text: &str) -> Result<Reply, LineFailure> {
        let trimmed = text.trim();
        let hmp = self.hmp.load(Ordering::Relaxed);
        let (first, rest) = match trimmed.split_once(char::is_whitespace) {
            Some((first, rest)) => (first, rest.trim()),
            None => (trimmed, ""),
        };
        match first {
            ":quit" | ":exit" | "exit" => return Ok(Reply::Leave),
            ":hmp" => {
                self.hmp.store(true, Ordering::Relaxed);
                return Ok(Reply::Note(
                    "lines go to the human monitor (HMP) now; `:qmp` to come back".into(),
                ));
            }
            ":qmp" => {
                self.hmp.store(false, Ordering::Relaxed);
                return Ok(Reply::Note("lines are QMP commands again".into()));
            }
            ":reconnect" => return self.reconnect(),
            ":help" => return self.help(rest),
            "help" if !hmp => return self.help(rest),
            _ => {}
        }
        if hmp {
            if trimmed.is_empty() {
                return Ok(Reply::Nothing);
            }
            let arguments = serde_json::json!({"command-line": trimmed});
            return match self.call("human-monitor-command", Some(arguments))? {
                Value::String(text) => Ok(Reply::Text(text)),
                other => Ok(Reply::Return(other)),
            };
        }
        match lines::parse(text).map_err(LineFailure::line)? {
            Line::Empty => Ok(Reply::Nothing),
            Line::Command(command, words) => {
                let schema = self.refresh_schema()?;
                let input =
                    args::parse_words(&words).map_err(|e| LineFailure::check(&command, e))?;
                let arguments = args::build(&schema, &command, input)
                    .map_err(|e| LineFailure::check(&command, e))?;
                self.call(&command, arguments).map(Reply::Return)
            }
            Line::Transaction(actions) => {
                let schema = self.refresh_schema()?;
                let arguments = transaction::arguments(&schema, actions)
                    .map_err(|e| LineFailure::check("transaction", e))?;
                self.call("transaction", Some(arguments)).map(Reply::Return)
            }
        }
    }

    /// `help` alone or `help COMMAND [TAG=VALUE]`.
    fn help(&self, rest: &str) -> Result<Reply, LineFailure> {
        let mut words = rest.split_whitespace();
        let Some(command) = words.next() else {
            return Ok(Reply::Text(help::shell_commands()));
        };
        let schema = self.refresh_schema()?;
        help::command(&schema, command, words.next())
            .map(Reply::Text)
            .map_err(|desc| LineFailure {
                class: "CommandNotFound".into(),
                desc,
                status: 2,
                from_qemu: false,
            })
    }

    /// `:reconnect`: a fresh connection to the same address.
    fn reconnect(&self) -> Result<Reply, LineFailure> {
        let Some(endpoint) = &self.endpoint else {
            return Err(LineFailure::line(
                "a launched QEMU cannot be reconnected to: its socket pair is gone with the connection".into(),
            ));
        };
        // Dropping a working connection would only race the supervisor to replace it.
        if self.client.state() == ConnectionState::Running {
            return Ok(Reply::Note(format!(
                "already connected to {}",
                describe(&self.client, endpoint)
            )));
        }
        self.runtime
            .block_on(connect::connect(&self.client, endpoint, &self.options))
            .map_err(LineFailure::from_failure)?;
        self.refresh_schema()?;
        Ok(Reply::Note(format!(
            "connected to {}",
            describe(&self.client, endpoint)
        )))
    }
}

/// Puts `schema` where completion reads it.
fn store(slot: &SharedSchema, schema: &Arc<LiveSchema>) {
    match slot.write() {
        Ok(mut guard) => *guard = Some(schema.clone()),
        Err(poisoned) => *poisoned.into_inner() = Some(schema.clone()),
    }
}

/// `unix:/path (QEMU 10.0.0)`.
fn describe(client: &Client, endpoint: &Endpoint) -> String {
    let at = match endpoint {
        Endpoint::Unix(path) => path.display().to_string(),
        Endpoint::Tcp(addr) => addr.clone(),
    };
    match client.greeting() {
        Some(g) => {
            let v = &g.version.qemu;
            format!("{at} (QEMU {}.{}.{})", v.major, v.minor, v.micro)
        }
        None => at,
    }
}

/// Where the history lives by default: `$XDG_STATE_HOME/qmp/history`, else
/// `~/.local/state/qmp/history`.
fn default_history() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })?;
    Some(state.join("qmp").join("history"))
}

/// Runs the shell: interactive when stdin is a terminal, else one command a line of it.
pub fn run(args: ShellArgs) -> Result<(), Failure> {
    let interactive = std::io::stdin().is_terminal();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| Failure::other(format!("cannot start the async runtime: {e}")))?;
    let colour = anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never;
    let hmp = Arc::new(AtomicBool::new(args.hmp));
    let schema: SharedSchema = Arc::new(RwLock::new(None));

    // The editor comes first: its external printer is where notices go from the start.
    let mut editor = if interactive {
        Some(editor(&schema, &hmp, colour)?)
    } else {
        None
    };
    // Known limit: with an external printer, rustyline 15 waits in select() without
    // looking at keys it has already read, so of several keys that arrive in one read
    // only the first shows until the next key (kkawakam/rustyline#976, fixed upstream by
    // #977 in releases that need a newer Rust than this workspace's 1.80).
    let notices = match editor.as_mut().map(|e| e.create_external_printer()) {
        Some(Ok(printer)) => printer_thread(printer, colour),
        // Output is not a terminal, or no editor: notices on stderr.
        _ => Notices::stderr(),
    };

    let print_events = match args.events {
        EventsWhen::Auto => interactive,
        EventsWhen::Always => true,
        EventsWhen::Never => false,
    };
    let (endpoint, launched, client, stream) = if args.launch {
        let (launched, ours) = Launched::spawn(&args.words, &notices)?;
        let client = connect::builder(&args.connect).build_without_endpoint();
        // Subscribed before connecting, so the first connection's events are not lost.
        let stream = runtime.block_on(async { client.subscribe_persistent(EventFilter::all()) });
        connect_launched(&runtime, &client, ours, &args.connect)?;
        (None, Some(launched), client, stream)
    } else {
        let (endpoint, rest) = address::split(&args.words, 0)?;
        if let Some(extra) = rest.first() {
            return Err(Failure::usage(format!(
                "unexpected `{extra}`: `qmp shell [ADDR]` takes an address only (commands are typed in the shell)"
            )));
        }
        let client = connect::builder(&args.connect).build(endpoint.clone());
        let stream = runtime.block_on(async { client.subscribe_persistent(EventFilter::all()) });
        runtime.block_on(connect::connect(&client, &endpoint, &args.connect))?;
        (Some(endpoint), None, client, stream)
    };
    let mut background = vec![runtime.spawn(print_events_task(
        stream,
        print_events,
        interactive,
        notices.clone(),
    ))];

    let session = Session {
        runtime,
        client,
        endpoint,
        options: args.connect.clone(),
        schema,
        hmp,
        interruptible: interactive,
    };
    // Completion wants the schema before the first TAB; a failure shows at the first command.
    let _ = session.refresh_schema();

    let outcome = match editor {
        Some(editor) => {
            if let (Some(endpoint), true) = (&session.endpoint, args.retries > 0) {
                let backoff = Backoff {
                    initial: Duration::from_secs_f64(args.retry_delay),
                    max: Duration::from_secs_f64(args.retry_delay),
                    attempts: args.retries,
                };
                background.push(session.runtime.spawn(supervise(
                    session.client.clone(),
                    endpoint.clone(),
                    args.connect.clone(),
                    backoff,
                    session.schema.clone(),
                    notices.clone(),
                )));
            } else {
                let message = if session.endpoint.is_some() {
                    "QEMU went away: `:reconnect` to connect again"
                } else {
                    "QEMU closed the connection: it has exited, or is exiting (Enter leaves)"
                };
                background.push(session.runtime.spawn(say_when_gone(
                    session.client.clone(),
                    notices.clone(),
                    message,
                )));
            }
            let history = args.history.clone().or_else(default_history);
            interactive_loop(&session, editor, history, launched, &background)
        }
        None => piped_loop(&session, launched, &background),
    };
    quiet(&background);
    let client = session.client.clone();
    session.runtime.block_on(client.close());
    outcome
}

/// Connects `client` to a launched QEMU over the shell's end of its socket pair.
fn connect_launched(
    runtime: &Runtime,
    client: &Client,
    ours: std::os::unix::net::UnixStream,
    options: &ConnectOptions,
) -> Result<(), Failure> {
    let connected = runtime.block_on(async {
        ours.set_nonblocking(true)?;
        let stream = tokio::net::UnixStream::from_std(ours)?;
        tokio::time::timeout(options.connect_timeout(), client.reconnect_with(stream))
            .await
            .map_err(|_| std::io::Error::other("it sent no QMP greeting in time"))?
            .map_err(std::io::Error::other)
    });
    connected.map_err(|e| Failure::connection(format!("cannot talk QMP to the launched QEMU: {e}")))
}

/// The line editor, with the shell's completion, validation and settings.
fn editor(
    schema: &SharedSchema,
    hmp: &Arc<AtomicBool>,
    colour: bool,
) -> Result<Editor<ShellHelper, FileHistory>, Failure> {
    let fail = |e: ReadlineError| Failure::other(format!("cannot start the line editor: {e}"));
    let config = Config::builder()
        .completion_type(CompletionType::List)
        // The candidates at the first Tab, as bash's show-all-if-ambiguous: rustyline
        // holds external prints while it waits for a second Tab, so an event arriving
        // then would wait for the next key.
        .completion_show_all_if_ambiguous(true)
        .auto_add_history(false)
        .history_ignore_dups(true)
        .map_err(fail)?
        .max_history_size(10_000)
        .map_err(fail)?
        .build();
    let mut editor: Editor<ShellHelper, FileHistory> = Editor::with_config(config).map_err(fail)?;
    editor.set_helper(Some(ShellHelper {
        schema: schema.clone(),
        hmp: hmp.clone(),
        colour,
    }));
    // Enter on an unfinished block adds a line instead of sending it.
    editor.set_auto_add_history(false);
    Ok(editor)
}

/// The thread that owns the external printer: notices come to it over a channel, so no
/// task blocks on the editor.
fn printer_thread(mut printer: impl ExternalPrinter + Send + 'static, colour: bool) -> Notices {
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in rx {
            let mut line = if colour {
                line
            } else {
                anstream::adapter::strip_str(&line).to_string()
            };
            // Between readlines the printer writes straight to the terminal, adding nothing.
            if !line.ends_with('\n') {
                line.push('\n');
            }
            if printer.print(line).is_err() {
                break;
            }
        }
    });
    Notices {
        to_printer: Some(tx),
    }
}

/// Prints events as they come: readable above the prompt, or JSON lines on stdout.
async fn print_events_task(
    mut stream: qemu_qmp::events::EventStream,
    print: bool,
    interactive: bool,
    notices: Notices,
) {
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) if print && interactive => notices.say(events::readable(&event)),
            Ok(event) if print => {
                // A closed stdout ends the piped loop too; the events have nowhere to go.
                let _ = out_line(&events::as_json_line(&event));
            }
            Ok(_) => {}
            Err(Gap::Lagged { missed }) if print => notices.say(format!(
                "({missed} events were missed: the shell fell behind)"
            )),
            // A lost connection is the supervisor's to tell.
            Err(_) => {}
        }
    }
}

/// Tells when QEMU goes away and reconnects, with `backoff`; after giving up, waits for a
/// `:reconnect` to succeed and watches again.
async fn supervise(
    client: Client,
    endpoint: Endpoint,
    options: ConnectOptions,
    backoff: Backoff,
    schema: SharedSchema,
    notices: Notices,
) {
    let warn = Style::new().fg_color(Some(AnsiColor::Yellow.into()));
    let mut state = client.watch_state();
    loop {
        if state
            .wait_for(|s| *s == ConnectionState::Closed)
            .await
            .is_err()
        {
            return;
        }
        notices.say(format!(
            "{warn}QEMU went away ({}): reconnecting ({} tries, every {:.1}s)...{warn:#}",
            describe(&client, &endpoint),
            backoff.attempts,
            backoff.initial.as_secs_f64()
        ));
        match client.reconnect_with_backoff(backoff).await {
            Ok(()) => {
                if let Ok(fresh) = exec::schema_of(&client).await {
                    store(&schema, &fresh);
                }
                notices.say(format!(
                    "{warn}reconnected to {}{warn:#}",
                    describe(&client, &endpoint)
                ));
            }
            Err(e) => {
                let why = connect::explain(&endpoint, options.connect_timeout(), e);
                notices.say(format!(
                    "{warn}gave up reconnecting after {} tries: {} (`:reconnect` tries again){warn:#}",
                    backoff.attempts, why.message
                ));
                // `:reconnect` connects from the main thread; watch again once it has.
                if state
                    .wait_for(|s| *s == ConnectionState::Running)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

/// Without reconnection (`--retries 0`, or a launched QEMU): only tells, in `message`,
/// when QEMU goes away.
async fn say_when_gone(client: Client, notices: Notices, message: &'static str) {
    let warn = Style::new().fg_color(Some(AnsiColor::Yellow.into()));
    let mut state = client.watch_state();
    loop {
        if state
            .wait_for(|s| *s == ConnectionState::Closed)
            .await
            .is_err()
        {
            return;
        }
        notices.say(format!("{warn}{message}{warn:#}"));
        if state
            .wait_for(|s| *s == ConnectionState::Running)
            .await
            .is_err()
        {
            return;
        }
    }
}

/// The terminal: lines from the editor, answers printed for a person.
fn interactive_loop(
    session: &Session,
    mut editor: Editor<ShellHelper, FileHistory>,
    history: Option<PathBuf>,
    mut launched: Option<Launched>,
    background: &[tokio::task::JoinHandle<()>],
) -> Result<(), Failure> {
    let warn = Style::new().fg_color(Some(AnsiColor::Yellow.into()));
    let dim = Style::new().dimmed();
    if let Some(path) = &history {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match editor.load_history(path) {
            Ok(()) => {}
            Err(ReadlineError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => err_line(&format!(
                "{warn}warning:{warn:#} cannot read the history {}: {e}",
                path.display()
            )),
        }
    }
    let connected_to = match &session.endpoint {
        Some(endpoint) => describe(&session.client, endpoint),
        None => match &launched {
            Some(l) => format!("the QEMU it launched (pid {})", l.pid()),
            None => "QEMU".into(),
        },
    };
    let _ = out_line(&format!(
        "{dim}connected to {connected_to}; `help` for the shell's commands, TAB completes, Ctrl-D leaves{dim:#}"
    ));
    let mut history_warned = false;
    loop {
        let prompt = if session.hmp.load(Ordering::Relaxed) {
            "(hmp) "
        } else {
            "(qmp) "
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            // Ctrl-C drops the line being typed, as in a shell.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                quiet(background);
                end_launched(session, launched.as_mut());
                return Err(Failure::other(format!("the line editor failed: {e}")));
            }
        };
        if !line.trim().is_empty() {
            let _ = editor.add_history_entry(line.as_str());
            if let Some(path) = &history {
                if let Err(e) = editor.append_history(path) {
                    if !history_warned {
                        err_line(&format!(
                            "{warn}warning:{warn:#} cannot write the history {}: {e}",
                            path.display()
                        ));
                        history_warned = true;
                    }
                }
            }
        }
        match session.run_line(&line) {
            Ok(Reply::Leave) => break,
            Ok(Reply::Return(value)) => {
                let _ = out_line(&output::json(&value, false));
            }
            Ok(Reply::Text(text)) => {
                let _ = out_line(text.strip_suffix('\n').unwrap_or(&text));
            }
            Ok(Reply::Note(note)) => {
                let _ = out_line(&format!("{dim}{note}{dim:#}"));
            }
            Ok(Reply::Nothing) => {}
            Err(failure) => failure.print(),
        }
        if let Some(child) = launched.as_mut() {
            // After `quit` QEMU takes a moment to exit; otherwise only look.
            let grace = if line.trim() == "quit" {
                Duration::from_secs(2)
            } else {
                Duration::ZERO
            };
            if let Some(status) = child.exited_within(grace) {
                let _ = out_line(&format!("{dim}QEMU exited ({status}){dim:#}"));
                break;
            }
        }
    }
    quiet(background);
    end_launched(session, launched.as_mut());
    Ok(())
}

/// Stops the background tasks: leaving, the shell has nothing more to tell (not QEMU's
/// own SHUTDOWN, nor that the connection it is closing went away).
fn quiet(background: &[tokio::task::JoinHandle<()>]) {
    for task in background {
        task.abort();
    }
}

/// Ends a launched QEMU: `quit` first, so it exits cleanly, then a kill if it lingers.
fn end_launched(session: &Session, launched: Option<&mut Launched>) {
    let Some(child) = launched else {
        return;
    };
    if child.exited_within(Duration::ZERO).is_none() {
        let quit = session
            .client
            .execute_raw("quit", None)
            .timeout(Duration::from_secs(2));
        let _ = session.runtime.block_on(quit);
        if child.exited_within(Duration::from_secs(3)).is_none() {
            child.kill();
        }
    }
}

/// Piped input: one command a line (blocks may span lines), one JSON line an answer.
fn piped_loop(
    session: &Session,
    mut launched: Option<Launched>,
    background: &[tokio::task::JoinHandle<()>],
) -> Result<(), Failure> {
    let mut worst: u8 = 0;
    let (mut failed, mut answered) = (0usize, 0usize);
    let mut pending = String::new();
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut bytes = Vec::new();
    let mut number = 0usize;
    loop {
        bytes.clear();
        match input.read_until(b'\n', &mut bytes) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                quiet(background);
                end_launched(session, launched.as_mut());
                return Err(Failure::other(format!("cannot read stdin: {e}")));
            }
        }
        number += 1;
        let Ok(line) = std::str::from_utf8(&bytes) else {
            // One bad line is that line's failure; the script goes on.
            let failure = LineFailure::line(format!("line {number} is not UTF-8 text"));
            worst = worst.max(failure.status);
            failed += 1;
            answered += 1;
            pending.clear();
            if out_line(&output::json(&failure.json(), true)).is_err() {
                break;
            }
            continue;
        };
        let line = line.trim_end_matches(['\n', '\r']);
        if !pending.is_empty() {
            pending.push('\n');
        }
        pending.push_str(line);
        if !session.hmp.load(Ordering::Relaxed) && lines::incomplete(&pending) {
            continue;
        }
        let text = std::mem::take(&mut pending);
        let answer = match session.run_line(&text) {
            Ok(Reply::Leave) => break,
            Ok(Reply::Nothing) => continue,
            Ok(Reply::Return(value)) => serde_json::json!({ "return": value }),
            Ok(Reply::Text(text)) => serde_json::json!({
                "return": anstream::adapter::strip_str(&text).to_string()
            }),
            Ok(Reply::Note(_)) => serde_json::json!({ "return": {} }),
            Err(failure) => {
                worst = worst.max(failure.status);
                failed += 1;
                failure.json()
            }
        };
        answered += 1;
        // Nobody reads the answers any more (`| head`): stop, as a filter does.
        if out_line(&output::json(&answer, true)).is_err() {
            break;
        }
    }
    if !pending.trim().is_empty() {
        let failure = LineFailure::line(
            "the input ended inside a quote, JSON or a `transaction(` block".into(),
        );
        worst = worst.max(failure.status);
        failed += 1;
        answered += 1;
        let _ = out_line(&output::json(&failure.json(), true));
    }
    quiet(background);
    end_launched(session, launched.as_mut());
    match worst {
        0 => Ok(()),
        status => Err(Failure {
            kind: match status {
                1 => FailureKind::Qmp,
                2 => FailureKind::Usage,
                _ => FailureKind::Connection,
            },
            message: format!("{failed} of {answered} commands failed (see their error lines)"),
        }),
    }
}
