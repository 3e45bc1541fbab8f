//! The load balancer against a real kernel's address moves: a host `lb` holding a
//! virtual IP and a `client`, network namespaces of the test kit. Needs root; skips
//! visibly otherwise (CI runs it).

mod common;
use common::*;
use halo_testkit::netns::{require_netns, spare_v4, Net};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// A request in flight when the VIP leaves the node (a move: the address is deleted
/// while the server works on the answer) still gets its answer: the session's socket
/// may send from the address that is no longer local. Before, the answer was dropped by
/// the kernel and the client waited for its timeout.
#[test]
fn lb_request_in_flight_when_the_vip_leaves_is_answered() {
    if !require_netns() {
        return;
    }
    let net = Net::new(&["lb", "client"]).expect("build the network");
    let lb = net.host("lb");
    let vip = spare_v4(31);
    lb.ip(&["addr", "add", &format!("{vip}/24"), "dev", lb.ifname()])
        .expect("add the VIP");
    // A server on the lb host that answers a second after the request.
    let server = lb
        .in_ns(|| TcpListener::bind("127.0.0.1:0"))
        .expect("in lb")
        .expect("bind the server");
    let server_addr = server.local_addr().expect("addr");
    let served = std::thread::spawn(move || {
        let (mut c, _) = server.accept().expect("accept");
        let mut buf = [0u8; 512];
        let _ = c.read(&mut buf);
        std::thread::sleep(Duration::from_secs(1));
        let _ = c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nlate");
    });
    let cfg = format!(
        "defaults\n mode tcp\n timeout connect 2s\n timeout client 30s\n timeout server 30s\n\
         listen api\n bind {vip}:8080\n server s {server_addr}\n"
    );
    let engine = lb.in_ns(|| start_engine(&cfg)).expect("in lb");
    let to: SocketAddr = format!("{vip}:8080").parse().expect("addr");
    let client = net
        .host("client")
        .spawn_in_ns(move || -> Result<String, String> {
            let mut c = TcpStream::connect_timeout(&to, Duration::from_secs(2))
                .map_err(|e| format!("connect: {e}"))?;
            c.set_read_timeout(Some(Duration::from_secs(5)))
                .map_err(|e| e.to_string())?;
            c.write_all(b"GET / HTTP/1.0\r\n\r\n")
                .map_err(|e| format!("send: {e}"))?;
            let mut got = String::new();
            c.read_to_string(&mut got)
                .map_err(|e| format!("read: {e}"))?;
            Ok(got)
        });
    std::thread::sleep(Duration::from_millis(300));
    lb.ip(&["addr", "del", &format!("{vip}/24"), "dev", lb.ifname()])
        .expect("the VIP leaves");
    let got = client
        .join()
        .expect("client thread")
        .expect("client in its namespace");
    served.join().expect("server thread");
    engine.stop(Duration::ZERO);
    match got {
        Ok(text) => assert!(text.ends_with("late"), "{text:?}"),
        Err(e) => panic!("the answer never came: {e}"),
    }
}
