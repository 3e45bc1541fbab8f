#!/usr/bin/python3
"""An application server that keeps sessions as Java servlet containers do: a request
without a JSESSIONID cookie gets a new session (`Set-Cookie: JSESSIONID=NAME.N`); every
answer is the server's name and the session it saw. Usage: session-app.py PORT NAME.
Prints "ready" once listening on 127.0.0.1:PORT."""
import itertools
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, NAME = int(sys.argv[1]), sys.argv[2]
SESSIONS = itertools.count(1)


class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        cookies = dict(
            c.strip().split("=", 1)
            for c in self.headers.get("Cookie", "").split(";")
            if "=" in c
        )
        session = cookies.get("JSESSIONID")
        body = f"{NAME} {session or 'new'}".encode()
        self.send_response(200)
        if session is None:
            self.send_header("Set-Cookie", f"JSESSIONID={NAME}.{next(SESSIONS)}; Path=/; HttpOnly")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", PORT), App)
print("ready", flush=True)
server.serve_forever()
