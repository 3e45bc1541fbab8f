#!/usr/bin/python3
"""A steady AMQP client load, as OpenStack's services put on RabbitMQ: persistent
messages published one after the other with publisher confirms to a durable queue, and
a consumer taking them with manual acknowledgements, both through one address (the VIP
and the load balancer's `rabbitmq_cluster` listener). Any connection failure is
followed by a new connection; a message that was not confirmed is published again.

It runs until SIGTERM, then stops publishing, lets the consumer drain the queue (until
every confirmed message arrived, or 30 s without a new one) and prints one JSON line:
    confirmed   messages the broker confirmed
    received    distinct messages consumed
    lost        confirmed messages never consumed (their number; `lost_ids`: some)
    failures    publishes that failed (connection lost, refused, nacked)
    gap_ms      the longest time between two confirms (how long publishing stalled)

Usage: amqp-load.py HOST PORT USER PASSWORD QUEUE
"""

import json
import signal
import sys
import threading
import time

import pika
import pika.exceptions

HOST, PORT, USER, PASSWORD, QUEUE = sys.argv[1:6]
PARAMS = pika.ConnectionParameters(
    HOST,
    int(PORT),
    "/",
    pika.PlainCredentials(USER, PASSWORD),
    heartbeat=2,
    blocked_connection_timeout=5,
    connection_attempts=1,
    socket_timeout=2,
)
ERRORS = (pika.exceptions.AMQPError, OSError)

stopping = threading.Event()
published_done = threading.Event()
lock = threading.Lock()
confirmed = set()
received = set()
failures = 0
gap = 0.0


def log(what):
    print(f"{time.strftime('%H:%M:%S')} amqp-load: {what}", file=sys.stderr, flush=True)


def connect():
    c = pika.BlockingConnection(PARAMS)
    ch = c.channel()
    ch.queue_declare(QUEUE, durable=True)
    return c, ch


def close(c):
    try:
        c.close()
    except Exception:
        pass


def publisher():
    global failures, gap
    seq, last = 1, time.monotonic()
    while not stopping.is_set():
        try:
            c, ch = connect()
            ch.confirm_delivery()
        except ERRORS as e:
            with lock:
                failures += 1
            log(f"publisher: connect: {type(e).__name__} {e}")
            time.sleep(0.1)
            continue
        try:
            while not stopping.is_set():
                ch.basic_publish(
                    "", QUEUE, str(seq).encode(),
                    pika.BasicProperties(delivery_mode=2), mandatory=True,
                )
                now = time.monotonic()
                with lock:
                    confirmed.add(seq)
                    gap = max(gap, now - last)
                seq, last = seq + 1, now
                time.sleep(0.02)
        except ERRORS as e:
            with lock:
                failures += 1
            log(f"publisher: message {seq}: {type(e).__name__} {e}")
        close(c)
    published_done.set()


def consumer():
    idle_since = None
    while True:
        c = None
        try:
            c, ch = connect()
            ch.basic_qos(prefetch_count=50)
            for method, _, body in ch.consume(QUEUE, auto_ack=False, inactivity_timeout=0.5):
                if method is not None:
                    with lock:
                        received.add(int(body))
                    ch.basic_ack(method.delivery_tag)
                    idle_since = None
                    continue
                if not published_done.is_set():
                    continue
                with lock:
                    done = confirmed <= received
                idle_since = idle_since or time.monotonic()
                if done or time.monotonic() - idle_since > 30:
                    close(c)
                    return
        except ERRORS as e:
            log(f"consumer: {type(e).__name__} {e}")
            if c is not None:
                close(c)
            time.sleep(0.1)
            if published_done.is_set():
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 30:
                    return


signal.signal(signal.SIGTERM, lambda *_: stopping.set())
threads = [threading.Thread(target=publisher), threading.Thread(target=consumer)]
for t in threads:
    t.start()
for t in threads:
    while t.is_alive():
        t.join(0.2)
lost = sorted(confirmed - received)
print(json.dumps({
    "confirmed": len(confirmed),
    "received": len(received),
    "lost": len(lost),
    "lost_ids": lost[:20],
    "failures": failures,
    "gap_ms": int(gap * 1000),
}), flush=True)
