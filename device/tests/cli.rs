//! The `emoedge` binary: `demo`, `run` (fast replay, SIGTERM), `log
//! summary`, and the one-line errors of bad arguments.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn emoedge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_emoedge"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn demo_runs_the_bundled_replay_and_prints_decisions_leds_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("demo.jsonl");
    let out = emoedge(&["demo", "--log", log.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for expected in [
        "emoedge demo",
        "] start",
        // Fast by default: a simulated clock, not real time.
        "fast pacing",
        "pacing: as fast as possible",
        "] enter     visitor #1",
        "] decision  happy",
        "] leave     visitor #1",
        "[leds] idle",
        "[leds] happy",
        "[leds] off",
        "] stop      end of input: 66 frames",
        "summary (emoedge log summary",
        "time per label:",
        "visits: 2",
        "stopped by: end of input",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
    // Never a panic, and the log is whole and summarised.
    assert!(!text(&out.stderr).contains("panicked"));
    let records = read_log(&log);
    assert_eq!(records.first().unwrap()["type"], "start");
    assert_eq!(records.first().unwrap()["pacing"], "fast");
    assert_eq!(records.last().unwrap()["type"], "stop");
    assert_eq!(of_type(&records, "enter").len(), 2);
    assert_eq!(of_type(&records, "leave").len(), 2);
    // The astronaut's visit is a happy one.
    assert_eq!(of_type(&records, "leave")[0]["dominant"], "happy");
}

/// A temporary board with generated models, 3 s of replayed frames (a face
/// from 0.5 s to 2.5 s) and the speech clip; returns (profile, camera
/// spec, mic spec).
fn replay_setup(root: &Path) -> (String, String, String) {
    let profile = board(root, true);
    let pattern: Vec<bool> = (0..30).map(|n| (5..25).contains(&n)).collect();
    write_frames(&root.join("frames"), &pattern);
    let wav = root.join("speech.wav");
    write_speech(&wav, 0.3, 0.2);
    (
        profile.display().to_string(),
        format!("replay:{}?fps=10", root.join("frames").display()),
        format!("replay:{}", wav.display()),
    )
}

#[test]
fn run_fast_logs_every_decision_and_log_summary_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let (profile, camera, mic) = replay_setup(dir.path());
    let log = dir.path().join("events.jsonl");
    let log_s = log.to_str().unwrap();
    let out = emoedge(&[
        "run", "--board", &profile, "--camera", &camera, "--mic", &mic, "--leds", "sim", "--log",
        log_s, "--fast",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("[leds] happy"), "{stdout}");
    assert!(stdout.contains("] enter     visitor #1"), "{stdout}");
    let records = read_log(&log);
    let stop = records.last().unwrap();
    assert_eq!(stop["type"], "stop");
    assert_eq!(stop["reason"], "end of input");
    assert_eq!(stop["frames"], 30);
    assert!(stop["voice_windows"].as_u64().unwrap() >= 3, "{stop}");
    let start = &records[0];
    assert_eq!(start["pacing"], "fast");
    assert!(start["models"]["voice"]
        .as_str()
        .unwrap()
        .ends_with("voice.emo"));
    assert!(start["models"]["detector"].is_null());

    // --duration stops early (simulated time with --fast); a second run
    // appends to the same log.
    let out = emoedge(&[
        "run",
        "--board",
        &profile,
        "--camera",
        &camera,
        "--mic",
        "none",
        "--leds",
        "sim",
        "--log",
        log_s,
        "--fast",
        "--duration",
        "1",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let records = read_log(&log);
    assert_eq!(of_type(&records, "start").len(), 2);
    let last = records.last().unwrap();
    assert_eq!(last["reason"], "duration");
    assert!(last["t_ms"].as_u64().unwrap() <= 1000, "{last}");

    let csv = dir.path().join("timeline.csv");
    let png = dir.path().join("timeline.png");
    let out = emoedge(&[
        "log",
        "summary",
        log_s,
        "--csv",
        csv.to_str().unwrap(),
        "--plot",
        png.to_str().unwrap(),
    ]);
    let summary = text(&out.stdout);
    assert!(out.status.success(), "{summary}\n{}", text(&out.stderr));
    for expected in [
        "2 run(s)",
        "time per label:",
        "happy",
        "visits: 2",
        "most shown emotion: happy",
        "stopped by: end of input, duration",
    ] {
        assert!(summary.contains(expected), "no {expected:?} in:\n{summary}");
    }
    let csv = std::fs::read_to_string(csv).unwrap();
    assert!(csv.starts_with("run,t_ms,at_ms,hold_ms,label,confidence"));
    assert_eq!(
        csv.lines().count() - 1,
        of_type(&records, "decision").len(),
        "one row per decision"
    );
    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), (1200, 360));
}

#[test]
fn sigterm_stops_the_loop_cleanly_with_the_log_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let (profile, _, mic) = replay_setup(dir.path());
    let camera = format!(
        "replay:{}?fps=20&loop=true",
        dir.path().join("frames").display()
    );
    let log = dir.path().join("events.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_emoedge"))
        .args([
            "run", "--board", &profile, "--camera", &camera, "--mic", &mic, "--leds", "sim",
            "--log",
        ])
        .arg(&log)
        .arg("--realtime")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the loop to decide something.
    let t0 = Instant::now();
    loop {
        let decided = std::fs::read_to_string(&log)
            .map(|t| t.contains("\"type\":\"enter\""))
            .unwrap_or(false);
        if decided {
            break;
        }
        assert!(
            // A hang guard, not a speed check: qemu on a busy host is slow.
            t0.elapsed() < Duration::from_secs(600),
            "no decision in 600 s"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        text(&out.stderr)
    );
    let records = read_log(&log);
    let stop = records.last().unwrap();
    assert_eq!(stop["type"], "stop", "{stop}");
    assert_eq!(stop["reason"], "signal");
    assert_eq!(records[0]["pacing"], "realtime");
    // The visitor still in view was ended with its summary.
    assert!(!of_type(&records, "leave").is_empty());
}

#[test]
fn bad_arguments_give_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (profile, camera, _) = replay_setup(dir.path());
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "run",
                "--board",
                &profile,
                "--camera",
                "v4l2:/dev/video0",
                "--mic",
                "none",
                "--fast",
            ],
            "--fast needs replayed input",
        ),
        (
            &[
                "run", "--board", &profile, "--camera", "none", "--mic", "none",
            ],
            "nothing to watch or listen to",
        ),
        (
            &[
                "run",
                "--board",
                &profile,
                "--camera",
                &camera,
                "--mic",
                "none",
                "--duration=0",
            ],
            "--duration",
        ),
        (
            &["log", "summary", "/nonexistent/events.jsonl"],
            "cannot open log",
        ),
    ];
    for (args, expected) in cases {
        let out = emoedge(args);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"));
    }
    let out = emoedge(&["run", "--fast", "--realtime"]);
    assert!(!out.status.success());
}
