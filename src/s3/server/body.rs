//! Streaming an object's bytes (or a range of them) from its data file,
//! with an exact length so responses carry Content-Length.

use std::io::{Seek as _, SeekFrom};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use s3s::stream::{ByteStream, RemainingLength};
use tokio::io::AsyncReadExt as _;
use tokio_util::io::ReaderStream;

use super::durable::DurableError;

const READ_CHUNK: usize = 256 * 1024;

pub struct FileStream {
    inner: ReaderStream<tokio::io::Take<tokio::fs::File>>,
    remaining: u64,
}

impl FileStream {
    pub fn new(mut file: std::fs::File, start: u64, len: u64) -> Result<Self, DurableError> {
        file.seek(SeekFrom::Start(start))
            .map_err(|e| DurableError::io("seek", std::path::Path::new("object data"), e))?;
        let file = tokio::fs::File::from_std(file).take(len);
        Ok(FileStream {
            inner: ReaderStream::with_capacity(file, READ_CHUNK),
            remaining: len,
        })
    }
}

impl Stream for FileStream {
    type Item = Result<Bytes, s3s::StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(b))) => {
                self.remaining = self.remaining.saturating_sub(b.len() as u64);
                Poll::Ready(Some(Ok(b)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl ByteStream for FileStream {
    fn remaining_length(&self) -> RemainingLength {
        usize::try_from(self.remaining)
            .map(RemainingLength::new_exact)
            .unwrap_or_else(|_| RemainingLength::unknown())
    }
}
