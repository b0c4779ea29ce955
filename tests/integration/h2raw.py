# SPDX-License-Identifier: Apache-2.0
"""A deliberately rude HTTP/2 client for flood tests: it opens gRPC streams (HEADERS without
END_STREAM, no message) and never sends anything more on them, ignoring the server's
SETTINGS_MAX_CONCURRENT_STREAMS, as an attacker would. It answers the server's SETTINGS and
PINGs, counts RST_STREAM frames by error code and the streams that got a HEADERS frame back,
and can wait for the server to have read everything sent so far (a PING round trip: HTTP/2
frames are processed in order). It never decodes the server's header blocks (no HPACK
decoder): tests read gRPC statuses with grpcio."""
import socket
import struct
import threading

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
REFUSED_STREAM = 0x7


def _hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _literal(name, value):
    """A literal header field without indexing, new name, no Huffman (RFC 7541 §6.2.2)."""
    n, v = name.encode(), value.encode()
    return b"\x00" + _hpack_int(len(n), 7) + n + _hpack_int(len(v), 7) + v


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream & 0x7FFFFFFF) + payload


class RudeConnection:
    def __init__(self, port, cv=None):
        """cv: a threading.Condition shared by several connections, so that one wait() sees
        what any of them receives."""
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.authority = f"127.0.0.1:{port}"
        self.cv = cv or threading.Condition()
        self.lock = self.cv
        self.next_id = 1
        self.rst = {}          # error code -> count
        self.reset_ids = set()
        self.answered = set()  # streams that got a HEADERS frame
        self.pings = 0         # PING ACKs received
        self.goaway = None     # the error code of a GOAWAY
        self.closed = False
        self.server_settings = False
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        # Our ACK of the server's SETTINGS goes out before any stream: from then on the server
        # enforces its stream limit on us.
        with self.cv:
            if not self.cv.wait_for(lambda: self.server_settings or self.closed, 30):
                raise AssertionError("no SETTINGS from the server")

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _read(self):
        try:
            while True:
                head = self._recv_exact(9)
                length = int.from_bytes(head[:3], "big")
                ftype, flags = head[3], head[4]
                stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
                payload = self._recv_exact(length) if length else b""
                with self.cv:
                    if ftype == SETTINGS and not flags & ACK:
                        self.sock.sendall(frame(SETTINGS, ACK, 0))
                        self.server_settings = True
                    elif ftype == PING and not flags & ACK:
                        self.sock.sendall(frame(PING, ACK, 0, payload))
                    elif ftype == PING:
                        self.pings += 1
                    elif ftype == RST_STREAM:
                        code = int.from_bytes(payload[:4], "big")
                        self.rst[code] = self.rst.get(code, 0) + 1
                        self.reset_ids.add(stream)
                    elif ftype == HEADERS:
                        self.answered.add(stream)
                    elif ftype == GOAWAY:
                        self.goaway = int.from_bytes(payload[4:8], "big")
                    self.cv.notify_all()
        except (EOFError, OSError):
            pass
        with self.cv:
            self.closed = True
            self.cv.notify_all()

    def open_stalled(self, path, count):
        """Opens count streams calling path with no deadline and no message; returns their
        ids. Sent in large writes (many HEADERS frames per sendall)."""
        block = b"".join(_literal(k, v) for k, v in (
            (":method", "POST"), (":scheme", "http"), (":path", path),
            (":authority", self.authority), ("content-type", "application/grpc"),
            ("te", "trailers")))
        ids, out = [], []
        with self.lock:
            for _ in range(count):
                sid = self.next_id
                self.next_id += 2
                ids.append(sid)
                out.append(frame(HEADERS, END_HEADERS, sid, block))
        try:
            for i in range(0, len(out), 256):
                self.sock.sendall(b"".join(out[i:i + 256]))
        except OSError:  # the server hung up on us part way
            pass
        return ids

    def sync(self, timeout=60):
        """Waits until the server has read everything sent before (its PING ACK comes after)."""
        with self.cv:
            want = self.pings + 1
            try:
                self.sock.sendall(frame(PING, 0, 0, b"authdsyn"))
            except OSError:  # the server hung up on us
                return False
            if not self.cv.wait_for(lambda: self.pings >= want or self.closed, timeout):
                raise AssertionError("no PING ACK within %ss" % timeout)
        return not self.closed

    def wait(self, predicate, timeout):
        with self.cv:
            return self.cv.wait_for(lambda: predicate(self) or self.closed, timeout)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.reader.join(timeout=10)
