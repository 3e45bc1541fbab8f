#!/usr/bin/python3
"""HTTP servers on many addresses at once, for running whole haproxy.cfg files: each
ADDR:PORT given answers every request with 200 and "echo ADDR:PORT PATH"; ADDR:PORT/tls
does so over TLS with the certificate (and key) of the PEM file given first.

usage: echo-servers.py PEM ADDR:PORT[/tls]...
Prints "ready" once every listener is up."""
import http.server
import socketserver
import ssl
import sys
import threading

pem = sys.argv[1]


class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = ("echo %s:%d %s\n" % (self.server.server_address[0], self.server.server_address[1], self.path)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_HEAD = do_OPTIONS = do_PUT = do_DELETE = answer

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # Clients that reset or fail a handshake are part of the tests.
        pass


servers = []
for spec in sys.argv[2:]:
    addr, tls = (spec[:-4], True) if spec.endswith("/tls") else (spec, False)
    host, port = addr.rsplit(":", 1)
    s = Server((host, int(port)), Echo)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pem)
        s.socket = ctx.wrap_socket(s.socket, server_side=True)
    servers.append(s)
for s in servers:
    threading.Thread(target=s.serve_forever, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
