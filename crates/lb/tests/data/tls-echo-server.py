#!/usr/bin/python3
"""A TLS HTTP server for the load balancer's tests: it answers every GET with what the
TLS handshake told it — the name the client sent by SNI, the client certificate's
common name, the protocol — so that a test sees what halo did as a TLS client.

usage: tls-echo-server.py PORT CERT_PEM CLIENT_CA_PEM
Prints "ready" once listening on 127.0.0.1:PORT."""
import http.server
import ssl
import sys

port, cert, client_ca = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert)
ctx.load_verify_locations(client_ca)
ctx.verify_mode = ssl.CERT_OPTIONAL


def remember_sni(sock, name, _ctx):
    sock.sni = name


ctx.sni_callback = remember_sni


class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        conn = self.connection
        peer = conn.getpeercert() or {}
        cn = "-"
        for rdn in peer.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    cn = value
        body = "sni=%s cert=%s proto=%s alpn=%s\n" % (
            getattr(conn, "sni", None) or "-",
            cn,
            conn.version(),
            conn.selected_alpn_protocol() or "-",
        )
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


ctx.set_alpn_protocols(["http/1.1"])
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Echo)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
