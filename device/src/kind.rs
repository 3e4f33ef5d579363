//! The error kind every device error carries, so the real-time loop can
//! decide what to do without knowing which driver failed.

use std::fmt;

/// What kind of failure a camera, microphone or LED error is, and so what
/// the loop should do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No data arrived in time (camera stalled, microphone starved). Retry.
    Timeout,
    /// The device is gone (unplugged, never present, driver unloaded).
    /// Stop using it; reopening may work once it is plugged back in.
    Disconnected,
    /// Data was lost because it was not read fast enough (ALSA overrun,
    /// dropped frames); the stream has been recovered. Retry.
    Overrun,
    /// One frame or block was corrupt (bad MJPEG frame, unreadable replay
    /// image); the next one may be fine. Skip it and retry.
    Corrupt,
    /// A replay source reached its end. Stop cleanly.
    EndOfStream,
    /// Anything else: misconfiguration, permissions, unsupported device.
    /// Retrying will not help; stop and report.
    Other,
}

impl ErrorKind {
    /// Whether calling the same operation again may succeed
    /// ([`Timeout`](Self::Timeout), [`Overrun`](Self::Overrun),
    /// [`Corrupt`](Self::Corrupt)).
    pub const fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::Timeout | ErrorKind::Overrun | ErrorKind::Corrupt
        )
    }

    /// Classifies an operating-system error: missing or vanished devices
    /// are [`Disconnected`](Self::Disconnected), `EAGAIN`/timeouts are
    /// [`Timeout`](Self::Timeout), `EPIPE` is [`Overrun`](Self::Overrun).
    pub fn from_io(e: &std::io::Error) -> ErrorKind {
        if let Some(code) = e.raw_os_error() {
            return ErrorKind::from_errno(code);
        }
        match e.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::Disconnected,
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => ErrorKind::Timeout,
            std::io::ErrorKind::BrokenPipe => ErrorKind::Overrun,
            _ => ErrorKind::Other,
        }
    }

    /// Classifies a positive `errno` value (see [`from_io`](Self::from_io)).
    pub fn from_errno(code: i32) -> ErrorKind {
        match code {
            libc::ENODEV | libc::ENOENT | libc::ENXIO | libc::ESHUTDOWN | libc::EIO => {
                ErrorKind::Disconnected
            }
            libc::EAGAIN | libc::ETIMEDOUT | libc::EINTR => ErrorKind::Timeout,
            libc::EPIPE | libc::ESTRPIPE => ErrorKind::Overrun,
            _ => ErrorKind::Other,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Disconnected => "disconnected",
            ErrorKind::Overrun => "overrun",
            ErrorKind::Corrupt => "corrupt data",
            ErrorKind::EndOfStream => "end of stream",
            ErrorKind::Other => "error",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_classification() {
        let io = |c| std::io::Error::from_raw_os_error(c);
        assert_eq!(
            ErrorKind::from_io(&io(libc::ENODEV)),
            ErrorKind::Disconnected
        );
        assert_eq!(
            ErrorKind::from_io(&io(libc::ENOENT)),
            ErrorKind::Disconnected
        );
        assert_eq!(ErrorKind::from_io(&io(libc::EAGAIN)), ErrorKind::Timeout);
        assert_eq!(ErrorKind::from_io(&io(libc::EPIPE)), ErrorKind::Overrun);
        assert_eq!(ErrorKind::from_io(&io(libc::EACCES)), ErrorKind::Other);
        let timed_out = std::io::Error::new(std::io::ErrorKind::TimedOut, "VIDIOC_DQBUF");
        assert_eq!(ErrorKind::from_io(&timed_out), ErrorKind::Timeout);
    }

    #[test]
    fn transient_kinds() {
        assert!(ErrorKind::Timeout.is_transient());
        assert!(ErrorKind::Overrun.is_transient());
        assert!(ErrorKind::Corrupt.is_transient());
        assert!(!ErrorKind::Disconnected.is_transient());
        assert!(!ErrorKind::EndOfStream.is_transient());
        assert!(!ErrorKind::Other.is_transient());
    }
}
