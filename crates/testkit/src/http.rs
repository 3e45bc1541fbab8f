//! A minimal HTTP/1 server for load balancer tests: every request (any method) gets
//! `200` with the server's name as the body, then the connection closes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};

/// Serves on `addr` (`127.0.0.1:0` for any free port) from threads of its own, for as
/// long as the test runs; returns the address bound.
pub fn name_server(addr: &str, name: &'static str) -> std::io::Result<SocketAddr> {
    let l = TcpListener::bind(addr)?;
    let bound = l.local_addr()?;
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = c.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
                        name.len()
                    )
                    .as_bytes(),
                );
            });
        }
    });
    Ok(bound)
}
