//! Drives a command through a pseudo-terminal, as a person at a terminal would: it is
//! the session leader with the pty as its controlling terminal, so Ctrl-C (byte 0x03)
//! reaches it as SIGINT from the line discipline, and `isatty` is true on all three
//! standard streams.

#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub struct Pty {
    child: Child,
    writer: File,
    seen: Arc<(Mutex<String>, Condvar)>,
}

impl Pty {
    /// Starts `cmd` on a new 80×24 pseudo-terminal.
    pub fn spawn(mut cmd: Command) -> Pty {
        let (mut master, mut slave) = (0, 0);
        let size = libc::winsize { ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: openpty writes two descriptors into the out-pointers.
        let rc =
            unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) };
        assert_eq!(rc, 0, "openpty");
        // SAFETY: both descriptors were just opened and are owned here.
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let slave_fd = slave.as_raw_fd();
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() < 0 || libc::ioctl(slave_fd, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn on a pty");
        drop(cmd); // closes our copies of the slave
        let writer = File::from(master.try_clone().unwrap());
        let mut reader = File::from(master);
        let seen = Arc::new((Mutex::new(String::new()), Condvar::new()));
        let sink = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let (text, ready) = &*sink;
                text.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
                ready.notify_all();
            }
        });
        Pty { child, writer, seen }
    }

    /// Types `text` (a `\r` submits a line, as Enter does).
    pub fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    pub fn line(&mut self, text: &str) {
        self.send(&format!("{text}\r"));
    }

    pub fn ctrl_c(&mut self) {
        self.send("\x03");
    }

    pub fn ctrl_d(&mut self) {
        self.send("\x04");
    }

    /// Everything the terminal has shown so far.
    pub fn screen(&self) -> String {
        self.seen.0.lock().unwrap().clone()
    }

    /// Waits until the output after byte `from` contains `needle`; returns the offset
    /// just past it. Panics with the screen after 20 s.
    pub fn expect_from(&self, from: usize, needle: &str) -> usize {
        let deadline = Instant::now() + Duration::from_secs(20);
        let (text, ready) = &*self.seen;
        let mut seen = text.lock().unwrap();
        loop {
            if let Some(at) = seen.get(from..).and_then(|rest| rest.find(needle)) {
                return from + at + needle.len();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "never saw {needle:?} on the terminal; it shows:\n{seen}");
            seen = ready.wait_timeout(seen, left).unwrap().0;
        }
    }

    pub fn expect(&self, needle: &str) -> usize {
        self.expect_from(0, needle)
    }

    /// Waits for the process to exit and returns its code.
    pub fn wait(mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "still running; the terminal shows:\n{}", self.screen());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
