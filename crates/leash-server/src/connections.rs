//! Caps on open connections, in total and per source address
//! (`max_connections`, `max_connections_per_source`), applied by the
//! listener's acceptor before TLS or HTTP see a connection: one over a cap is
//! closed at once, so a flood from one address cannot take every connection
//! from the others. A connection's count is returned when it closes (its
//! [`Counted`] stream is dropped). Never reads or writes a byte itself.

use std::collections::HashMap;
use std::future::{Ready, ready};
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How many connections may be open.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub total: usize,
    pub per_source: usize,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// The acceptor that enforces [`ConnectionLimits`] (and sets `TCP_NODELAY`).
#[derive(Clone)]
pub struct LimitAcceptor {
    limits: ConnectionLimits,
    open: Arc<Mutex<Open>>,
}

impl LimitAcceptor {
    pub fn new(limits: ConnectionLimits) -> Self {
        Self {
            limits,
            open: Arc::default(),
        }
    }

    /// A ticket for one more connection from `source`, if both caps allow it.
    fn admit(&self, source: IpAddr) -> Option<Ticket> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let from_source = open.by_source.get(&source).copied().unwrap_or(0);
        if open.total >= self.limits.total || from_source >= self.limits.per_source {
            return None;
        }
        open.total += 1;
        open.by_source.insert(source, from_source + 1);
        Some(Ticket {
            open: self.open.clone(),
            source,
        })
    }
}

/// One admitted connection; dropping it gives its place back.
struct Ticket {
    open: Arc<Mutex<Open>>,
    source: IpAddr,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_source.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                open.by_source.remove(&self.source);
            }
        }
    }
}

/// A stream that holds its connection's place until it is dropped.
pub struct Counted<S> {
    stream: S,
    _ticket: Ticket,
}

impl<S: Send + 'static> Accept<TcpStream, S> for LimitAcceptor {
    type Stream = Counted<TcpStream>;
    type Service = S;
    type Future = Ready<io::Result<(Self::Stream, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let admitted = stream.peer_addr().ok().and_then(|peer| self.admit(peer.ip()));
        ready(match admitted {
            Some(ticket) => {
                let _ = stream.set_nodelay(true);
                Ok((
                    Counted {
                        stream,
                        _ticket: ticket,
                    },
                    service,
                ))
            }
            None => {
                tracing::debug!("connection refused: max_connections or max_connections_per_source reached");
                Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    "connection limit reached",
                ))
            }
        })
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_per_source_and_in_total_and_places_come_back() {
        let acceptor = LimitAcceptor::new(ConnectionLimits {
            total: 3,
            per_source: 2,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = acceptor.admit(a).unwrap();
        let _a2 = acceptor.admit(a).unwrap();
        assert!(acceptor.admit(a).is_none(), "a third from one source");
        let _b1 = acceptor.admit(b).unwrap();
        assert!(acceptor.admit(b).is_none(), "a fourth in total");
        drop(a1);
        assert!(acceptor.admit(b).is_some(), "a closed connection gives its place back");
    }
}
