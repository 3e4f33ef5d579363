//! systemd notification (`sd_notify`) without a library: `READY=1` when the
//! loop runs, `WATCHDOG=1` from the loop itself every half
//! `WatchdogSec`, `STOPPING=1` on the way out. Outside systemd
//! (`NOTIFY_SOCKET` unset) everything here does nothing.
//!
//! Because the loop pings only between two steps, a loop stuck in a
//! driver call or a model stops pinging and systemd restarts the service
//! (`Restart=on-failure` with `WatchdogSec=` in `device/systemd/emoedge.service`).

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// The notification socket and watchdog period from the environment.
#[derive(Debug, Default)]
pub struct Watchdog {
    socket: Option<(UnixDatagram, String)>,
    interval: Option<Duration>,
    next_ping: Duration,
}

impl Watchdog {
    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC` (and `WATCHDOG_PID`, which
    /// must be this process when set).
    pub fn from_env() -> Watchdog {
        let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
            return Watchdog::default();
        };
        let path = path.to_string_lossy().into_owned();
        let socket = match UnixDatagram::unbound() {
            Ok(s) => Some((s, path)),
            Err(e) => {
                log::warn!("systemd notification socket unusable: {e}");
                None
            }
        };
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            .is_none_or(|p| p == std::process::id());
        let interval = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.parse::<u64>().ok())
            .filter(|&u| u > 0 && for_us)
            .map(|u| Duration::from_micros(u) / 2);
        Watchdog {
            socket,
            interval,
            next_ping: Duration::ZERO,
        }
    }

    /// A watchdog notifying the socket at `path` (a file path, or `@name`
    /// for an abstract socket, as in `NOTIFY_SOCKET`), pinging every
    /// `interval` of loop time when given: what [`from_env`](Self::from_env)
    /// builds under systemd, for tests and other supervisors.
    pub fn to_socket(
        path: impl Into<String>,
        interval: Option<Duration>,
    ) -> std::io::Result<Watchdog> {
        Ok(Watchdog {
            socket: Some((UnixDatagram::unbound()?, path.into())),
            interval,
            next_ping: Duration::ZERO,
        })
    }

    /// Whether systemd listens.
    pub fn enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// The ping period (half `WatchdogSec`), when the watchdog is on.
    pub fn interval(&self) -> Option<Duration> {
        self.interval
    }

    /// Sends one notification (e.g. `READY=1`); errors are logged.
    pub fn notify(&self, message: &str) {
        let Some((socket, path)) = &self.socket else {
            return;
        };
        let sent = if let Some(name) = path.strip_prefix('@') {
            send_abstract(socket, name, message)
        } else {
            socket.send_to(message.as_bytes(), path).map(|_| ())
        };
        if let Err(e) = sent {
            log::debug!("sd_notify {message:?} to {path}: {e}");
        }
    }

    /// Tells systemd the service is up.
    pub fn ready(&self) {
        self.notify("READY=1");
    }

    /// Tells systemd the service is stopping.
    pub fn stopping(&self) {
        self.notify("STOPPING=1");
    }

    /// Feeds the watchdog when due at loop time `now`.
    pub fn ping(&mut self, now: Duration) {
        let Some(interval) = self.interval else {
            return;
        };
        if now >= self.next_ping {
            self.notify("WATCHDOG=1");
            self.next_ping = now + interval;
        }
    }
}

#[cfg(target_os = "linux")]
fn send_abstract(socket: &UnixDatagram, name: &str, message: &str) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    socket.send_to_addr(message.as_bytes(), &addr).map(|_| ())
}

#[cfg(not(target_os = "linux"))]
fn send_abstract(_socket: &UnixDatagram, _name: &str, _message: &str) -> std::io::Result<()> {
    Err(std::io::Error::other("abstract sockets need Linux"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_reach_the_socket_and_pings_are_paced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        listener
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut w = Watchdog {
            socket: Some((UnixDatagram::unbound().unwrap(), path.display().to_string())),
            interval: Some(Duration::from_secs(5)),
            next_ping: Duration::ZERO,
        };
        let mut buf = [0u8; 64];
        w.ready();
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        w.ping(Duration::from_secs(1));
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1");
        w.ping(Duration::from_secs(3)); // not due: nothing sent
        w.stopping();
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
        assert!(!Watchdog::default().enabled());
    }
}
