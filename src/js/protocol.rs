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
    // The length goes in front once the frame is complete: four bytes kept free for it.
    let mut bytes = Vec::with_capacity(4096);
    bytes.extend_from_slice(&[0, 0, 0, 0, b'[']);
    let mut written = 0;
    for value in values {
        let before = bytes.len();
        if written > 0 {
            bytes.push(b',');
        }
        serde_json::to_writer(&mut bytes, value).map_err(io::Error::other)?;
        if written > 0 && bytes.len() + 1 - 4 > MAX_FRAME {
            bytes.truncate(before);
            break;
        }
        written += 1;
    }
    bytes.push(b']');
    let len = bytes.len() - 4;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    bytes[..4].copy_from_slice(&(len as u32).to_le_bytes());
    w.write_all(&bytes)?;
    w.flush()?;
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
    read_frame_into(r, &mut Vec::new())
}

/// `read_frame` through a buffer the caller keeps: a busy reader then does not allocate (and
/// free) a frame-sized buffer for every frame.
pub fn read_frame_into(
    r: &mut impl Read,
    buf: &mut Vec<u8>,
) -> io::Result<Option<serde_json::Value>> {
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
    buf.clear();
    buf.resize(len, 0);
    r.read_exact(buf)?;
    serde_json::from_slice(buf)
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
