//! `jwks-server <dir>`: an identity provider's JWKS URL for the black-box suite. Serves
//! `GET /jwks.json` from `<dir>/url-jwks.json` (read on every request, so a test rotates keys
//! by rewriting the file) with `Cache-Control: public, max-age=600`, and `GET /hits` as
//! `{"jwks": n, "other": m}`: how many key-set requests, and how many requests for anything
//! else (a token's `jku` pointing here must never be fetched). Writes its port to
//! `<dir>/jwks.port` once listening. Plain `std`: one thread per connection, one request each.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
struct Hits {
    jwks: AtomicU64,
    other: AtomicU64,
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: jwks-server <dir>"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().expect("bound").port();
    std::fs::write(dir.join("jwks.port"), port.to_string()).expect("jwks.port");
    let hits = Arc::new(Hits::default());
    for stream in listener.incoming().flatten() {
        let (dir, hits) = (dir.clone(), hits.clone());
        std::thread::spawn(move || {
            let _ = serve(stream, &dir, &hits);
        });
    }
}

fn serve(mut stream: TcpStream, dir: &Path, hits: &Hits) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // The headers, up to the blank line; a GET has no body.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = match path {
        "/jwks.json" => {
            hits.jwks.fetch_add(1, Ordering::SeqCst);
            match std::fs::read_to_string(dir.join("url-jwks.json")) {
                Ok(document) => ("200 OK", document),
                Err(_) => ("500 Internal Server Error", String::new()),
            }
        }
        "/hits" => ("200 OK", format!(r#"{{"jwks": {}, "other": {}}}"#, hits.jwks.load(Ordering::SeqCst), hits.other.load(Ordering::SeqCst))),
        _ => {
            hits.other.fetch_add(1, Ordering::SeqCst);
            ("404 Not Found", String::new())
        }
    };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncache-control: public, max-age=600\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}
