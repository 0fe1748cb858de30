//! Structured logs for `serve` (tracing): one line per event on stderr,
//! `key=value` text or JSON, with a level that a reload can change.

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Registry;

/// Changes the level of the installed subscriber.
pub struct LogLevelHandle(reload::Handle<LevelFilter, Registry>);

impl LogLevelHandle {
    pub fn set(&self, level: &str) -> Result<(), String> {
        let f = parse_level(level)?;
        self.0.modify(|l| *l = f).map_err(|e| e.to_string())
    }
}

fn parse_level(level: &str) -> Result<LevelFilter, String> {
    level
        .parse::<LevelFilter>()
        .map_err(|_| format!("{level:?} is not a log level"))
}

/// Installs the process's subscriber (once; later calls change nothing
/// and return None).
pub fn init(level: &str, json: bool) -> Result<Option<LogLevelHandle>, String> {
    let (filter, handle) = reload::Layer::new(parse_level(level)?);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    let installed = if json {
        tracing_subscriber::registry()
            .with(filter)
            .with(fmt.json().flatten_event(true))
            .try_init()
    } else {
        tracing_subscriber::registry()
            .with(filter)
            .with(fmt)
            .try_init()
    };
    Ok(installed.ok().map(|()| LogLevelHandle(handle)))
}
