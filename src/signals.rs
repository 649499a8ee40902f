//! Signals taken synchronously: they are blocked in every thread and one thread waits
//! for them with `sigwait`, so no async-signal-safe handler code is needed. The daemon
//! stops on SIGTERM/SIGINT and rescans on SIGHUP; the chat turns SIGINT into "stop the
//! turn".

use std::sync::mpsc;

/// A signal the daemon acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT: stop cleanly.
    Stop,
    /// SIGHUP: rescan profiles.
    Reload,
}

/// The daemon's signals: see [`watch`].
pub fn take_over(on_signal: impl Fn(Signal) + Send + 'static) -> std::io::Result<()> {
    watch(&[libc::SIGTERM, libc::SIGINT, libc::SIGHUP], move |sig| {
        let signal = if sig == libc::SIGHUP { Signal::Reload } else { Signal::Stop };
        on_signal(signal);
        signal != Signal::Stop
    })
}

/// Blocks `signals` in the calling thread — call it before any other thread starts, so
/// they all inherit the mask — and starts a thread that hands each one to `on_signal`
/// until it returns false.
pub fn watch(
    signals: &[libc::c_int],
    mut on_signal: impl FnMut(libc::c_int) -> bool + Send + 'static,
) -> std::io::Result<()> {
    // SAFETY: the sigset is initialised by sigemptyset before use; pthread_sigmask and
    // sigwait only read it.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &sig in signals {
            libc::sigaddset(&mut set, sig);
        }
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        set
    };
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        let _ = ready_tx.send(());
        loop {
            let mut sig = 0;
            // SAFETY: `set` lives in this closure; `sig` is a valid out-pointer.
            if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                continue;
            }
            if !on_signal(sig) {
                return;
            }
        }
    })?;
    let _ = ready_rx.recv();
    Ok(())
}
