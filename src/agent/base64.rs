//! Standard base64 (RFC 4648, with padding), as the guest agent writes file contents and
//! process output. Small enough to keep here rather than add a dependency for it.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes `bytes` with padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Why a base64 text did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError {
    /// The offset of the first byte that is not base64 (or the length, for a text that
    /// ends mid-group).
    pub(crate) offset: usize,
}

/// Decodes base64 with or without padding; ASCII white space (line breaks) is skipped.
pub(crate) fn decode(text: &str) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut group = 0u32;
    let mut filled = 0;
    let mut padding = 0;
    for (offset, &c) in text.as_bytes().iter().enumerate() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            // Padding only ends a group that has at least two symbols.
            if filled + padding < 2 {
                return Err(DecodeError { offset });
            }
            padding += 1;
            if filled + padding == 4 {
                flush(&mut out, group, filled);
                (group, filled) = (0, 0);
            } else if padding > 2 {
                return Err(DecodeError { offset });
            }
            continue;
        }
        if padding > 0 {
            // Nothing follows the padding of the last group.
            return Err(DecodeError { offset });
        }
        let Some(v) = value(c) else {
            return Err(DecodeError { offset });
        };
        group = (group << 6) | v;
        filled += 1;
        if filled == 4 {
            flush(&mut out, group, 4);
            (group, filled) = (0, 0);
        }
    }
    match filled {
        0 => Ok(out),
        1 => Err(DecodeError { offset: text.len() }),
        _ if padding > 0 => Err(DecodeError { offset: text.len() }),
        _ => {
            flush(&mut out, group, filled);
            Ok(out)
        }
    }
}

/// Appends the bytes of a group of `filled` symbols (2, 3 or 4) held in `group`'s low bits.
fn flush(out: &mut Vec<u8>, group: u32, filled: usize) {
    let n = group << (6 * (4 - filled as u32));
    let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
    out.extend_from_slice(&bytes[..filled - 1]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4648's test vectors, both ways.
    #[test]
    fn rfc_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, coded) in vectors {
            assert_eq!(encode(plain.as_bytes()), coded);
            assert_eq!(decode(coded).unwrap(), plain.as_bytes(), "{coded}");
        }
    }

    /// What the agent sends for `echo out` (a real reply), unpadded forms and line breaks.
    #[test]
    fn lenient_where_it_is_safe() {
        assert_eq!(decode("b3V0Cg==").unwrap(), b"out\n");
        assert_eq!(decode("Zm9vYg").unwrap(), b"foob");
        assert_eq!(decode("Zm9v\r\nYmFy\n").unwrap(), b"foobar");
    }

    #[test]
    fn every_byte_value_round_trips() {
        let all: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for len in [0, 1, 2, 3, 254, 255, 256, 1000] {
            assert_eq!(decode(&encode(&all[..len])).unwrap(), &all[..len]);
        }
    }

    #[test]
    fn rejects_what_is_not_base64() {
        assert_eq!(decode("Zm9v!"), Err(DecodeError { offset: 4 }));
        assert_eq!(decode("Z"), Err(DecodeError { offset: 1 }));
        assert_eq!(decode("Z==="), Err(DecodeError { offset: 1 }));
        assert_eq!(decode("Zg==Zg=="), Err(DecodeError { offset: 4 }));
        assert_eq!(decode("Zm9=v"), Err(DecodeError { offset: 4 }));
        assert!(decode("=").is_err());
        assert!(decode("Zg=").is_err());
    }
}
