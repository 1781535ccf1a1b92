//! Command line and environment: `foster [OPTIONS] [--] COMMAND [ARG...]`.
//!
//! Every option has an environment variable so that an image can set it
//! without touching its CMD; an option on the command line wins over its
//! variable. Parsing stops at the first argument that is not an option (no
//! permutation: `foster sh -c 'x'` never reads `-c` as foster's).

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::status::ExpectedStatuses;

pub const USAGE: &str = "\
usage: foster [OPTIONS] [--] COMMAND [ARG...]
       foster --services DIR [OPTIONS] [[--] COMMAND [ARG...]]
       foster --check [--services DIR]

Runs COMMAND as the child of an init: reaps every zombie, forwards signals,
and exits with the child's status. With --services, runs every unit in DIR
as well, and COMMAND (if given) once they are up.

options (each with its environment variable):
      --services DIR      run the units in DIR (FOSTER_SERVICES; default
                          /etc/foster/services.d when it exists)
      --check             check the units, print every problem, exit 1 if any
      --pidfile FILE      COMMAND daemonizes: follow the daemon FILE names,
                          forward signals to it and exit with its status
                          (FOSTER_PIDFILE)
      --socket PATH       control socket for fosterctl (FOSTER_SOCKET; default
                          /run/foster/control.sock, opened with --services)
      --no-cgroups        no cgroup per service, even where cgroup v2 is
                          writable (FOSTER_NO_CGROUPS=1)
      --limit NAME=VALUE  resource limit of COMMAND (nofile, nproc, core,
                          memlock, stack, ...; VALUE is N or SOFT:HARD, with
                          K, M, G, T or infinity); repeatable
                          (FOSTER_LIMITS=nofile=1024:524288,core=0)
      --listen [NAME=]SPEC  bind SPEC (PORT, ADDR:PORT, [V6]:PORT, /path,
                          @name) and give it to COMMAND as fd 3, 4, ... with
                          LISTEN_FDS; repeatable (FOSTER_LISTEN=80,443)
  -g, --process-group     forward signals to the child's process group
                          (FOSTER_KILL_PROCESS_GROUP=1)
  -e, --expect-exit CODE  map exit status CODE to 0; repeatable
                          (FOSTER_EXPECT_EXIT=143,130)
      --grace DURATION    how long descendants left behind by the child get
                          between SIGTERM and SIGKILL; default 5s
                          (FOSTER_GRACE=5s)
  -p, --pdeathsig SIGNAL  signal foster receives when its parent dies
                          (FOSTER_PDEATHSIG=TERM)
  -w, --warn-on-reap      log every orphan reaped (FOSTER_WARN_ON_REAP=1)
  -v, --verbose           more log output; repeatable (FOSTER_VERBOSITY=N;
                          FOSTER_LOG=debug sets the filter directly)
      --log-timestamps    an RFC 3339 UTC time before foster's lines and
                          relayed ones; default on as a VM's init, off
                          elsewhere (FOSTER_LOG_TIMESTAMPS=1, =0 for off)
  -s, --subreaper         accepted for tini compatibility; foster always
                          becomes a subreaper when it is not PID 1
  -h, --help              this help
  -V, --version           foster's version
";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Request {
    Run(Options),
    /// `--check`: validate this services directory.
    Check(PathBuf),
    Help,
    Version,
}

/// Settings for running one command.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub command: Vec<OsString>,
    pub process_group: bool,
    pub expected: ExpectedStatuses,
    pub grace: Duration,
    pub pdeathsig: Option<i32>,
    pub verbosity: u8,
    pub warn_on_reap: bool,
    /// Never make a cgroup per service.
    pub no_cgroups: bool,
    /// The services directory, if any.
    pub services: Option<PathBuf>,
    /// The control socket, when given explicitly.
    pub socket: Option<PathBuf>,
    /// One-command mode following a self-daemonizing COMMAND through this
    /// pidfile.
    pub pidfile: Option<PathBuf>,
    /// Sockets foster binds and gives the command (`--listen`).
    pub listen: Vec<crate::unit::SocketSpec>,
    /// Resource limits the command gets (`--limit`), in order.
    pub limits: Vec<crate::unit::Rlimit>,
    /// Timestamps before foster's lines and relayed lines
    /// (`--log-timestamps`, `FOSTER_LOG_TIMESTAMPS`); `None`: on as a
    /// VM's init (its console has none), off elsewhere (Docker and
    /// Kubernetes add their own).
    pub log_timestamps: Option<bool>,
}

/// Where units are looked for when neither `--services` nor
/// `FOSTER_SERVICES` says.
pub const DEFAULT_SERVICES: &str = "/etc/foster/services.d";

impl Default for Options {
    fn default() -> Options {
        Options {
            command: Vec::new(),
            process_group: false,
            expected: ExpectedStatuses::default(),
            grace: Duration::from_secs(5),
            pdeathsig: None,
            verbosity: 0,
            warn_on_reap: false,
            no_cgroups: false,
            services: None,
            socket: None,
            pidfile: None,
            listen: Vec::new(),
            limits: Vec::new(),
            log_timestamps: None,
        }
    }
}

/// A command line or environment foster cannot run with (exit status 2).
#[derive(Debug, PartialEq)]
pub enum UsageError {
    NoCommand,
    UnknownOption(String),
    MissingValue(String),
    BadValue { option: String, message: String },
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::NoCommand => f.write_str("no command given"),
            UsageError::UnknownOption(o) => write!(f, "unknown option {o}"),
            UsageError::MissingValue(o) => write!(f, "option {o} needs a value"),
            UsageError::BadValue { option, message } => write!(f, "{option}: {message}"),
        }
    }
}

/// Parses the arguments after `argv[0]`, with `env` looking up variables.
pub fn parse(
    args: &[OsString],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Request, UsageError> {
    parse_with_default(args, env, Path::new(DEFAULT_SERVICES).is_dir())
}

/// [`parse`], told whether the default services directory exists (pure:
/// for the tests and the fuzz target).
pub fn parse_with_default(
    args: &[OsString],
    env: &dyn Fn(&str) -> Option<OsString>,
    default_services_exists: bool,
) -> Result<Request, UsageError> {
    let mut opts = Options::default();
    let mut check = false;
    apply_environment(&mut opts, env)?;
    if let Some(dir) = env("FOSTER_SERVICES").filter(|d| !d.is_empty()) {
        opts.services = Some(PathBuf::from(dir));
    }
    if let Some(path) = env(crate::control::SOCKET_VARIABLE).filter(|d| !d.is_empty()) {
        opts.socket = Some(PathBuf::from(path));
    }
    if let Some(path) = env("FOSTER_PIDFILE").filter(|d| !d.is_empty()) {
        opts.pidfile = Some(PathBuf::from(path));
    }
    if let Some(list) = env("FOSTER_LISTEN").and_then(|l| l.into_string().ok()) {
        for spec in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            opts.listen.push(listen_spec("FOSTER_LISTEN", spec)?);
        }
    }
    if let Some(list) = env("FOSTER_LIMITS").and_then(|l| l.into_string().ok()) {
        for limit in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            opts.limits.push(limit_spec("FOSTER_LIMITS", limit)?);
        }
    }
    // The command line's --listen and --limit replace the variable's list.
    let mut listen_given = false;
    let mut limits_given = false;

    let mut i = 0;
    while let Some(arg) = args.get(i) {
        i += 1;
        let Some(text) = arg.to_str() else {
            // Not UTF-8: cannot be one of our options, so it is the command.
            i -= 1;
            break;
        };
        if text == "--" {
            break;
        }
        if let Some(long) = text.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let option = format!("--{name}");
            match name {
                "help" => return Ok(Request::Help),
                "version" => return Ok(Request::Version),
                "check" => check = true,
                "services" | "socket" | "pidfile" => {
                    let value = match inline {
                        Some(v) => v,
                        None => take_value(args, &mut i, &option)?,
                    };
                    let slot = match name {
                        "services" => &mut opts.services,
                        "socket" => &mut opts.socket,
                        _ => &mut opts.pidfile,
                    };
                    *slot = Some(PathBuf::from(value));
                }
                "process-group" | "subreaper" | "verbose" | "warn-on-reap" | "no-cgroups"
                | "log-timestamps" => {
                    if inline.is_some() {
                        return Err(UsageError::BadValue {
                            option,
                            message: "takes no value".into(),
                        });
                    }
                    apply_flag(&mut opts, name);
                }
                "expect-exit" | "grace" | "pdeathsig" => {
                    let value = match inline {
                        Some(v) => v,
                        None => take_value(args, &mut i, &option)?,
                    };
                    apply_value(&mut opts, &option, &value)?;
                }
                "listen" => {
                    let value = match inline {
                        Some(v) => v,
                        None => take_value(args, &mut i, &option)?,
                    };
                    if !listen_given {
                        opts.listen.clear();
                        listen_given = true;
                    }
                    opts.listen.push(listen_spec(&option, &value)?);
                }
                "limit" => {
                    let value = match inline {
                        Some(v) => v,
                        None => take_value(args, &mut i, &option)?,
                    };
                    if !limits_given {
                        opts.limits.clear();
                        limits_given = true;
                    }
                    opts.limits.push(limit_spec(&option, &value)?);
                }
                _ => return Err(UsageError::UnknownOption(option)),
            }
            continue;
        }
        if let Some(cluster) = text.strip_prefix('-')
            && !cluster.is_empty()
        {
            for (pos, c) in cluster.char_indices() {
                let option = format!("-{c}");
                match c {
                    'h' => return Ok(Request::Help),
                    'V' => return Ok(Request::Version),
                    'g' => apply_flag(&mut opts, "process-group"),
                    's' => apply_flag(&mut opts, "subreaper"),
                    'v' => apply_flag(&mut opts, "verbose"),
                    'w' => apply_flag(&mut opts, "warn-on-reap"),
                    'e' | 'p' => {
                        let attached = cluster.get(pos + c.len_utf8()..).unwrap_or_default();
                        let value = if attached.is_empty() {
                            take_value(args, &mut i, &option)?
                        } else {
                            attached.to_string()
                        };
                        apply_value(&mut opts, &option, &value)?;
                        break;
                    }
                    _ => return Err(UsageError::UnknownOption(option)),
                }
            }
            continue;
        }
        // The first argument that is not an option starts the command.
        i -= 1;
        break;
    }
    opts.command = args.get(i..).unwrap_or_default().to_vec();
    if opts.services.is_none() && default_services_exists && opts.pidfile.is_none() {
        opts.services = Some(PathBuf::from(DEFAULT_SERVICES));
    }
    if check {
        return Ok(Request::Check(
            opts.services
                .unwrap_or_else(|| PathBuf::from(DEFAULT_SERVICES)),
        ));
    }
    if opts.command.is_empty() && opts.services.is_none() {
        return Err(UsageError::NoCommand);
    }
    if opts.command.is_empty() && !opts.limits.is_empty() {
        return Err(UsageError::BadValue {
            option: "--limit".into(),
            message: "applies to the one-command mode's COMMAND; units use `limits:`".into(),
        });
    }
    if let Some(pidfile) = &opts.pidfile {
        let bad = |message: &str| UsageError::BadValue {
            option: "--pidfile".into(),
            message: message.into(),
        };
        if opts.command.is_empty() {
            return Err(bad("needs the COMMAND that starts the daemon"));
        }
        if opts.services.is_some() {
            return Err(bad(
                "follows one command; for services, use a `type: forking` unit",
            ));
        }
        if !pidfile.is_absolute() {
            return Err(bad("must be an absolute path"));
        }
        if !opts.listen.is_empty() {
            return Err(bad(
                "a daemon followed through its pidfile does not take --listen sockets; use a `type: forking` unit with `sockets:`",
            ));
        }
    }
    Ok(Request::Run(opts))
}

/// `--limit NAME=VALUE`.
fn limit_spec(option: &str, value: &str) -> Result<crate::unit::Rlimit, UsageError> {
    crate::unit::parse_limit(value).map_err(|message| UsageError::BadValue {
        option: option.to_string(),
        message,
    })
}

/// `--listen [NAME=]SPEC`: a stream socket named NAME (default `listen`)
/// in `LISTEN_FDNAMES`.
fn listen_spec(option: &str, value: &str) -> Result<crate::unit::SocketSpec, UsageError> {
    let bad = |message: String| UsageError::BadValue {
        option: option.to_string(),
        message,
    };
    // A name is before an `=`, and a listen address holds none.
    let (name, spec) = match value.split_once('=') {
        Some((name, spec)) => (name, spec),
        None => ("listen", value),
    };
    if !crate::unit::valid_fd_name(name) {
        return Err(bad(format!(
            "\"{name}\" is not a LISTEN_FDNAMES name (ASCII, no `:` or control characters)"
        )));
    }
    let listen = crate::unit::parse_listen(spec).map_err(bad)?;
    Ok(crate::unit::SocketSpec {
        listen,
        kind: crate::unit::SocketKind::Stream,
        name: name.to_string(),
        backlog: crate::unit::DEFAULT_BACKLOG,
        mode: None,
    })
}

fn take_value(args: &[OsString], i: &mut usize, option: &str) -> Result<String, UsageError> {
    let value = args
        .get(*i)
        .and_then(|v| v.to_str())
        .ok_or_else(|| UsageError::MissingValue(option.to_string()))?;
    *i += 1;
    Ok(value.to_string())
}

fn apply_flag(opts: &mut Options, name: &str) {
    match name {
        "process-group" => opts.process_group = true,
        "verbose" => opts.verbosity = opts.verbosity.saturating_add(1),
        "warn-on-reap" => opts.warn_on_reap = true,
        "no-cgroups" => opts.no_cgroups = true,
        "log-timestamps" => opts.log_timestamps = Some(true),
        _ => {} // --subreaper: always on when not PID 1.
    }
}

fn apply_value(opts: &mut Options, option: &str, value: &str) -> Result<(), UsageError> {
    let bad = |message: String| UsageError::BadValue {
        option: option.to_string(),
        message,
    };
    match option {
        "-e" | "--expect-exit" | "FOSTER_EXPECT_EXIT" => {
            for code in value.split([',', ' ']).filter(|c| !c.is_empty()) {
                let code: u8 = code.parse().map_err(|_| {
                    bad(format!(
                        "invalid exit status \"{code}\" (expected 0 to 255)"
                    ))
                })?;
                opts.expected.insert(code);
            }
        }
        "--grace" | "FOSTER_GRACE" => {
            opts.grace = crate::duration::parse(value).map_err(|e| bad(e.to_string()))?;
        }
        "-p" | "--pdeathsig" | "FOSTER_PDEATHSIG" => {
            opts.pdeathsig = Some(crate::signal::parse(value).map_err(|e| bad(e.to_string()))?);
        }
        "FOSTER_VERBOSITY" => {
            opts.verbosity = value
                .trim()
                .parse()
                .map_err(|_| bad(format!("invalid verbosity \"{value}\" (expected a number)")))?;
        }
        _ => return Err(UsageError::UnknownOption(option.to_string())),
    }
    Ok(())
}

fn apply_environment(
    opts: &mut Options,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<(), UsageError> {
    let var = |name: &str| -> Result<Option<String>, UsageError> {
        match env(name) {
            None => Ok(None),
            Some(v) => v.into_string().map(Some).map_err(|_| UsageError::BadValue {
                option: name.to_string(),
                message: "is not valid UTF-8".into(),
            }),
        }
    };
    for name in [
        "FOSTER_EXPECT_EXIT",
        "FOSTER_GRACE",
        "FOSTER_PDEATHSIG",
        "FOSTER_VERBOSITY",
    ] {
        if let Some(value) = var(name)?
            && !value.is_empty()
        {
            apply_value(opts, name, &value)?;
        }
    }
    if let Some(v) = var("FOSTER_KILL_PROCESS_GROUP")? {
        opts.process_group = parse_bool("FOSTER_KILL_PROCESS_GROUP", &v)?;
    } else if env("TINI_KILL_PROCESS_GROUP").is_some() {
        // tini turns this on whenever the variable is set, whatever its value.
        opts.process_group = true;
    }
    if let Some(v) = var("FOSTER_WARN_ON_REAP")? {
        opts.warn_on_reap = parse_bool("FOSTER_WARN_ON_REAP", &v)?;
    }
    if let Some(v) = var("FOSTER_NO_CGROUPS")? {
        opts.no_cgroups = parse_bool("FOSTER_NO_CGROUPS", &v)?;
    }
    if let Some(v) = var("FOSTER_LOG_TIMESTAMPS")? {
        opts.log_timestamps = Some(parse_bool("FOSTER_LOG_TIMESTAMPS", &v)?);
    }
    if let Some(v) = var("FOSTER_SUBREAPER")? {
        parse_bool("FOSTER_SUBREAPER", &v)?;
    }
    Ok(())
}

fn parse_bool(name: &str, value: &str) -> Result<bool, UsageError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(UsageError::BadValue {
            option: name.to_string(),
            message: format!("invalid boolean \"{value}\" (expected 1 or 0, true or false)"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn no_env(_: &str) -> Option<OsString> {
        None
    }

    fn run(list: &[&str]) -> Options {
        match parse_with_default(&args(list), &no_env, false) {
            Ok(Request::Run(o)) => o,
            other => panic!("{list:?} gave {other:?}"),
        }
    }

    #[test]
    fn command_after_options() {
        let o = run(&[
            "-g", "-e", "143", "--grace", "500ms", "--", "sh", "-c", "exit 7",
        ]);
        assert!(o.process_group);
        assert_eq!(o.expected.map(143), 0);
        assert_eq!(o.grace, Duration::from_millis(500));
        assert_eq!(o.command, args(&["sh", "-c", "exit 7"]));
    }

    #[test]
    fn stops_at_first_non_option() {
        let o = run(&["sh", "-g", "--grace"]);
        assert!(!o.process_group);
        assert_eq!(o.command, args(&["sh", "-g", "--grace"]));
    }

    #[test]
    fn double_dash_twice_runs_a_command_named_double_dash() {
        assert_eq!(run(&["--", "--", "true"]).command, args(&["--", "true"]));
    }

    #[test]
    fn clusters_and_attached_values() {
        let o = run(&[
            "-vvs",
            "-e143",
            "-e",
            "130",
            "-pSIGKILL",
            "--grace=2s",
            "true",
        ]);
        assert_eq!(o.verbosity, 2);
        assert_eq!(o.expected.map(143), 0);
        assert_eq!(o.expected.map(130), 0);
        assert_eq!(o.pdeathsig, Some(9));
        assert_eq!(o.grace, Duration::from_secs(2));
    }

    #[test]
    fn errors_name_the_option() {
        let e = parse(&args(&["--grace", "soon", "true"]), &no_env).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--grace: invalid duration \"soon\" (expected e.g. 500ms, 3s, 1.5s, 2m, 1m30s)"
        );
        assert_eq!(
            parse(&args(&["-z", "true"]), &no_env).unwrap_err(),
            UsageError::UnknownOption("-z".into())
        );
        assert_eq!(
            parse(&args(&["--yolo", "true"]), &no_env).unwrap_err(),
            UsageError::UnknownOption("--yolo".into())
        );
        assert_eq!(
            parse(&args(&["-e"]), &no_env).unwrap_err(),
            UsageError::MissingValue("-e".into())
        );
        assert!(parse(&args(&["-e", "256", "true"]), &no_env).is_err());
        assert!(parse(&args(&["-p", "NOPE", "true"]), &no_env).is_err());
        assert_eq!(
            parse(&args(&[]), &no_env).unwrap_err(),
            UsageError::NoCommand
        );
        assert_eq!(
            parse(&args(&["-g", "--"]), &no_env).unwrap_err(),
            UsageError::NoCommand
        );
    }

    #[test]
    fn services_and_check() {
        let o = run(&["--services", "/srv/units", "--", "app"]);
        assert_eq!(o.services, Some(PathBuf::from("/srv/units")));
        assert_eq!(o.command, args(&["app"]));
        let o = run(&["--services=/x"]);
        assert_eq!(o.services, Some(PathBuf::from("/x")));
        assert!(o.command.is_empty());
        assert_eq!(
            parse_with_default(&args(&["--check", "--services", "d"]), &no_env, false),
            Ok(Request::Check(PathBuf::from("d")))
        );
        let env = |n: &str| (n == "FOSTER_SERVICES").then(|| OsString::from("/e"));
        assert_eq!(
            parse_with_default(&args(&["--check"]), &env, false),
            Ok(Request::Check(PathBuf::from("/e")))
        );
        // The default directory counts only when it exists.
        assert_eq!(
            parse_with_default(&args(&[]), &no_env, false),
            Err(UsageError::NoCommand)
        );
        let Ok(Request::Run(o)) = parse_with_default(&args(&[]), &no_env, true) else {
            panic!()
        };
        assert_eq!(o.services, Some(PathBuf::from(DEFAULT_SERVICES)));
    }

    #[test]
    fn pidfile_needs_a_command_and_no_services() {
        let o = run(&["--pidfile", "/run/d.pid", "--", "daemon"]);
        assert_eq!(o.pidfile, Some(PathBuf::from("/run/d.pid")));
        assert!(
            parse_with_default(
                &args(&["--pidfile", "/run/d.pid", "--services", "/x"]),
                &no_env,
                false
            )
            .is_err()
        );
        assert!(
            parse_with_default(&args(&["--pidfile", "relative.pid", "d"]), &no_env, false).is_err()
        );
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse(&args(&["-h"]), &no_env), Ok(Request::Help));
        assert_eq!(parse(&args(&["--version"]), &no_env), Ok(Request::Version));
    }

    #[test]
    fn environment_sets_defaults_and_options_win() {
        let env = |name: &str| -> Option<OsString> {
            match name {
                "FOSTER_GRACE" => Some("1m".into()),
                "FOSTER_KILL_PROCESS_GROUP" => Some("1".into()),
                "FOSTER_EXPECT_EXIT" => Some("143, 130".into()),
                "FOSTER_PDEATHSIG" => Some("USR1".into()),
                "FOSTER_VERBOSITY" => Some("3".into()),
                _ => None,
            }
        };
        let Ok(Request::Run(o)) = parse(&args(&["--grace", "2s", "true"]), &env) else {
            panic!("did not parse");
        };
        assert_eq!(o.grace, Duration::from_secs(2));
        assert!(o.process_group);
        assert_eq!(o.expected.map(130), 0);
        assert_eq!(o.pdeathsig, Some(10));
        assert_eq!(o.verbosity, 3);
    }

    #[test]
    fn bad_environment_is_a_usage_error() {
        let env = |name: &str| (name == "FOSTER_GRACE").then(|| OsString::from("soon"));
        assert!(matches!(
            parse(&args(&["true"]), &env),
            Err(UsageError::BadValue { option, .. }) if option == "FOSTER_GRACE"
        ));
        let env =
            |name: &str| (name == "FOSTER_KILL_PROCESS_GROUP").then(|| OsString::from("maybe"));
        assert!(parse(&args(&["true"]), &env).is_err());
    }

    #[test]
    fn tini_variable_is_honoured() {
        let env = |name: &str| (name == "TINI_KILL_PROCESS_GROUP").then(OsString::new);
        let Ok(Request::Run(o)) = parse(&args(&["true"]), &env) else {
            panic!("did not parse");
        };
        assert!(o.process_group);
    }

    #[test]
    fn listen_is_repeatable_named_and_replaces_foster_listen() {
        let env = |n: &str| (n == "FOSTER_LISTEN").then(|| OsString::from("80, web=/run/w.sock"));
        let Ok(Request::Run(o)) = parse_with_default(&args(&["--", "srv"]), &env, false) else {
            panic!("parses");
        };
        let got: Vec<(String, String)> = o
            .listen
            .iter()
            .map(|s| (s.name.clone(), s.listen.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                ("listen".to_string(), "80".to_string()),
                ("web".to_string(), "/run/w.sock".to_string())
            ]
        );
        let Ok(Request::Run(o)) = parse_with_default(
            &args(&["--listen", "127.0.0.1:81", "--listen=a=[::1]:82", "srv"]),
            &env,
            false,
        ) else {
            panic!("parses");
        };
        let got: Vec<String> = o
            .listen
            .iter()
            .map(|s| format!("{}={}", s.name, s.listen))
            .collect();
        assert_eq!(got, ["listen=127.0.0.1:81", "a=[::1]:82"]);
        let no_env = |_: &str| None;
        for bad in [
            &["--listen", "99999", "x"][..],
            &["--listen", "a:b=80", "x"],
            &["--listen"],
        ] {
            assert!(
                parse_with_default(&args(bad), &no_env, false).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn limit_is_repeatable_replaces_foster_limits_and_is_for_a_command() {
        use crate::unit::{INFINITY, Resource, Rlimit};
        let o = run(&["--limit", "nofile=1024:524288", "--limit=core=0", "x"]);
        assert_eq!(
            o.limits,
            [
                Rlimit {
                    resource: Resource::Nofile,
                    soft: 1024,
                    hard: 524288
                },
                Rlimit {
                    resource: Resource::Core,
                    soft: 0,
                    hard: 0
                }
            ]
        );
        let env =
            |n: &str| (n == "FOSTER_LIMITS").then(|| OsString::from("nproc=5, stack=8M:infinity"));
        let Ok(Request::Run(o)) = parse_with_default(&args(&["srv"]), &env, false) else {
            panic!("parses");
        };
        let got: Vec<(Resource, u64, u64)> = o
            .limits
            .iter()
            .map(|l| (l.resource, l.soft, l.hard))
            .collect();
        assert_eq!(
            got,
            [
                (Resource::Nproc, 5, 5),
                (Resource::Stack, 8 << 20, INFINITY)
            ]
        );
        let Ok(Request::Run(o)) =
            parse_with_default(&args(&["--limit", "core=1", "srv"]), &env, false)
        else {
            panic!("parses");
        };
        assert_eq!(o.limits.len(), 1);
        // With --services, for COMMAND as --listen is.
        let o = run(&["--services", "/s", "--limit", "nofile=64", "--", "x"]);
        assert_eq!(o.limits.len(), 1);
        let bad = |list: &[&str]| match parse_with_default(&args(list), &no_env, false) {
            Err(e) => e.to_string(),
            other => panic!("{list:?} gave {other:?}"),
        };
        assert_eq!(
            bad(&["--services", "/s", "--limit", "nofile=64"]),
            "--limit: applies to the one-command mode's COMMAND; units use `limits:`"
        );
        assert_eq!(
            bad(&["--limit", "nofile=2:1", "x"]),
            "--limit: nofile: the soft limit is above the hard one in \"2:1\" (SOFT:HARD)"
        );
        assert!(bad(&["--limit", "files=1", "x"]).starts_with("--limit: unknown limit \"files\""));
        assert_eq!(bad(&["--limit"]), "option --limit needs a value");
    }
}
