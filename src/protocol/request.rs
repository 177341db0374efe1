//! What a client sends: one command per message.

use serde::Serialize;

/// Writes one request line into `buf` (appending): `{"execute":NAME,"arguments":ARGS,"id":ID}`
/// and a newline. Arguments that serialise to `null` (a unit struct) are left out, because
/// QEMU insists that `arguments`, when present, is an object; `{}` is left out too, as it
/// means the same as no arguments and costs bytes on every argument-less call.
pub(crate) fn encode_request<A: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    name: &str,
    args: &A,
    id: u64,
    oob: bool,
) -> Result<(), serde_json::Error> {
    buf.extend_from_slice(if oob {
        b"{\"exec-oob\":"
    } else {
        b"{\"execute\":"
    });
    serde_json::to_writer(&mut *buf, name)?;
    let before_args = buf.len();
    buf.extend_from_slice(b",\"arguments\":");
    let args_start = buf.len();
    serde_json::to_writer(&mut *buf, args)?;
    if matches!(&buf[args_start..], b"null" | b"{}") {
        buf.truncate(before_args);
    }
    buf.extend_from_slice(b",\"id\":");
    let mut itoa = [0u8; 20];
    buf.extend_from_slice(format_u64(id, &mut itoa));
    buf.extend_from_slice(b"}\n");
    Ok(())
}

/// Decimal digits of `n` without going through `fmt` (which allocates nothing either, but
/// this keeps the hot path free of formatter machinery).
fn format_u64(mut n: u64, out: &mut [u8; 20]) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &out[i..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;
    use crate::protocol::{parse_greeting, parse_id, Capability, Incoming};

    #[test]
    fn encodes_requests() {
        let mut buf = Vec::new();
        encode_request(&mut buf, "stop", &(), 7, false).unwrap();
        assert_eq!(buf, b"{\"execute\":\"stop\",\"id\":7}\n");
        buf.clear();
        encode_request(&mut buf, "stop", &serde_json::json!({}), 8, false).unwrap();
        assert_eq!(buf, b"{\"execute\":\"stop\",\"id\":8}\n");
        buf.clear();
        let args = serde_json::json!({"a": 1});
        encode_request(&mut buf, "x", &args, 18446744073709551615, true).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf).unwrap(),
            "{\"exec-oob\":\"x\",\"arguments\":{\"a\":1},\"id\":18446744073709551615}\n"
        );
    }

    #[test]
    fn parses_replies_once() {
        let m: Incoming = serde_json::from_slice(br#"{"return": null, "id": 3}"#).unwrap();
        assert_eq!(m.ret.unwrap().get(), "null");
        assert_eq!(parse_id(m.id.unwrap()), Some(3));
        let m: Incoming =
            serde_json::from_slice(br#"{"id": 4, "error": {"class": "Nope", "desc": "d"}}"#)
                .unwrap();
        let e = m.error.unwrap();
        assert_eq!(e.class, ErrorClass::Other("Nope".into()));
        assert!(m.ret.is_none());
        let g = parse_greeting(
            br#"{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": "p"}, "capabilities": ["oob", "new"]}}"#,
        )
        .unwrap();
        assert!(g.offers_oob());
        assert_eq!(g.capabilities[1], Capability::Other("new".into()));
        assert_eq!(g.version.qemu.to_string(), "10.0.2");
    }
}
