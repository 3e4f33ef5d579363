//! `emoedge`: emotion recognition on the device.
//!
//! Subcommands:
//! - `run`: the real-time loop (camera, microphone, fusion, LEDs, log);
//! - `demo`: the loop on the bundled replay, LEDs drawn in the terminal;
//! - `check`: self-test of the board profile, model files, camera,
//!   microphone and LEDs;
//! - `log summary`: time per emotion, visits and a timeline of a log;
//! - `bench`: the latency of each stage on this board, single-threaded.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use emoedge_device::board;
use emoedge_device::check::{run_checks, CheckOptions};
use emoedge_device::clock::SystemClock;
use emoedge_device::runner::report::{Console, Reporter};
use emoedge_device::runner::setup::{self, RunSetup};
use emoedge_device::runner::{signal, Pacing};
use emoedge_device::source::{CameraSpec, LedsSpec, MicSpec};
use emoedge_device::summary;

/// Frame rate of the bundled demo replay.
const DEMO_FPS: f32 = 8.0;

/// Emotion recognition from face and voice on a Raspberry Pi.
#[derive(Debug, Parser)]
#[command(name = "emoedge", version, about)]
struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Live recognition: camera and microphone in, LEDs and the offline
    /// log out, until SIGTERM/Ctrl-C, the end of replayed input or
    /// --duration.
    Run(RunArgs),
    /// The whole loop on the bundled replay (photos and a synthetic speech
    /// clip), LEDs drawn in the terminal; needs nothing but the repository.
    Demo(DemoArgs),
    /// Self-test: board profile, model files, camera, microphone, LEDs.
    /// Prints one line per check and exits non-zero if any fails.
    Check(SourceArgs),
    /// Offline log tools.
    #[command(subcommand)]
    Log(LogCommand),
    /// Latency of each stage (detector, face and voice models in int8 and
    /// f32, log-mel, fusion, a whole frame, a voice window) with the
    /// board's model files, single-threaded: median and p99 over
    /// --iterations runs after a warm-up.
    Bench(BenchArgs),
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// Time per emotion, visits, budget misses and source outages of a
    /// log; optionally the decision timeline as CSV and as a picture.
    Summary(SummaryArgs),
}

/// Where the device's inputs and outputs come from.
#[derive(Debug, Args)]
struct SourceArgs {
    /// Board profile: a name (pi3bplus, pi4, pi5, zero2w, host) looked up in
    /// the boards directories, or a path to a .toml file. Default: detected
    /// from /proc/device-tree/model.
    #[arg(long, value_name = "NAME|FILE")]
    board: Option<String>,

    /// Camera: v4l2:/dev/videoN, replay:PATH (options: ?fps=N|max, &loop=true|false)
    /// or none. Default: the board's camera.
    #[arg(long, value_name = "SPEC")]
    camera: Option<CameraSpec>,

    /// Microphone: alsa:NAME, replay:FILE (options: ?realtime=true|false, &loop=true|false)
    /// or none. Default: the board's microphone.
    #[arg(long, value_name = "SPEC")]
    mic: Option<MicSpec>,

    /// LEDs: rppal (GPIO, from the board profile) or sim (terminal).
    /// Default: rppal when the board has LEDs, else sim.
    #[arg(long, value_name = "rppal|sim")]
    leds: Option<LedsSpec>,
}

impl SourceArgs {
    fn board(&self) -> String {
        self.board
            .clone()
            .unwrap_or_else(|| board::detect_profile_name().to_string())
    }
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    sources: SourceArgs,

    /// Offline log (JSON Lines). Default: the board's log.path.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,

    /// Stop after this many seconds (of replay time with --fast).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,

    /// Pace by the system clock (the default): live devices, replays at
    /// their own rate.
    #[arg(long, conflicts_with = "fast")]
    realtime: bool,

    /// Run replayed input as fast as possible on a simulated clock that
    /// follows the frames' timestamps (replay sources only).
    #[arg(long)]
    fast: bool,

    /// Print only events, not every change of decision.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Pace by the system clock (the demo takes its real length, about
    /// 8 s) instead of running as fast as possible.
    #[arg(long)]
    realtime: bool,

    /// Offline log of the demo (appended to). Default: emoedge-demo.jsonl
    /// in the temporary directory, replaced on each run.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,

    /// Board profile (default: host).
    #[arg(long, value_name = "NAME|FILE", default_value = "host")]
    board: String,

    /// Folder with the demo replay (frames/ and speech.flac). Default: the
    /// installed or repository copy.
    #[arg(long, value_name = "DIR")]
    assets: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct SummaryArgs {
    /// Log files (JSON Lines), rotated ones first (events.jsonl.2
    /// events.jsonl.1 events.jsonl).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,

    /// Write the decision timeline as CSV.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,

    /// Draw the timeline as a PNG picture.
    #[arg(long, value_name = "FILE.png")]
    plot: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Board profile whose model files are measured: a name or a .toml
    /// file. Default: detected from /proc/device-tree/model.
    #[arg(long, value_name = "NAME|FILE")]
    board: Option<String>,

    /// Also write the results as JSON to FILE (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,

    /// Timed iterations per stage (after a tenth as many warm-up ones).
    #[arg(long, value_name = "N", default_value_t = emoedge_device::bench::DEFAULT_ITERATIONS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    iterations: usize,

    /// Only these stages (comma-separated names, e.g.
    /// face_int8,face_f32). Default: all.
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    stages: Vec<String>,
}

fn init_logging(verbose: u8) {
    // The audio decoder logs what our own one-line errors already say
    // (e.g. "probe reach EOF"): heard from -vv on, like tract's CPU probe.
    let level = match verbose {
        // tract_linalg warns when /proc/cpuinfo lacks a "Features" line
        // (qemu-user, some kernels); it then uses its portable kernels.
        0 => "warn,symphonia=off,tract_linalg=error",
        1 => "info,symphonia=off,tract_linalg=error",
        2 => "debug",
        _ => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp_millis()
        .init();
}

fn check(args: &SourceArgs) -> Result<ExitCode> {
    let opts = CheckOptions {
        board: args.board(),
        camera: args.camera.clone(),
        mic: args.mic.clone(),
        leds: args.leds,
    };
    let lines = run_checks(&opts, SystemClock::new());
    for l in &lines {
        println!("{l}");
    }
    let failed = lines.iter().filter(|l| l.status.is_failure()).count();
    if failed > 0 {
        println!("{failed} check(s) failed");
        Ok(ExitCode::FAILURE)
    } else {
        println!("all checks passed");
        Ok(ExitCode::SUCCESS)
    }
}

fn duration(seconds: Option<f64>) -> Result<Option<Duration>> {
    match seconds {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 => Ok(Some(Duration::from_secs_f64(s))),
        Some(s) => bail!("--duration {s} is not a positive number of seconds"),
    }
}

fn run(args: &RunArgs) -> Result<ExitCode> {
    let setup = RunSetup {
        board: args.sources.board(),
        camera: args.sources.camera.clone(),
        mic: args.sources.mic.clone(),
        leds: args.sources.leds,
        log: args.log.clone(),
        duration: duration(args.duration)?,
        pacing: if args.fast {
            Pacing::Fast
        } else {
            Pacing::Realtime
        },
    };
    signal::install()?;
    let reporter: Box<dyn Reporter> = Box::new(Console::new(std::io::stdout(), None));
    let reporter = if args.quiet {
        Box::new(QuietConsole(reporter))
    } else {
        reporter
    };
    let stop = setup::run(&setup, reporter, &signal::STOP)?;
    if stop.log_dropped > 0 {
        eprintln!(
            "warning: {} log records could not be written (see the messages above)",
            stop.log_dropped
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Passes records through, no decision lines.
struct QuietConsole(Box<dyn Reporter>);

impl Reporter for QuietConsole {
    fn record(&mut self, r: &emoedge_device::pipeline::record::Record) {
        self.0.record(r);
    }
    fn step(&mut self, _step: &emoedge_device::pipeline::Step) {}
}

fn demo(args: &DemoArgs) -> Result<ExitCode> {
    let assets = setup::find_demo_assets(args.assets.as_deref())?;
    let log = match &args.log {
        // Appended to, like `run`'s log: the summary covers every run in it.
        Some(log) => log.clone(),
        None => {
            // A fresh temporary log, so the summary is this demo's alone.
            let log = std::env::temp_dir().join("emoedge-demo.jsonl");
            match std::fs::remove_file(&log) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    bail!("cannot replace the demo log {}: {e}", log.display())
                }
                _ => log,
            }
        }
    };
    let frames = assets.join("frames");
    let speech = assets.join("speech.flac");
    println!("emoedge demo: the whole loop on a bundled replay");
    println!(
        "  frames {} ({DEMO_FPS} fps), speech {}",
        frames.display(),
        speech.display()
    );
    println!(
        "  pacing: {}",
        if args.realtime {
            "real time"
        } else {
            "as fast as possible (--realtime for real time)"
        }
    );
    println!(
        "  the [leds] lines are the simulated LEDs; the log is {}",
        log.display()
    );
    println!();
    let setup = RunSetup {
        board: args.board.clone(),
        camera: Some(CameraSpec::Replay {
            path: frames,
            fps: Some(Some(DEMO_FPS)),
            looping: Some(false),
        }),
        mic: Some(MicSpec::Replay {
            path: speech,
            realtime: args.realtime,
            looping: false,
        }),
        leds: Some(LedsSpec::Sim),
        log: Some(log.clone()),
        duration: None,
        pacing: if args.realtime {
            Pacing::Realtime
        } else {
            Pacing::Fast
        },
    };
    signal::install()?;
    let reporter = Box::new(Console::new(std::io::stdout(), Some(1000)));
    setup::run(&setup, reporter, &signal::STOP)?;
    println!();
    println!("summary (emoedge log summary {}):", log.display());
    let files = vec![log];
    let s = summary::summarize(&files)?;
    summary::print(&s, &files, &mut std::io::stdout())?;
    Ok(ExitCode::SUCCESS)
}

fn log_summary(args: &SummaryArgs) -> Result<ExitCode> {
    let s = summary::summarize(&args.files)?;
    summary::print(&s, &args.files, &mut std::io::stdout())?;
    if let Some(csv) = &args.csv {
        summary::write_csv(&s, csv)?;
        println!("timeline written to {}", csv.display());
    }
    if let Some(png) = &args.plot {
        summary::plot(&s, png)?;
        println!("timeline picture written to {}", png.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn bench(args: &BenchArgs) -> Result<ExitCode> {
    use emoedge_device::bench::{self as b, BenchModels, BenchOptions};
    let name = args
        .board
        .clone()
        .unwrap_or_else(|| board::detect_profile_name().to_string());
    let profile = board::BoardProfile::load(&name)?;
    let to_stdout = args.json.as_deref() == Some(std::path::Path::new("-"));
    // With the JSON on standard output, everything else goes to stderr.
    let mut out: Box<dyn std::io::Write> = if to_stdout {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let opts = BenchOptions {
        only: args.stages.clone(),
        ..BenchOptions::new(args.iterations)
    };
    writeln!(
        out,
        "emoedge bench: board {} ({}), models {} ({}), {} iterations per stage after {} warm-up, one thread",
        profile.name,
        profile.source.display(),
        profile.model_paths().face.parent().map(|p| p.display().to_string()).unwrap_or_default(),
        profile.models.precision,
        opts.iterations,
        opts.warmup
    )?;
    let models = BenchModels::from_profile(&profile)?;
    let (report, notes) = b::run(&models, &profile, &opts, |stage| {
        if std::io::stderr().is_terminal() {
            eprint!("\r\x1b[2K  measuring {stage} ...");
        }
    })?;
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
    for n in &notes {
        writeln!(out, "note: {n}")?;
    }
    writeln!(out, "cpu: {}", report.cpu)?;
    writeln!(
        out,
        "{:<16} {:>10} {:>10} {:>10}",
        "stage", "median ms", "p99 ms", "budget ms"
    )?;
    for name in b::STAGE_NAMES {
        let Some(t) = report.stages.get(*name) else {
            continue;
        };
        let budget = b::stage_budget_ms(&profile, name)
            .map(|ms| {
                let over = if t.p99_ms > ms { " (p99 over)" } else { "" };
                format!("{ms:.0}{over}")
            })
            .unwrap_or_default();
        writeln!(
            out,
            "{name:<16} {:>10} {:>10} {budget:>10}",
            ms(t.median_ms),
            ms(t.p99_ms)
        )?;
    }
    writeln!(
        out,
        "peak RSS: {:.1} MB, threads: {}",
        report.peak_rss_mb, report.threads
    )?;
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        if to_stdout {
            println!("{json}");
        } else {
            std::fs::write(path, json + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
            writeln!(out, "results written to {}", path.display())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Milliseconds for the table: six decimals below 0.01 ms (0.000431),
/// else three (4.623).
fn ms(v: f64) -> String {
    if v < 0.01 {
        format!("{v:.6}")
    } else {
        format!("{v:.3}")
    }
}

/// clap's error for a bad command line as one line (its message, without
/// the usage block), like every other error of `emoedge`.
fn one_line_usage_error(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    let msg = lines.join(" ");
    let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
    format!("error: {msg} (see `emoedge --help`)")
}

/// The cause chain joined by ": ", skipping a cause whose text the line
/// already holds (library errors that quote their source in their own
/// message would otherwise print it twice).
fn one_line_error(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help, --version, and the help shown for a missing subcommand.
        Err(e)
            if !e.use_stderr()
                || e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            e.exit()
        }
        Err(e) => {
            eprintln!("{}", one_line_usage_error(&e));
            return ExitCode::from(2);
        }
    };
    init_logging(cli.verbose);
    let result = match &cli.command {
        Command::Check(args) => check(args),
        Command::Run(args) => run(args),
        Command::Demo(args) => demo(args),
        Command::Log(LogCommand::Summary(args)) => log_summary(args),
        Command::Bench(args) => bench(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // One line: the cause chain joined, never a panic or a backtrace.
            let msg = one_line_error(&e);
            if std::io::stderr().is_terminal() {
                eprintln!("\x1b[1;31merror:\x1b[0m {msg}");
            } else {
                eprintln!("error: {msg}");
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::one_line_error;
    use anyhow::Context;

    /// An error that quotes its source in its own message, as the
    /// runtime's errors do.
    #[derive(Debug)]
    struct Quoting(std::io::Error);

    impl std::fmt::Display for Quoting {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "model file m.emo: {}", self.0)
        }
    }

    impl std::error::Error for Quoting {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_quoted_cause_is_said_once() {
        let io = std::io::Error::other("disk full");
        let e = Err::<(), _>(Quoting(io)).context("saving").unwrap_err();
        assert_eq!(one_line_error(&e), "saving: model file m.emo: disk full");
    }

    #[test]
    fn distinct_causes_are_joined_on_one_line() {
        let e = Err::<(), _>(std::io::Error::other("no such\nfile"))
            .context("camera /dev/video0")
            .unwrap_err();
        assert_eq!(one_line_error(&e), "camera /dev/video0: no such file");
    }
}
