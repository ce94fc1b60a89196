//! Progress of long steps: a spinner per cluster on a terminal, plain
//! lines otherwise (CI logs), one per change of message.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Where plain progress lines go.
type Sink = Arc<Mutex<dyn Write + Send>>;

/// The bars of this process, drawn together; log lines pause them
/// (see [`crate::logging`]).
pub fn multi() -> &'static MultiProgress {
    static MULTI: OnceLock<MultiProgress> = OnceLock::new();
    MULTI.get_or_init(MultiProgress::new)
}

/// One step's progress, named by `prefix` (a cluster path, a node).
pub struct Progress(Inner);

enum Inner {
    Bar(ProgressBar),
    Plain(Plain),
}

struct Plain {
    prefix: String,
    started: Instant,
    last: Mutex<String>,
    sink: Sink,
}

impl Progress {
    /// A spinner when stderr is a terminal, else plain lines on stderr.
    pub fn new(prefix: impl Into<String>, msg: &str) -> Self {
        if std::io::stderr().is_terminal() {
            Self::bar(prefix.into(), msg)
        } else {
            Self::plain(prefix, msg, Arc::new(Mutex::new(std::io::stderr())))
        }
    }

    /// Shows nothing.
    #[cfg(test)]
    pub fn hidden() -> Self {
        Self(Inner::Bar(ProgressBar::hidden()))
    }

    fn bar(prefix: String, msg: &str) -> Self {
        let pb = multi().add(ProgressBar::new_spinner());
        pb.set_style(
            ProgressStyle::with_template("{spinner} {prefix:<12} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.set_prefix(prefix);
        pb.set_message(msg.to_string());
        pb.enable_steady_tick(Duration::from_millis(120));
        Self(Inner::Bar(pb))
    }

    /// Plain lines written to `sink`, starting with `msg`.
    pub fn plain(prefix: impl Into<String>, msg: &str, sink: Sink) -> Self {
        let p = Plain {
            prefix: prefix.into(),
            started: Instant::now(),
            last: Mutex::new(String::new()),
            sink,
        };
        p.say(msg);
        Self(Inner::Plain(p))
    }

    /// The step now does `msg`.
    pub fn set_message(&self, msg: impl Into<String>) {
        match &self.0 {
            Inner::Bar(pb) => pb.set_message(msg.into()),
            Inner::Plain(p) => p.say(&msg.into()),
        }
    }

    /// The step ended with `msg`, which stays shown.
    pub fn finish_with_message(&self, msg: impl Into<String>) {
        match &self.0 {
            Inner::Bar(pb) => pb.finish_with_message(msg.into()),
            Inner::Plain(p) => p.say(&msg.into()),
        }
    }

    /// The step ended; its line goes away (its result is printed elsewhere).
    pub fn finish_and_clear(&self) {
        if let Inner::Bar(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }

    /// The step failed: the spinner stops where it was (the error says why).
    pub fn abandon(&self) {
        if let Inner::Bar(pb) = &self.0 {
            pb.abandon();
        }
    }
}

impl Plain {
    /// Writes `prefix: msg (12s)` unless `msg` is what was said last.
    fn say(&self, msg: &str) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if *last == msg {
            return;
        }
        msg.clone_into(&mut last);
        let line = format!(
            "{}: {msg} ({}s)\n",
            self.prefix,
            self.started.elapsed().as_secs()
        );
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        // Progress is a courtesy: a closed stderr must not end the step.
        let _ = sink.write_all(line.as_bytes()).and_then(|()| sink.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured() -> (Sink, Arc<Mutex<Vec<u8>>>) {
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().write(b)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Arc::new(Mutex::new(Vec::new()));
        (Arc::new(Mutex::new(Shared(buf.clone()))), buf)
    }

    #[test]
    fn plain_progress_writes_one_line_per_change() {
        let (sink, buf) = captured();
        let p = Progress::plain("lab/0", "applying", sink);
        for _ in 0..5 {
            p.set_message("node Pods: control plane starting, workers 0/2");
        }
        p.set_message(String::from("node Pods: control plane Ready, workers 2/2"));
        p.set_message("node Pods: control plane Ready, workers 2/2");
        p.abandon();
        p.finish_with_message("Ready: 3 nodes");
        p.finish_and_clear();
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "lab/0: applying (0s)",
                "lab/0: node Pods: control plane starting, workers 0/2 (0s)",
                "lab/0: node Pods: control plane Ready, workers 2/2 (0s)",
                "lab/0: Ready: 3 nodes (0s)",
            ],
            "{text}"
        );
        assert!(!text.contains('\x1b'), "{text:?}");
        assert!(!text.contains('\r'), "{text:?}");
    }

    #[test]
    fn a_message_said_again_after_another_is_a_change() {
        let (sink, buf) = captured();
        let p = Progress::plain("w-0", "importing", sink);
        p.set_message("waiting");
        p.set_message("importing");
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
    }
}
