//! `emoedge`: emotion recognition on the device.
//!
//! Subcommands:
//! - `check`: self-test of the board profile, model files, camera,
//!   microphone and LEDs.
//!
//! The real-time loop (`run`), `demo` and `log summary` are added as further
//! variants of [`Command`], each in its own function, sharing the source
//! flags of [`SourceArgs`].

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use emoedge_device::board;
use emoedge_device::check::{run_checks, CheckOptions};
use emoedge_device::clock::SystemClock;
use emoedge_device::source::{CameraSpec, LedsSpec, MicSpec};

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
    /// Self-test: board profile, model files, camera, microphone, LEDs.
    /// Prints one line per check and exits non-zero if any fails.
    Check(SourceArgs),
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

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
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

fn main() -> Result<ExitCode> {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match &cli.command {
        Command::Check(args) => check(args),
    }
}
