//! SIGTERM and SIGINT ask the loop to stop: it finishes the step, ends the
//! visits, writes the `stop` record, fsyncs the log and exits 0. A second
//! signal while stopping exits at once (status 130).

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by SIGTERM / SIGINT once [`install`] ran.
pub static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    // Only async-signal-safe work here: an atomic swap and _exit.
    if STOP.swap(true, Ordering::SeqCst) {
        unsafe { libc::_exit(130) };
    }
}

/// Installs the SIGTERM and SIGINT handlers that set [`STOP`].
pub fn install() -> std::io::Result<()> {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask"
        // value; the handler only touches an atomic and calls _exit.
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            // Restart interrupted reads: the loop notices STOP at the next step.
            sa.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether a stop was requested.
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
