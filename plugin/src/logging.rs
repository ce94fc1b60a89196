//! Log lines on stderr: through the progress bars (which pause for them),
//! coloured only on a terminal, and a repeated warning not every time.

use std::cell::Cell;
use std::ffi::OsStr;
use std::fmt;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_indicatif::IndicatifWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::progress;
use crate::repeats::{Repeats, Verdict};

/// Sets up logging for `-v` given `verbose` times; INCEPTION_LOG overrides.
pub fn init(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "kubectl_inception=debug,nesting=debug,info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_env("INCEPTION_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let ansi = colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let writer =
        IndicatifWriter::<tracing_indicatif::writer::Stderr>::new(progress::multi().clone());
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(lines(writer, ansi))
        .try_init();
}

/// The log lines, written to `writer`.
fn lines<S, W>(writer: W, ansi: bool) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi)
        .event_format(Counted(
            tracing_subscriber::fmt::format().with_target(false),
        ))
        .with_filter(QuietRepeats::default())
}

/// Colour only on a terminal, and not when NO_COLOR is set (and not empty).
fn colour(terminal: bool, no_color: Option<&OsStr>) -> bool {
    terminal && no_color.is_none_or(OsStr::is_empty)
}

thread_local! {
    /// How often the event being written came unshown before it.
    static REPEATED: Cell<u32> = const { Cell::new(0) };
}

/// Holds back warnings and errors that repeat (see [`crate::repeats`]).
#[derive(Default)]
struct QuietRepeats(Mutex<Repeats>);

impl<S> Filter<S> for QuietRepeats {
    fn enabled(&self, _: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        true
    }

    fn event_enabled(&self, event: &Event<'_>, _: &Context<'_, S>) -> bool {
        REPEATED.set(0);
        // Debug output is asked for: all of it shows.
        if *event.metadata().level() > Level::WARN {
            return true;
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        let key = format!("{} {}", event.metadata().level(), m.0);
        let mut r = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match r.note(&key, Instant::now()) {
            Verdict::Show { repeated } => {
                REPEATED.set(repeated);
                true
            }
            Verdict::Hide => false,
        }
    }
}

/// The `message` field of an event.
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

/// Writes events as `F` does, adding "(repeated N times)" to a warning
/// that came N times unshown (that line goes without colour).
struct Counted<F>(F);

impl<S, N, F> FormatEvent<S, N> for Counted<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let repeated = REPEATED.take();
        if repeated == 0 {
            return self.0.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        writer.write_str(&with_count(&line, repeated))
    }
}

/// `line` with the count before its line end.
fn with_count(line: &str, repeated: u32) -> String {
    let body = line.trim_end_matches('\n');
    let times = if repeated == 1 { "time" } else { "times" };
    format!("{body} (repeated {repeated} {times})\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some(OsStr::new(""))));
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(false, None));
    }

    #[test]
    fn the_count_goes_before_the_line_end() {
        assert_eq!(
            with_count(" WARN port-forward failed\n", 12),
            " WARN port-forward failed (repeated 12 times)\n"
        );
        assert_eq!(with_count("x", 1), "x (repeated 1 time)\n");
    }

    #[test]
    fn a_repeated_warning_is_written_once_without_colour() {
        let buf = std::sync::Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let writer = move || Shared(sink.clone());
        let sub = tracing_subscriber::registry().with(lines(writer, false));
        tracing::subscriber::with_default(sub, || {
            for port in 0..5 {
                tracing::warn!(port, "port-forward to control-plane-0:6443 failed");
            }
            tracing::warn!("another warning");
            tracing::debug!("asked again");
            tracing::debug!("asked again");
        });
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        assert_eq!(text.matches("port-forward").count(), 1, "{text}");
        assert_eq!(text.matches("another warning").count(), 1, "{text}");
        assert_eq!(text.matches("asked again").count(), 2, "{text}");
        assert!(!text.contains('\x1b'), "{text:?}");
    }

    struct Shared(std::sync::Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
