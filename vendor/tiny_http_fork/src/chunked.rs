//! cc-server patch: chunked request bodies (PATCHES.md, 8 and 13), strictly: hex sizes only
//! (no sign, no spaces), a size line of at most 1 KiB with its extensions, CRLF everywhere,
//! trailers of at most 8 KiB in all. `chunked_end` finds where a buffered body ends without
//! decoding it; `ChunkedDecoder` decodes one from any reader. Pure: no sockets.

use std::io::{self, ErrorKind, Read};

/// A chunked body read from `R`, decoded strictly. It reads ahead in blocks; what it read
/// past the body's end is given back by `take_rest`.
pub(crate) struct ChunkedDecoder<R> {
    raw: R,
    staging: Vec<u8>,
    pos: usize,
    state: Chunk,
    trailer_bytes: usize,
    failed: bool,
}

#[derive(Clone, Copy)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

pub(crate) const MAX_CHUNK_LINE: usize = 1024;
const MAX_TRAILERS: usize = 8 * 1024;

fn bad_chunk(why: &str) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, format!("bad chunked body: {why}"))
}

impl<R: Read> ChunkedDecoder<R> {
    pub(crate) fn new(raw: R) -> ChunkedDecoder<R> {
        ChunkedDecoder {
            raw,
            staging: Vec::new(),
            pos: 0,
            state: Chunk::Size,
            trailer_bytes: 0,
            failed: false,
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.pos < self.staging.len() {
            return Ok(());
        }
        self.staging.resize(8192, 0);
        self.pos = 0;
        let n = self.raw.read(&mut self.staging)?;
        self.staging.truncate(n);
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    /// One CRLF-terminated line, without its CRLF.
    fn line(&mut self, max: usize) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        loop {
            self.fill()?;
            let byte = self.staging[self.pos];
            self.pos += 1;
            if byte == b'\n' {
                return match line.pop() {
                    Some(b'\r') => Ok(line),
                    _ => Err(bad_chunk("a line ends without CRLF")),
                };
            }
            line.push(byte);
            // `max` bytes and the CR.
            if line.len() > max + 1 {
                return Err(bad_chunk("a line is too long"));
            }
        }
    }

    fn step(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.state {
                Chunk::Size => {
                    let line = self.line(MAX_CHUNK_LINE)?;
                    let digits = line.split(|b| *b == b';').next().unwrap_or(&[]);
                    if digits.is_empty()
                        || digits.len() > 15
                        || !digits.iter().all(u8::is_ascii_hexdigit)
                    {
                        return Err(bad_chunk("a chunk size is not hex digits"));
                    }
                    let size = u64::from_str_radix(std::str::from_utf8(digits).unwrap_or("x"), 16)
                        .map_err(|_| bad_chunk("a chunk size is not hex digits"))?;
                    self.state = if size == 0 { Chunk::Trailer } else { Chunk::Data(size) };
                }
                Chunk::Data(left) => {
                    if buf.is_empty() {
                        return Ok(0);
                    }
                    self.fill()?;
                    let n = (self.staging.len() - self.pos)
                        .min(buf.len())
                        .min(left.min(usize::MAX as u64) as usize);
                    buf[..n].copy_from_slice(&self.staging[self.pos..self.pos + n]);
                    self.pos += n;
                    self.state = if left == n as u64 { Chunk::DataEnd } else { Chunk::Data(left - n as u64) };
                    return Ok(n);
                }
                Chunk::DataEnd => {
                    if !self.line(0)?.is_empty() {
                        return Err(bad_chunk("chunk data is longer than its size"));
                    }
                    self.state = Chunk::Size;
                }
                Chunk::Trailer => {
                    let line = self.line(MAX_TRAILERS)?;
                    self.trailer_bytes += line.len() + 2;
                    if self.trailer_bytes > MAX_TRAILERS {
                        return Err(bad_chunk("trailers are too long"));
                    }
                    if line.is_empty() {
                        self.state = Chunk::Done;
                    }
                }
                Chunk::Done => return Ok(0),
            }
        }
    }
}

impl<R> ChunkedDecoder<R> {
    /// The body has ended well (after an error nothing more is read, and this stays false).
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, Chunk::Done) && !self.failed
    }

    /// Bytes read past the body's end.
    pub(crate) fn take_rest(&mut self) -> Vec<u8> {
        let rest = self.staging.split_off(self.pos.min(self.staging.len()));
        self.staging.clear();
        self.pos = 0;
        rest
    }

    pub(crate) fn source(&self) -> &R {
        &self.raw
    }
}

impl<R: Read> Read for ChunkedDecoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = self.step(buf);
        if result.is_err() {
            self.state = Chunk::Done;
            self.failed = true;
        }
        result
    }
}

/// Where a chunked body in `body` ends: `Ok(None)` when more is needed, `Err` when it is
/// malformed (the decoder then answers for it).
pub(crate) fn chunked_end(body: &[u8]) -> Result<Option<usize>, ()> {
    let line_end = |from: usize| -> Option<usize> {
        body.get(from..)?
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| from + p)
    };
    let mut at = 0;
    loop {
        let Some(end) = line_end(at) else {
            return if body.len() - at > MAX_CHUNK_LINE { Err(()) } else { Ok(None) };
        };
        if end - at > MAX_CHUNK_LINE {
            return Err(());
        }
        let digits = body[at..end].split(|b| *b == b';').next().unwrap_or(&[]);
        if digits.is_empty() || digits.len() > 15 || !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err(());
        }
        let size = u64::from_str_radix(std::str::from_utf8(digits).map_err(|_| ())?, 16)
            .map_err(|_| ())? as usize;
        at = end + 2;
        if size == 0 {
            // Trailer lines up to an empty one.
            loop {
                let Some(end) = line_end(at) else {
                    return Ok(None);
                };
                if end == at {
                    return Ok(Some(end + 2));
                }
                at = end + 2;
            }
        }
        if body.len() < at + size + 2 {
            return Ok(None);
        }
        if &body[at + size..at + size + 2] != b"\r\n" {
            return Err(());
        }
        at += size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(s: &str) -> (io::Result<Vec<u8>>, Vec<u8>) {
        let mut d = ChunkedDecoder::new(s.as_bytes());
        let mut out = Vec::new();
        let r = d.read_to_end(&mut out).map(|_| out);
        (r, d.take_rest())
    }

    #[test]
    fn a_body_with_extensions_and_trailers_then_the_next_request() {
        let raw = "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\nGET /";
        let (body, rest) = decode(raw);
        assert_eq!(body.unwrap(), b"hello world");
        assert_eq!(rest, b"GET /");
        assert_eq!(chunked_end(raw.as_bytes()), Ok(Some(raw.len() - 5)));
    }

    #[test]
    fn malformed_bodies_are_errors() {
        for bad in ["+5\r\nhello\r\n0\r\n\r\n", " 5\r\nhello\r\n0\r\n\r\n", "0x5\r\n", "5\nhello\r\n",
                    "5\r\nhelloX\r\n0\r\n\r\n", "fffffffffffffffff\r\n"] {
            assert!(decode(bad).0.is_err(), "{bad:?}");
            assert_eq!(chunked_end(bad.as_bytes()), Err(()), "{bad:?}");
        }
        let long = format!("5;{}\r\n", "e".repeat(2000));
        assert!(decode(&long).0.is_err());
        assert_eq!(chunked_end(long.as_bytes()), Err(()));
    }

    #[test]
    fn an_unfinished_body_needs_more() {
        for part in ["", "5", "5\r\nhel", "5\r\nhello\r\n0\r\n", "5\r\nhello\r\n0\r\nX: y\r\n"] {
            assert_eq!(chunked_end(part.as_bytes()), Ok(None), "{part:?}");
            assert_eq!(decode(part).0.unwrap_err().kind(), ErrorKind::UnexpectedEof, "{part:?}");
        }
    }
}
