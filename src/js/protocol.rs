//! Frames between the server and a script worker process: a 4-byte little-endian length, then
//! that many bytes of JSON. Requests and replies are plain JSON objects (see `pool` and `engine`
//! for their fields).

use std::io::{self, Read, Write};

/// Largest frame accepted: a 1 MiB body, JSON-escaped, with headers and logs.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

pub fn write_frame(w: &mut impl Write, value: &serde_json::Value) -> io::Result<()> {
    write_bytes(w, &serde_json::to_vec(value).map_err(io::Error::other)?)
}

/// One frame holding a JSON array of the first of `values` (a batch of requests) that fit
/// in `MAX_FRAME`; returns how many that is. The first must fit.
pub fn write_array_frame(w: &mut impl Write, values: &[&serde_json::Value]) -> io::Result<usize> {
    let mut bytes = vec![b'['];
    let mut written = 0;
    for value in values {
        let item = serde_json::to_vec(value).map_err(io::Error::other)?;
        if written > 0 && bytes.len() + 2 + item.len() > MAX_FRAME {
            break;
        }
        if written > 0 {
            bytes.push(b',');
        }
        bytes.extend_from_slice(&item);
        written += 1;
    }
    bytes.push(b']');
    write_bytes(w, &bytes)?;
    Ok(written)
}

fn write_bytes(w: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    if bytes.len() > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut framed = Vec::with_capacity(4 + bytes.len());
    framed.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    framed.extend_from_slice(bytes);
    w.write_all(&framed)?;
    w.flush()
}

/// `Ok(None)` at a clean end of stream.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<serde_json::Value>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    serde_json::from_slice(&buf)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &serde_json::json!({"a": [1, "ü"]})).unwrap();
        let mut r = &buf[..];
        assert_eq!(read_frame(&mut r).unwrap().unwrap()["a"][1], "ü");
        assert!(read_frame(&mut r).unwrap().is_none());
    }

    #[test]
    fn an_array_frame_reads_as_one_array() {
        let (a, b) = (serde_json::json!({"n": 1}), serde_json::json!("two"));
        let mut buf = Vec::new();
        assert_eq!(write_array_frame(&mut buf, &[&a, &b]).unwrap(), 2);
        let mut r = &buf[..];
        assert_eq!(
            read_frame(&mut r).unwrap().unwrap(),
            serde_json::json!([{"n": 1}, "two"])
        );
        // What does not fit in one frame stays out of it.
        let big = serde_json::json!("x".repeat(MAX_FRAME / 2));
        let mut buf = Vec::new();
        assert_eq!(write_array_frame(&mut buf, &[&big, &big, &a]).unwrap(), 1);
    }
}
