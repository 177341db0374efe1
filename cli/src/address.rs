//! Where QEMU is: the ADDR word of the command line, or `$QMP_SOCKET`.

use std::path::Path;

use qemu_qmp::Endpoint;

use crate::failure::Failure;

/// The environment variable that holds the address when the command line leaves it out.
pub const SOCKET_VARIABLE: &str = "QMP_SOCKET";

/// Whether a word is an address rather than a command or event name. QMP names are
/// letters, digits, `-` and `_` (vendor ones start with `__` and may hold dots), so a word
/// with a `/`, a `:` or a dot, or naming an existing file, is an address.
fn looks_like_address(word: &str) -> bool {
    word.starts_with("unix:")
        || word.starts_with("tcp:")
        || word.contains('/')
        || word.contains(':')
        || (word.contains('.') && !word.starts_with("__"))
        || Path::new(word).exists()
}

/// Takes the address off the front of `words` (`[ADDR] REST...`), or reads it from
/// `$QMP_SOCKET` when the first word is not one. `needed` is how many words must follow
/// the address: with no more words than that, the first cannot be the address.
pub fn split(words: &[String], needed: usize) -> Result<(Endpoint, &[String]), Failure> {
    let from_env = std::env::var(SOCKET_VARIABLE)
        .ok()
        .filter(|v| !v.is_empty());
    match (words.split_first(), from_env) {
        (Some((first, rest)), _) if looks_like_address(first) => Ok((parse(first), rest)),
        (_, Some(env)) => Ok((parse(&env), words)),
        // A bare name (a socket file not created yet): the connect error will say so.
        (Some((first, rest)), None) if words.len() > needed => Ok((parse(first), rest)),
        (Some((first, _)), None) => Err(Failure::usage(format!(
            "`{first}` does not look like an address (unix:PATH, tcp:HOST:PORT or a socket path) \
             and ${SOCKET_VARIABLE} is not set"
        ))),
        (None, None) => Err(Failure::usage(format!(
            "no address: give one (unix:PATH, tcp:HOST:PORT or a socket path) or set ${SOCKET_VARIABLE}"
        ))),
    }
}

/// `unix:PATH`, `tcp:HOST:PORT`, or a path.
pub fn parse(text: &str) -> Endpoint {
    match text.parse() {
        Ok(endpoint) => endpoint,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_not_addresses_and_paths_are() {
        for name in [
            "query-status",
            "STOP",
            "__com.redhat_drive_add",
            "device_del",
        ] {
            assert!(!looks_like_address(name), "{name}");
        }
        for addr in [
            "unix:/tmp/q",
            "tcp:127.0.0.1:4444",
            "./qmp.sock",
            "qmp.sock",
            "/run/q",
        ] {
            assert!(looks_like_address(addr), "{addr}");
        }
        assert_eq!(
            parse("tcp:localhost:4444"),
            Endpoint::Tcp("localhost:4444".into())
        );
        assert_eq!(parse("unix:/a/b"), Endpoint::Unix("/a/b".into()));
        assert_eq!(parse("/a/b"), Endpoint::Unix("/a/b".into()));
    }
}
