//! The HTTP front: one runtime per core, each accepting on its own
//! `SO_REUSEPORT` listener, so the kernel spreads connections over cores
//! and no request crosses threads.
//!
//! Requests are served by the S3 API ([`s3`]) on the node as HTTP sees
//! it ([`front::Front`]: the `node::Node` and HTTP-only state). Connection slots go to
//! busy connections first ([`conns`]): idle ones are closed to make room.

pub mod admin;
pub mod body;
pub mod body_rate;
pub mod conns;
pub mod front;
pub mod metrics;
pub mod s3;

use std::convert::Infallible;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;

use crate::io::Io;
use body::ResponseBody;
use conns::{BusyGuard, ConnTable, PerIp};
use front::Front;

use crate::s3::error_xml::error_body;

#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub listen: SocketAddr,
    /// Accepting threads (one runtime each); 0 means one per core.
    pub threads: usize,
    /// Open connections per thread: past it a new connection closes the
    /// connection idle longest, or waits in the accept queue if all are
    /// busy.
    pub connections_per_thread_max: usize,
    /// Open connections per client address, all threads (0: no limit).
    pub connections_per_ip_max: usize,
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
            connections_per_ip_max: 4096,
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
    pub fn start(io: &Io, options: ServerOptions, front: Arc<Front>) -> io::Result<Server> {
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
        let per_ip = PerIp::new(options.connections_per_ip_max);
        let mut handles = Vec::new();
        for (i, listener) in listeners.into_iter().enumerate() {
            let io = io.clone();
            let stop_rx = stop_rx.clone();
            let opts = options.clone();
            let front = Arc::clone(&front);
            let per_ip = Arc::clone(&per_ip);
            let h = std::thread::Builder::new()
                .name(format!("shale-http-{i}"))
                .spawn(move || {
                    let res = io.block_on(accept_loop(listener, opts, stop_rx, front, per_ip));
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

/// The client's address, put in each request's extensions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PeerAddr(pub std::net::IpAddr);

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

/// Connections a thread takes beyond its slots when every slot is busy
/// with a request: they may only ask for `/health`, `/ready` and
/// `/metrics`, so a fully loaded node still answers its probes.
const PROBE_RESERVE: usize = 8;

/// Paths an overflow connection may ask for.
fn is_probe(path: &str) -> bool {
    matches!(path, "/health" | "/ready" | "/metrics")
}

async fn accept_loop(
    listener: TcpListener,
    opts: ServerOptions,
    mut stop: watch::Receiver<bool>,
    front: Arc<Front>,
    per_ip: Arc<PerIp>,
) -> io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let slots = opts.connections_per_thread_max.max(1);
    let table = Rc::new(ConnTable::default());
    'accepting: loop {
        // Room for one more: a free slot, an idle connection to close, or
        // a probe's reserved one.
        while !table.has_room(slots) && table.len() >= slots + PROBE_RESERVE {
            tokio::select! {
                _ = table.changed() => {}
                _ = stop.changed() => break 'accepting,
            }
        }
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                // Out of descriptors or a connection reset before accept:
                // keep serving the others.
                Err(_) => continue,
            },
            _ = stop.changed() => break,
        };
        let Some(ip_guard) = per_ip.admit(peer.ip()) else {
            front.metrics.connections_refused.inc();
            continue; // dropping the stream closes it
        };
        let overflow = if table.len() < slots {
            false
        } else if table.shed_oldest_idle() {
            front.metrics.connections_shed.inc();
            false
        } else {
            true
        };
        let _ = stream.set_nodelay(true);
        let handle = table.open(overflow);
        let front = Arc::clone(&front);
        let opts = opts.clone();
        let mut stop = stop.clone();
        let table = Rc::clone(&table);
        tokio::task::spawn_local(async move {
            let _ip_guard = ip_guard;
            let open = front.metrics.connections_open.clone();
            open.inc();
            let state = handle.state();
            let service = {
                let state = Rc::clone(&state);
                hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                    // For bucket policies' aws:SourceIp.
                    req.extensions_mut().insert(PeerAddr(peer.ip()));
                    let busy = state.busy(&table);
                    let front = Arc::clone(&front);
                    let overflow = state.overflow;
                    async move {
                        let resp = if overflow && !is_probe(req.uri().path()) {
                            at_capacity()
                        } else {
                            s3::handle(req, front).await
                        };
                        Ok::<_, Infallible>(resp.map(|body| TrackedBody { body, _busy: busy }))
                    }
                })
            };
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(opts.header_read_timeout)
                .max_buf_size(opts.header_bytes_max.max(8192))
                .keep_alive(!overflow)
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let stopping = *stop.borrow();
            if stopping {
                conn.as_mut().graceful_shutdown();
            }
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = state.shed.notified() => {
                    // Idle: close now. Busy (a request head came in since it
                    // was picked): finish that request, then close.
                    if state.is_busy() {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
                _ = stop.changed(), if !stopping => {
                    // Finish the request in progress, then close.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            open.dec();
            drop(handle);
        });
    }
    drop(listener);
    // Drain: every connection leaves the table when it ends.
    let _ = tokio::time::timeout(opts.drain_timeout, async {
        while !table.is_empty() {
            table.changed().await;
        }
    })
    .await;
    Ok(())
}

/// The answer on an overflow connection to anything but a probe.
fn at_capacity() -> hyper::Response<ResponseBody> {
    let mut r = hyper::Response::new(ResponseBody::from_string(error_body(
        "SlowDown",
        "Please reduce your request rate: every connection slot of this node is busy.",
        "",
        "",
    )));
    *r.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    let h = r.headers_mut();
    h.insert(
        "content-type",
        http::HeaderValue::from_static("application/xml"),
    );
    h.insert("connection", http::HeaderValue::from_static("close"));
    r
}

/// A response body that keeps its connection marked busy until it has
/// been sent (hyper drops it then).
struct TrackedBody {
    body: ResponseBody,
    _busy: BusyGuard,
}

impl Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<bytes::Bytes>, io::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
