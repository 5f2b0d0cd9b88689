//! The log's set-up: human-readable lines, or JSON lines with
//! `FORECOURT_LOG_FORMAT=json`; the level filter from `FORECOURT_LOG`. Colour codes only
//! when the log goes to a terminal (and `NO_COLOR` is not set), so that files and
//! journald get plain text.

use std::io::IsTerminal;
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The filter when `FORECOURT_LOG` is not set: warnings, and Forecourt's own
/// information (start-up, the access log, the daily runs).
pub const DEFAULT_FILTER: &str = "warn,forecourt=info,forecourt_server=info,forecourt_store=info";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    /// `FORECOURT_LOG_FORMAT`: `text` (the default) or `json`.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim) {
            None | Some("") | Some("text") => Ok(Format::Text),
            Some("json") => Ok(Format::Json),
            Some(other) => Err(format!(
                "FORECOURT_LOG_FORMAT is text or json, not {other:?}"
            )),
        }
    }
}

/// A subscriber writing to `writer` in `format`, with colour codes only if `ansi`.
pub fn subscriber<W>(
    format: Format,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        Format::Text => Box::new(builder.with_ansi(ansi).finish()),
        // JSON never carries colour codes: they would end up inside the strings.
        Format::Json => Box::new(builder.json().with_ansi(false).finish()),
    }
}

/// Installs the process's subscriber on standard error, from the environment.
pub fn init() -> anyhow::Result<()> {
    let format = Format::parse(std::env::var("FORECOURT_LOG_FORMAT").ok().as_deref())
        .map_err(anyhow::Error::msg)?;
    let filter =
        EnvFilter::try_from_env("FORECOURT_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let ansi = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    // `try_init` also sends the `log` crate's records (some drivers use it) to the
    // subscriber.
    tracing_subscriber::util::SubscriberInitExt::try_init(subscriber(
        format,
        filter,
        std::io::stderr,
        ansi,
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }

    fn written(format: Format, ansi: bool) -> String {
        let buf = Buf::default();
        let sub = subscriber(format, EnvFilter::new("info"), buf.clone(), ansi);
        tracing::subscriber::with_default(sub, || {
            let span = tracing::info_span!("request", route = "/api/v1/pos/sales");
            let _g = span.enter();
            tracing::info!(status = 201, latency_ms = 0.25, "answered");
            tracing::warn!(database = "127.0.0.1:5432/forecourt", "unreachable");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        out
    }

    #[test]
    fn json_format_writes_one_json_object_a_line() {
        let out = written(Format::Json, true);
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert_eq!(lines[0]["fields"]["status"], 201);
        assert_eq!(lines[0]["span"]["route"], "/api/v1/pos/sales");
        assert_eq!(lines[1]["level"], "WARN");
        assert!(!out.contains('\x1b'), "colour codes in JSON: {out:?}");
    }

    #[test]
    fn text_format_has_colour_codes_only_when_asked() {
        let plain = written(Format::Text, false);
        assert!(plain.contains("status=201"), "{plain}");
        assert!(
            !plain.contains('\x1b'),
            "colour codes off a terminal: {plain:?}"
        );
        assert!(written(Format::Text, true).contains('\x1b'));
    }

    #[test]
    fn the_format_is_text_or_json() {
        assert_eq!(Format::parse(None), Ok(Format::Text));
        assert_eq!(Format::parse(Some("json")), Ok(Format::Json));
        assert!(Format::parse(Some("yaml")).is_err());
    }
}
