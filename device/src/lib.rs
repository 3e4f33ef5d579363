//! emoedge on the device: the hardware layer under the real-time loop.
//!
//! Each piece of hardware sits behind a small trait with a real
//! implementation (behind a cargo feature, in its own module), a replay
//! implementation fed from files, and a scripted mock for tests:
//!
//! | trait | real | replay | mock |
//! |---|---|---|---|
//! | [`camera::Camera`] | [`camera::v4l2`] (`camera-v4l2`) | [`camera::replay`] | [`camera::mock`] |
//! | [`mic::Microphone`] | [`mic::alsa`] (`mic-alsa`) | [`mic::replay`] | [`mic::mock`] |
//! | [`leds::Leds`] | [`leds::rppal`] (`leds-rppal`) | [`leds::sim`] (terminal) | [`leds::mock`] |
//!
//! Every driver error carries an [`ErrorKind`] (timeout, disconnected,
//! overrun, corrupt, end of stream, other) so the loop can decide to retry
//! or stop without knowing which driver failed. Time comes from a
//! [`clock::Clock`] passed in, never from sleeping inside logic, so pacing
//! is tested instantly with [`clock::MockClock`].
//!
//! Also here: [`board`] profiles (`boards/*.toml`), the [`ring`] buffer
//! between microphone and voice pipeline, the crash-safe [`log_writer`],
//! source specs ([`source`]) and the `emoedge check` self-test ([`check`]).
//!
//! On top of the hardware layer:
//!
//! - [`pipeline`]: one step of recognition (detection, tracking, face and
//!   voice models, fusion per tracked face, the latency budget, the LED
//!   reaction, visits) and the log's [record](pipeline::record) types;
//! - [`runner`]: the real-time loop around it (`emoedge run` and `emoedge
//!   demo`): sources that reconnect, pacing by the system clock or a
//!   simulated one, signals, the systemd watchdog;
//! - [`summary`]: `emoedge log summary`;
//! - [`bench`](mod@bench): `emoedge bench`, the latency of each stage on this board.

pub mod bench;
pub mod board;
pub mod camera;
pub mod check;
pub mod clock;
pub mod kind;
pub mod leds;
pub mod log_writer;
pub mod mic;
pub mod pipeline;
pub mod ring;
pub mod runner;
pub mod source;
pub mod summary;

pub use kind::ErrorKind;
