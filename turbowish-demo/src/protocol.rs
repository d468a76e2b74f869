//! The wire protocol: one request per line, one reply per line.
//!
//! Requests (command names are case-insensitive; keys, values and channel
//! names are single tokens without whitespace):
//!
//! | request | reply |
//! |---------|-------|
//! | `PING` | `PONG` |
//! | `GET key` | `VALUE value` or `NIL` |
//! | `SET key value [ttl_ms]` | `OK` |
//! | `DEL key` | `INT 1` (removed) or `INT 0` |
//! | `SWAP a b` | `OK`: the two keys' entries are exchanged (a missing key's absence too) |
//! | `SUBSCRIBE channel` | `SUBSCRIBED channel`; later `MESSAGE channel text` lines |
//! | `PUBLISH channel text...` | `INT n`, the number of subscribers reached |
//! | `STATS` | `STATS keys=.. active=.. connections=.. requests=..` |
//! | `QUIT` | `BYE`, then the server closes the connection |
//!
//! A request the server cannot read gets `ERR reason` and the connection
//! stays usable. Parsing never panics, whatever the bytes: the server takes
//! input from the network.

use std::fmt;
use std::time::Duration;

/// The longest request line the server reads, newline excluded. A longer
/// line is skipped to its end and answered with an error, so a client can
/// never make the server buffer more than this.
pub const MAX_LINE: usize = 16 * 1024;

/// A request from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `PING`: a liveness check.
    Ping,
    /// `GET key`.
    Get {
        /// The key to read.
        key: String,
    },
    /// `SET key value [ttl_ms]`.
    Set {
        /// The key to write.
        key: String,
        /// Its new value.
        value: String,
        /// When given, the entry expires after this long.
        ttl: Option<Duration>,
    },
    /// `DEL key`.
    Del {
        /// The key to remove.
        key: String,
    },
    /// `SWAP a b`: exchanges the entries (values and expiries) of two keys.
    Swap {
        /// The first key.
        a: String,
        /// The second key.
        b: String,
    },
    /// `SUBSCRIBE channel`: from now on the connection also receives every
    /// message published on `channel`.
    Subscribe {
        /// The channel name.
        channel: String,
    },
    /// `PUBLISH channel text...`: sends `text` (the rest of the line) to the
    /// channel's subscribers.
    Publish {
        /// The channel name.
        channel: String,
        /// The message, which may contain spaces.
        message: String,
    },
    /// `STATS`: the server's counters.
    Stats,
    /// `QUIT`: the client is done.
    Quit,
}

/// A line the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `PONG`, to `PING`.
    Pong,
    /// `OK`, to `SET` and `SWAP`.
    Ok,
    /// `VALUE v`, to `GET` of a present key.
    Value(String),
    /// `NIL`, to `GET` of a missing or expired key.
    Nil,
    /// `INT n`, to `DEL` and `PUBLISH`.
    Int(u64),
    /// `SUBSCRIBED channel`, to `SUBSCRIBE`.
    Subscribed(String),
    /// `MESSAGE channel text`, pushed to subscribers.
    Message {
        /// The channel it was published on.
        channel: String,
        /// The text.
        message: String,
    },
    /// `STATS ...`, to `STATS`.
    Stats(Stats),
    /// `BYE`, to `QUIT`.
    Bye,
    /// `ERR reason`: the request was not understood or not allowed.
    Error(String),
}

/// The counters `STATS` reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Keys in the store (expired keys count until the expiry task runs).
    pub keys: u64,
    /// Connections open now, including the one asking.
    pub active: u64,
    /// Connections accepted since the server started.
    pub connections: u64,
    /// Requests answered since the server started.
    pub requests: u64,
}

/// Why a line could not be read as a request or a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtocolError {}

fn error<T>(message: impl Into<String>) -> Result<T, ProtocolError> {
    Err(ProtocolError(message.into()))
}

/// Splits `s` at its first run of whitespace: the first token and the rest.
fn split_token(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(at) => (&s[..at], s[at..].trim_start()),
        None => (s, ""),
    }
}

impl Request {
    /// Reads one request line (without its newline; a trailing `\r` is
    /// allowed, for clients such as telnet).
    pub fn parse(line: &str) -> Result<Request, ProtocolError> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let (command, rest) = split_token(line);
        if command.is_empty() {
            return error("empty request");
        }
        let args: Vec<&str> = rest.split_whitespace().collect();
        match command.to_ascii_uppercase().as_str() {
            "PING" => no_args("PING", &args).map(|()| Request::Ping),
            "STATS" => no_args("STATS", &args).map(|()| Request::Stats),
            "QUIT" => no_args("QUIT", &args).map(|()| Request::Quit),
            "GET" => match args[..] {
                [key] => Ok(Request::Get { key: key.into() }),
                _ => arity("GET key"),
            },
            "DEL" => match args[..] {
                [key] => Ok(Request::Del { key: key.into() }),
                _ => arity("DEL key"),
            },
            "SET" => parse_set(&args),
            "SWAP" => match args[..] {
                [a, b] => Ok(Request::Swap {
                    a: a.into(),
                    b: b.into(),
                }),
                _ => arity("SWAP a b"),
            },
            "SUBSCRIBE" => match args[..] {
                [channel] => Ok(Request::Subscribe {
                    channel: channel.into(),
                }),
                _ => arity("SUBSCRIBE channel"),
            },
            "PUBLISH" => {
                let (channel, message) = split_token(rest);
                if channel.is_empty() || message.is_empty() {
                    return arity("PUBLISH channel message");
                }
                Ok(Request::Publish {
                    channel: channel.into(),
                    message: message.trim_end().into(),
                })
            }
            _ => error(format!("unknown command {:?}", truncate(command, 32))),
        }
    }
}

fn no_args(command: &str, args: &[&str]) -> Result<(), ProtocolError> {
    match args {
        [] => Ok(()),
        _ => error(format!("{command} takes no arguments")),
    }
}

fn arity<T>(usage: &str) -> Result<T, ProtocolError> {
    error(format!("wrong number of arguments: expected {usage}"))
}

fn parse_set(args: &[&str]) -> Result<Request, ProtocolError> {
    let (key, value, ttl) = match args {
        [key, value] => (key, value, None),
        [key, value, ttl] => (key, value, Some(ttl)),
        _ => return arity("SET key value [ttl_ms]"),
    };
    let ttl = match ttl {
        None => None,
        Some(ms) => match ms.parse::<u64>() {
            Ok(ms) if ms > 0 => Some(Duration::from_millis(ms)),
            _ => return error("ttl_ms must be a whole number of milliseconds above 0"),
        },
    };
    Ok(Request::Set {
        key: (*key).into(),
        value: (*value).into(),
        ttl,
    })
}

/// At most `max` bytes of `s`, cut at a character boundary, so an error
/// reply never echoes a huge token back.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl fmt::Display for Request {
    /// The request as a line, without the newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Ping => f.write_str("PING"),
            Request::Get { key } => write!(f, "GET {key}"),
            Request::Set {
                key,
                value,
                ttl: None,
            } => write!(f, "SET {key} {value}"),
            Request::Set {
                key,
                value,
                ttl: Some(ttl),
            } => write!(f, "SET {key} {value} {}", ttl.as_millis()),
            Request::Del { key } => write!(f, "DEL {key}"),
            Request::Swap { a, b } => write!(f, "SWAP {a} {b}"),
            Request::Subscribe { channel } => write!(f, "SUBSCRIBE {channel}"),
            Request::Publish { channel, message } => write!(f, "PUBLISH {channel} {message}"),
            Request::Stats => f.write_str("STATS"),
            Request::Quit => f.write_str("QUIT"),
        }
    }
}

impl Reply {
    /// Reads one reply line (without its newline), as a client does.
    pub fn parse(line: &str) -> Result<Reply, ProtocolError> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let (kind, rest) = split_token(line);
        let one = |what: &str| match rest.split_whitespace().collect::<Vec<_>>()[..] {
            [x] => Ok(x.to_owned()),
            _ => error(format!("{what} takes one token: {line:?}")),
        };
        match kind {
            "PONG" if rest.is_empty() => Ok(Reply::Pong),
            "OK" if rest.is_empty() => Ok(Reply::Ok),
            "NIL" if rest.is_empty() => Ok(Reply::Nil),
            "BYE" if rest.is_empty() => Ok(Reply::Bye),
            "VALUE" => one("VALUE").map(Reply::Value),
            "SUBSCRIBED" => one("SUBSCRIBED").map(Reply::Subscribed),
            "INT" => one("INT")?
                .parse()
                .map(Reply::Int)
                .or_else(|_| error(format!("INT needs a number: {line:?}"))),
            "MESSAGE" => {
                let (channel, message) = split_token(rest);
                if channel.is_empty() || message.is_empty() {
                    return error(format!("MESSAGE needs a channel and a text: {line:?}"));
                }
                Ok(Reply::Message {
                    channel: channel.into(),
                    message: message.into(),
                })
            }
            "STATS" => parse_stats(rest).map(Reply::Stats),
            "ERR" => Ok(Reply::Error(rest.into())),
            _ => error(format!("not a reply: {:?}", truncate(line, 64))),
        }
    }
}

fn parse_stats(rest: &str) -> Result<Stats, ProtocolError> {
    let mut stats = Stats::default();
    for field in rest.split_whitespace() {
        let Some((name, value)) = field.split_once('=') else {
            return error(format!("STATS field without '=': {field:?}"));
        };
        let Ok(value) = value.parse() else {
            return error(format!("STATS field is not a number: {field:?}"));
        };
        match name {
            "keys" => stats.keys = value,
            "active" => stats.active = value,
            "connections" => stats.connections = value,
            "requests" => stats.requests = value,
            _ => {} // newer servers may add fields
        }
    }
    Ok(stats)
}

impl fmt::Display for Reply {
    /// The reply as a line, without the newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Pong => f.write_str("PONG"),
            Reply::Ok => f.write_str("OK"),
            Reply::Value(v) => write!(f, "VALUE {v}"),
            Reply::Nil => f.write_str("NIL"),
            Reply::Int(n) => write!(f, "INT {n}"),
            Reply::Subscribed(channel) => write!(f, "SUBSCRIBED {channel}"),
            Reply::Message { channel, message } => write!(f, "MESSAGE {channel} {message}"),
            Reply::Stats(s) => write!(
                f,
                "STATS keys={} active={} connections={} requests={}",
                s.keys, s.active, s.connections, s.requests
            ),
            Reply::Bye => f.write_str("BYE"),
            // An error text never spans lines: the client reads one line.
            Reply::Error(e) => write!(f, "ERR {}", e.replace(['\r', '\n'], " ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Request {
        Request::parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    fn err(line: &str) -> String {
        match Request::parse(line) {
            Ok(r) => panic!("{line:?} parsed as {r:?}"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn requests_parse_case_insensitively() {
        assert_eq!(ok("PING"), Request::Ping);
        assert_eq!(ok("ping\r"), Request::Ping);
        assert_eq!(ok("  get  k1 "), Request::Get { key: "k1".into() });
        assert_eq!(
            ok("Set k v"),
            Request::Set {
                key: "k".into(),
                value: "v".into(),
                ttl: None
            }
        );
        assert_eq!(
            ok("SET k v 250"),
            Request::Set {
                key: "k".into(),
                value: "v".into(),
                ttl: Some(Duration::from_millis(250))
            }
        );
        assert_eq!(ok("del k"), Request::Del { key: "k".into() });
        assert_eq!(
            ok("swap a b"),
            Request::Swap {
                a: "a".into(),
                b: "b".into()
            }
        );
        assert_eq!(
            ok("SUBSCRIBE news"),
            Request::Subscribe {
                channel: "news".into()
            }
        );
        assert_eq!(
            ok("PUBLISH news hello  there "),
            Request::Publish {
                channel: "news".into(),
                message: "hello  there".into()
            }
        );
        assert_eq!(ok("stats"), Request::Stats);
        assert_eq!(ok("QUIT"), Request::Quit);
    }

    #[test]
    fn requests_round_trip_through_their_lines() {
        let requests = [
            Request::Ping,
            ok("GET a"),
            ok("SET a b"),
            ok("SET a b 1000"),
            ok("DEL a"),
            ok("SWAP a b"),
            ok("SUBSCRIBE c"),
            ok("PUBLISH c some text"),
            Request::Stats,
            Request::Quit,
        ];
        for r in requests {
            assert_eq!(Request::parse(&r.to_string()), Ok(r));
        }
    }

    #[test]
    fn malformed_requests_get_clear_errors() {
        assert_eq!(err(""), "empty request");
        assert_eq!(err("   "), "empty request");
        assert_eq!(err("FLY away"), "unknown command \"FLY\"");
        assert!(err("GET").contains("expected GET key"));
        assert!(err("GET a b").contains("expected GET key"));
        assert!(err("SET a").contains("expected SET key value [ttl_ms]"));
        assert!(err("SET a b c d").contains("expected SET key value [ttl_ms]"));
        assert!(err("SET a b soon").contains("ttl_ms must be a whole number"));
        assert!(err("SET a b 0").contains("ttl_ms must be a whole number"));
        assert!(err("SET a b -5").contains("ttl_ms must be a whole number"));
        assert!(err("SET a b 99999999999999999999999").contains("ttl_ms"));
        assert!(err("DEL").contains("expected DEL key"));
        assert!(err("SWAP a").contains("expected SWAP a b"));
        assert!(err("SWAP a b c").contains("expected SWAP a b"));
        assert!(err("PUBLISH news").contains("expected PUBLISH channel message"));
        assert!(err("PUBLISH").contains("expected PUBLISH channel message"));
        assert!(err("SUBSCRIBE a b").contains("expected SUBSCRIBE channel"));
        assert_eq!(err("PING now"), "PING takes no arguments");
        assert_eq!(err("STATS x"), "STATS takes no arguments");
    }

    #[test]
    fn errors_never_echo_a_long_token_or_split_a_character() {
        let long = "é".repeat(1000);
        let e = err(&long);
        assert!(e.len() < 64, "{e}");
        let e = err(&format!("x{long}"));
        assert!(e.starts_with("unknown command \"x"), "{e}");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: every line built from a small
        // alphabet of awkward pieces.
        let pieces = [
            "",
            " ",
            "\t",
            "\r",
            "SET",
            "get",
            "PUBLISH",
            "é",
            "\u{0}",
            "1",
            "-1",
            "k",
            "💥",
            "18446744073709551616",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for d in pieces {
                        let line = format!("{a}{b} {c}{d}");
                        let _ = Request::parse(&line);
                        let _ = Reply::parse(&line);
                    }
                }
            }
        }
    }

    #[test]
    fn replies_round_trip_through_their_lines() {
        let replies = [
            Reply::Pong,
            Reply::Ok,
            Reply::Value("v".into()),
            Reply::Nil,
            Reply::Int(3),
            Reply::Subscribed("c".into()),
            Reply::Message {
                channel: "c".into(),
                message: "hello there".into(),
            },
            Reply::Stats(Stats {
                keys: 1,
                active: 2,
                connections: 3,
                requests: 4,
            }),
            Reply::Bye,
            Reply::Error("unknown command \"FLY\"".into()),
        ];
        for r in replies {
            assert_eq!(Reply::parse(&r.to_string()), Ok(r));
        }
    }

    #[test]
    fn error_replies_stay_on_one_line() {
        let line = Reply::Error("two\nlines\r".into()).to_string();
        assert_eq!(line, "ERR two lines ");
    }

    #[test]
    fn malformed_replies_are_errors() {
        for line in [
            "",
            "PONG extra",
            "VALUE",
            "VALUE a b",
            "INT x",
            "INT",
            "MESSAGE c",
            "STATS keys",
            "STATS keys=x",
            "HELLO",
        ] {
            assert!(Reply::parse(line).is_err(), "{line:?}");
        }
        // Unknown STATS fields are ignored, for newer servers.
        assert_eq!(
            Reply::parse("STATS keys=1 shiny=2"),
            Ok(Reply::Stats(Stats {
                keys: 1,
                ..Stats::default()
            }))
        );
    }
}
