#!/usr/bin/python3
"""A stand-in for an OpenStack API service (keystone's place in the reference
deployment): an HTTP server on a controller's address that, like the real APIs, keeps
its state in the database it reaches through the VIP and the load balancer, and uses
the node's memcached on every request.

    POST /tx/ID    insert row ID (one transaction, committed before the answer)
    GET  /tx/ID    the row (memcached first, then the database)
    GET /, OPTIONS /  health (HAProxy's `option httpchk` sends OPTIONS /)

Every answer names the controller that served it. A database or memcached failure
answers 503 with the reason; nothing is retried here (the client counts failures).
Stopped with SIGTERM it stops gracefully, as Debian's Apache (`graceful-stop`) stops
the real APIs: it takes no new connection and finishes the requests it has.

Usage: openstack-api.py NAME ADDR PORT DB_HOST DB_USER DB_PASSWORD
"""

import http.server
import signal
import sys
import threading

import pymysql
from pymemcache.client.base import Client as Memcache

NAME, ADDR, PORT, DB_HOST, DB_USER, DB_PASSWORD = sys.argv[1:7]


def db():
    return pymysql.connect(
        host=DB_HOST,
        port=3306,
        user=DB_USER,
        password=DB_PASSWORD,
        database="api",
        connect_timeout=5,
        read_timeout=10,
        write_timeout=10,
        autocommit=False,
    )


def cache():
    return Memcache(("127.0.0.1", 11211), connect_timeout=2, timeout=2)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def answer(self, code, text):
        body = (text + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def tx_id(self):
        parts = self.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "tx" and parts[1].isdigit():
            return int(parts[1])
        return None

    def do_OPTIONS(self):
        self.answer(200, "ok " + NAME)

    def do_GET(self):
        if self.path == "/":
            return self.answer(200, "ok " + NAME)
        n = self.tx_id()
        if n is None:
            return self.answer(404, "no such path")
        try:
            mc = cache()
            hit = mc.get("tx%d" % n)
            mc.close()
            if hit is not None:
                return self.answer(200, "%s cached %s" % (NAME, hit.decode()))
            conn = db()
            try:
                with conn.cursor() as c:
                    c.execute("SELECT node FROM tx WHERE id = %s", (n,))
                    row = c.fetchone()
            finally:
                conn.close()
            if row is None:
                return self.answer(404, "%s no row %d" % (NAME, n))
            self.answer(200, "%s db %s" % (NAME, row[0]))
        except Exception as e:  # any failure is the client's to count
            self.answer(503, "%s failed: %s" % (NAME, e))

    def do_POST(self):
        n = self.tx_id()
        if n is None:
            return self.answer(404, "no such path")
        try:
            conn = db()
            try:
                with conn.cursor() as c:
                    c.execute("INSERT INTO tx (id, node) VALUES (%s, %s)", (n, NAME))
                conn.commit()
            finally:
                conn.close()
            mc = cache()
            mc.set("tx%d" % n, NAME, expire=600)
            mc.close()
            self.answer(200, "%s committed %d" % (NAME, n))
        except Exception as e:
            self.answer(503, "%s failed: %s" % (NAME, e))

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    # Requests in progress are finished before the process ends.
    daemon_threads = False
    block_on_close = True
    request_queue_size = 128


server = Server((ADDR, int(PORT)), Handler)
signal.signal(
    signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start()
)
server.serve_forever()
server.server_close()
