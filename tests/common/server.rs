//! Starting the real `shale` binary for integration tests.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct Node {
    pub child: Child,
    pub addr: SocketAddr,
    pub banner: Vec<String>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn shale() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shale"))
}

/// Starts `shale serve` on a free loopback port; returns once it listens.
pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Node {
    start_with(data_dir, env, &[])
}

pub fn start_with(data_dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Node {
    let mut cmd = shale();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .env_remove("SHALE_ROOT_ACCESS_KEY")
        .env_remove("SHALE_ROOT_SECRET_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    let addr = loop {
        let line = lines
            .next()
            .expect("serve exited before listening")
            .unwrap();
        banner.push(line.clone());
        if let Some(rest) = line.strip_prefix("shale listening on http://") {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Node {
        child,
        addr,
        banner,
    }
}

/// SIGTERM, wait; (exited successfully, stderr).
pub fn stop(mut node: Node) -> (bool, String) {
    // SAFETY: sending SIGTERM to our own child process.
    unsafe { libc::kill(node.child.id() as i32, libc::SIGTERM) };
    let status = node.child.wait().unwrap();
    let mut err = String::new();
    node.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.success(), err)
}

/// The test credentials every client test uses.
pub const ACCESS_KEY: &str = "SHALETESTACCESSKEY01";
pub const SECRET_KEY: &str = "shale-test-secret-key-0123456789abcdefghij";

pub fn creds_env() -> [(&'static str, &'static str); 2] {
    [
        ("SHALE_ROOT_ACCESS_KEY", ACCESS_KEY),
        ("SHALE_ROOT_SECRET_KEY", SECRET_KEY),
    ]
}

/// The test credentials as a client signs with them.
pub fn test_credentials() -> shale::client::Credentials {
    shale::client::Credentials {
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
        region: "us-east-1".into(),
    }
}

/// An S3 client of the node at `addr` with the test credentials.
pub fn client(addr: std::net::SocketAddr) -> shale::client::S3Client {
    shale::client::S3Client::new(addr, test_credentials())
}

/// (status, body) of one HTTP/1.1 response with a Content-Length read
/// from a raw socket; an error if the connection ends or times out first.
pub fn read_response(s: &mut std::net::TcpStream) -> std::io::Result<(u16, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                return Ok((status, text[end + 4..].to_string()));
            }
        }
        match s.read(&mut chunk)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
