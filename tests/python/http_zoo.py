"""A small zoo of HTTP/1.1 servers for tests/http_client.rs: well-behaved
routes, and routes that misbehave the ways real servers do (close mid-body,
send Content-Length with Transfer-Encoding, never answer, answer a byte at a
time, close a keep-alive connection as it is reused). Python's http.server,
optionally over ssl.

usage: http_zoo.py PORT [--tls CERT KEY]   (PORT 0: prints the one chosen)
"""
import gzip
import json
import socket
import ssl
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Zoo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            return self.rfile.read(n)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return b""

    def send(self, status, body, ctype="text/plain", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def raw(self, data):
        self.wfile.write(data)
        self.wfile.flush()

    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_PUT(self):
        self.route()

    def do_HEAD(self):
        self.route()

    def do_DELETE(self):
        self.route()

    def route(self):
        path = self.path.split("?")[0]
        # One handler serves every request of its connection.
        served = getattr(self, "served", 0)
        self.served = served + 1
        if path == "/echo":
            data = self.body()
            answer = {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": data.decode("utf-8", "replace"),
                "served_on_this_connection": served + 1,
            }
            self.send(200, json.dumps(answer).encode(), "application/json")
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in [b"one ", b"two ", b"three"]:
                self.raw(b"%x\r\n%s\r\n" % (len(piece), piece))
                time.sleep(0.02)
            self.raw(b"0\r\n\r\n")
        elif path == "/close-mid-body":
            self.raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            self.close_now()
        elif path == "/close-mid-chunk":
            self.raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\nabc")
            self.close_now()
        elif path == "/cl-te":
            self.raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            self.close_now()
        elif path == "/never":
            time.sleep(30)
            self.close_now()
        elif path == "/slow":
            for b in b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nslow answer!":
                self.raw(bytes([b]))
                time.sleep(0.005)
        elif path == "/stall-body":
            self.raw(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            time.sleep(30)
        elif path == "/gzip":
            data = gzip.compress(b"compressed " * 100)
            self.send(200, data, extra=[("Content-Encoding", "gzip")])
        elif path == "/deflate":
            data = zlib.compress(b"deflated " * 100)
            self.send(200, data, extra=[("Content-Encoding", "deflate")])
        elif path == "/gzip-bomb":
            data = gzip.compress(b"\0" * (8 << 20))
            self.send(200, data, extra=[("Content-Encoding", "gzip")])
        elif path == "/sse":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i, token in enumerate(["The", " answer", " is", " 42"]):
                event = "id: %d\nevent: token\ndata: %s\n\n" % (i, token)
                self.raw(b"%x\r\n%s\r\n" % (len(event), event.encode()))
                time.sleep(0.05)
            self.raw(b"0\r\n\r\n")
        elif path == "/redirect/303":
            self.body()
            self.send(303, b"", extra=[("Location", "/echo")])
        elif path == "/redirect/307":
            self.body()
            self.send(307, b"", extra=[("Location", "/echo")])
        elif path == "/redirect/cross":
            port = self.server.server_address[1]
            self.send(302, b"", extra=[("Location", "http://localhost:%d/echo" % port)])
        elif path == "/redirect/loop":
            self.send(302, b"", extra=[("Location", "/redirect/loop")])
        elif path == "/huge-head":
            self.raw(b"HTTP/1.1 200 OK\r\nX-Big: " + b"x" * 70000 + b"\r\nContent-Length: 0\r\n\r\n")
        elif path == "/flaky":
            # Answers the first request of a connection, keeping it open;
            # closes at the second without a word (a server that closed
            # its end just as the client reused it).
            self.body()
            if served == 0:
                self.send(200, b"first")
            else:
                self.close_now()
        elif path == "/status/503":
            self.send(503, b"busy")
        else:
            self.send(404, b"no such route")

    def close_now(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    port = int(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", port), Zoo)
    server.daemon_threads = True
    if "--tls" in sys.argv:
        at = sys.argv.index("--tls")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[at + 1], sys.argv[at + 2])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    # Until the parent closes our stdin.
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()


main()
