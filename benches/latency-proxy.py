#!/usr/bin/env python3
# Usage: python3 benches/latency-proxy.py PORT UPSTREAM_URL DELAY_SECONDS  (benches/README.md, Compaction)
# A loopback proxy that adds a fixed delay before forwarding each request to moto: S3's
# first-byte latency stand-in for measuring sequential vs concurrent GETs.
import http.server, sys, time, urllib.request, socketserver
UPSTREAM = sys.argv[2]; DELAY = float(sys.argv[3])
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def _go(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        time.sleep(DELAY)
        req = urllib.request.Request(UPSTREAM + self.path, data=body, method=self.command)
        for k, v in self.headers.items():
            if k.lower() not in ("host", "content-length", "connection", "transfer-encoding"):
                req.add_header(k, v)
        try:
            r = urllib.request.urlopen(req); status, hdrs, data = r.status, r.getheaders(), r.read()
        except urllib.error.HTTPError as e:
            status, hdrs, data = e.code, e.headers.items(), e.read()
        self.send_response(status)
        for k, v in hdrs:
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _go
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
