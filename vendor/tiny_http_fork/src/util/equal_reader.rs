use std::io::Read;
use std::io::Result as IoResult;
use std::sync::mpsc::channel;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A `Reader` that reads exactly the number of bytes from a sub-reader.
///
/// If the limit is reached, it returns EOF. If the limit is not reached
/// when the destructor is called, the remaining bytes will be read and
/// thrown away.
pub struct EqualReader<R>
where
    R: Read,
{
    reader: R,
    size: usize,
    last_read_signal: Sender<IoResult<()>>,
    // cc-server patch: when set, an unread remainder is not drained (see Drop).
    abandoned: Option<Arc<AtomicBool>>,
}

impl<R> EqualReader<R>
where
    R: Read,
{
    pub fn new(reader: R, size: usize) -> (EqualReader<R>, Receiver<IoResult<()>>) {
        let (tx, rx) = channel();

        let r = EqualReader {
            reader,
            size,
            last_read_signal: tx,
            abandoned: None,
        };

        (r, rx)
    }
}

impl<R> EqualReader<R>
where
    R: Read,
{
    /// cc-server patch: instead of draining an unread body when dropped — which blocks the
    /// handler's thread for as long as a slow or lying client likes — set `flag`, so the
    /// connection is closed rather than reused.
    pub fn abandon_with(mut self, flag: Arc<AtomicBool>) -> Self {
        self.abandoned = Some(flag);
        self
    }
}

impl<R> Read for EqualReader<R>
where
    R: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> IoResult<usize> {
        if self.size == 0 {
            return Ok(0);
        }

        let buf = if buf.len() < self.size {
            buf
        } else {
            &mut buf[..self.size]
        };

        match self.reader.read(buf) {
            Ok(len) => {
                self.size -= len;
                Ok(len)
            }
            err @ Err(_) => err,
        }
    }
}

impl<R> Drop for EqualReader<R>
where
    R: Read,
{
    fn drop(&mut self) 
    {
        if let Some(flag) = &self.abandoned
        {
            if self.size > 0
            {
                flag.store(true, Ordering::SeqCst);
                return;
            }
        }
        let mut remaining_to_read = self.size;

        // TODO: reimplement the whole sicket and thread system to use async/await for internal handling not
        // exposing the async/await to the user. Also replace the below with the splice() sendfile() to /dev/null
        // instead of copying it to userland.
        let mut buf = [0_u8; 4096];

        while remaining_to_read > 0 
        {
            let r = remaining_to_read.min(buf.len());

            match self.reader.read(&mut buf[..r]) 
            {
                Err(e) => 
                {
                    self.last_read_signal.send(Err(e)).ok();
                    break;
                },
                Ok(0) => 
                {
                    self.last_read_signal.send(Ok(())).ok();
                    break;
                },
                Ok(n) => 
                {
                    remaining_to_read -= n;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EqualReader;
    use std::io::Read;

    #[test]
    fn test_limit() {
        use std::io::Cursor;

        let mut org_reader = Cursor::new("hello world".to_string().into_bytes());

        {
            let (mut equal_reader, _) = EqualReader::new(org_reader.by_ref(), 5);

            let mut string = String::new();
            equal_reader.read_to_string(&mut string).unwrap();
            assert_eq!(string, "hello");
        }

        let mut string = String::new();
        org_reader.read_to_string(&mut string).unwrap();
        assert_eq!(string, " world");
    }

    #[test]
    fn test_not_enough() {
        use std::io::Cursor;

        let mut org_reader = Cursor::new("hello world".to_string().into_bytes());

        {
            let (mut equal_reader, _) = EqualReader::new(org_reader.by_ref(), 5);

            let mut vec = [0];
            equal_reader.read_exact(&mut vec).unwrap();
            assert_eq!(vec[0], b'h');
        }

        let mut string = String::new();
        org_reader.read_to_string(&mut string).unwrap();
        assert_eq!(string, " world");
    }
}
