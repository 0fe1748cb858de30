//! The HTTP front: one runtime per core, each accepting on its own
//! `SO_REUSEPORT` listener, so the kernel spreads connections over cores
//! and no request crosses threads.
//!
//! Requests are served by the S3 API ([`s3`]).

pub mod admin;
pub mod body;
mod error_xml;
pub mod metrics;
pub mod s3;

use std::convert::Infallible;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{watch, Semaphore};

use crate::io::Io;

pub use error_xml::error_body;

#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub listen: SocketAddr,
    /// Accepting threads (one runtime each); 0 means one per core.
    pub threads: usize,
    /// Open connections per thread; more wait in the accept queue.
    pub connections_per_thread_max: usize,
    /// A client must send its request head within this time.
    pub header_read_timeout: Duration,
    /// Bytes hyper buffers for a request head.
    pub header_bytes_max: usize,
    /// On shutdown, how long requests in progress may take to finish
    /// before their connections are dropped.
    pub drain_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 7480)),
            threads: 0,
            connections_per_thread_max: 4096,
            header_read_timeout: Duration::from_secs(30),
            header_bytes_max: 64 * 1024,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// A running server; stops when [`Server::shutdown`] is called.
pub struct Server {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Binds every listener (so address errors surface here) and starts
    /// the accepting threads.
    pub fn start(io: &Io, options: ServerOptions, node: Arc<s3::Node>) -> io::Result<Server> {
        let threads = match options.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let first = bind_reuseport(options.listen)?;
        let local_addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..threads {
            listeners.push(bind_reuseport(local_addr)?);
        }
        let (stop, stop_rx) = watch::channel(false);
        let mut handles = Vec::new();
        for (i, listener) in listeners.into_iter().enumerate() {
            let io = io.clone();
            let stop_rx = stop_rx.clone();
            let opts = options.clone();
            let node = Arc::clone(&node);
            let h = std::thread::Builder::new()
                .name(format!("shale-http-{i}"))
                .spawn(move || {
                    let res = io.block_on(accept_loop(listener, opts, stop_rx, node));
                    if let Err(e) | Ok(Err(e)) = res.map(|r| r.map(|_| ())) {
                        eprintln!("error: http thread {i} stopped: {e}");
                    }
                })?;
            handles.push(h);
        }
        Ok(Server {
            local_addr,
            stop,
            threads: handles,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets requests in progress finish (up to the drain
    /// timeout; idle keep-alive connections close at once) and waits for
    /// the threads.
    pub fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn bind_reuseport(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

async fn accept_loop(
    listener: TcpListener,
    opts: ServerOptions,
    mut stop: watch::Receiver<bool>,
    node: Arc<s3::Node>,
) -> io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let slots_max = opts.connections_per_thread_max.max(1);
    let slots = Arc::new(Semaphore::new(slots_max));
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => p.map_err(io::Error::other)?,
            _ = stop.changed() => break,
        };
        let (stream, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                // Out of descriptors or a connection reset before accept:
                // keep serving the others.
                Err(_) => continue,
            },
            _ = stop.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let node = Arc::clone(&node);
        let opts = opts.clone();
        let mut stop = stop.clone();
        tokio::task::spawn_local(async move {
            let service = hyper::service::service_fn(move |req| {
                let node = Arc::clone(&node);
                async move { Ok::<_, Infallible>(s3::handle(req, node).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(opts.header_read_timeout)
                .max_buf_size(opts.header_bytes_max.max(8192))
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let stopping = *stop.borrow();
            if stopping {
                conn.as_mut().graceful_shutdown();
            }
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed(), if !stopping => {
                    // Finish the request in progress, then close.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    // Drain: every connection gives its slot back when it ends.
    let all = u32::try_from(slots_max).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(opts.drain_timeout, slots.acquire_many(all)).await;
    Ok(())
}
