#!/usr/bin/env python3
"""Stand-in for the 12d Synergy Personal Access Token REST API.

Used two ways:
  * by the integration tests, as a module:  ``with StandIn() as srv: ...``
    (the server runs in a daemon thread of the test process);
  * by shell scripts, as a program:  ``python3 tests/standin.py --port-file F``.

It serves the three documented endpoints (list, generate-pat, delete-pat) behind a
bearer token, counts every request, and can inject faults into each of them: into
the list (error statuses, broken JSON, truncated or dropped connections, slow or
huge bodies) and into the two POSTs (an error status; the work done but its answer
lost, late or garbled).  It remembers every secret generate-pat handed out (see
generated()), so that a test can look for it where it must not be; it never
prints one.  A small control interface under ``/_standin/`` lets scripts drive it.

Standard library only (Python 3.11).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

JSON_TYPE = "application/json; charset=utf-8"
CONTROL_PREFIX = "/_standin/"
# Lower-cased API path -> (required method, counter name).  ASP.NET routing is
# case-insensitive, so paths are matched case-insensitively too.
ENDPOINTS = {
    "/api/v1/auth/getpersonalaccesstokens": ("GET", "list"),
    "/api/v1/auth/generate-pat": ("POST", "generate"),
    "/api/v1/auth/delete-pat": ("POST", "delete"),
}
COUNTERS = ("list", "generate", "delete", "unauthorized")
MAX_EXPIRE_DAYS = 180
SYNERGY_TZ = timezone(timedelta(hours=8))
GUID = "b993c729-bf98-490c-989d-5621e3b48139"

DENIED = {"Message": "Authorization has been denied for this request."}
DEFAULT_ERROR_BODY = b'{"Message":"An error has occurred."}'
MALFORMED_BODY = b'[{"ID":1,"Name":'
NOT_ARRAY_BODY = b'{"Message":"not a list"}'
HUGE_DEFAULT_SIZE = 20 * 1024 * 1024

# ---- Seed data ---------------------------------------------------------


def _pat(tid, name, created, expiry, state=0, uid=1) -> dict:
    """One token object, keys in the order Synergy emits them."""
    user = {"_id": uid, "_server_id": 1, "_server_guid": GUID, "IDString": f"{uid}_1"}
    return {"UserID": user, "CreatedOn": created, "Expiry": expiry,
            "Name": name, "ExpiryReminderState": state, "ID": tid}


# The public sample from Synergy's documentation.
SAMPLE = [
    _pat(1, "Teams integ", "2025-03-14T10:53:38.823+08:00", "2025-09-10T10:53:38.67+08:00"),
    _pat(2, "asddadas", "2025-04-30T13:21:44.467+08:00", "2025-05-02T13:21:44.36+08:00", 1),
]

# Tokens that exercise awkward corners: non-ASCII, '/', duplicates, a gap in the
# IDs, '..', the empty name, control characters, very long names, odd timestamps.
AWKWARD = [
    _pat(3, "Café ☕ Zürich", "2025-06-01T00:00:00Z", "2025-11-28T00:00:00Z"),
    _pat(4, "ci/cd deploy", "2025-01-02T03:04:05.1234567+00:00", "2025-07-01T03:04:05.1234567+00:00"),
    _pat(5, "Backup", "2025-02-03T04:05:06-05:00", "2025-08-02T04:05:06-05:00"),
    _pat(7, "Backup", "2025-02-04T04:05:06.5-05:00", "2025-08-03T04:05:06.5-05:00", 2),
    _pat(8, "..", "2025-05-05T05:05:05.05+05:30", "2025-06-05T05:05:05.05+05:30"),
    _pat(9, "", "2025-05-06T06:06:06+10:00", "2025-06-06T06:06:06+10:00"),
    _pat(10, "back\\slash\ttab", "2025-05-07T07:07:07.7+08:00", "2025-06-07T07:07:07.7+08:00"),
    _pat(12, "L" * 300, "2025-05-08T08:08:08+08:00", "2026-05-08T08:08:08+08:00", uid=2),
]

DEFAULT_TOKENS = SAMPLE + AWKWARD

# scripts/demo's dates, in days from today, by ID: (CreatedOn, Expiry).  Most tokens
# are valid for months, asddadas expires this week and the second Backup expired ten
# days ago, so expiring/ and expired/ each hold one token whatever the date.
_DEMO_DAYS = {1: (-40, 140), 2: (-177, 3), 3: (-20, 160), 4: (-100, 80), 5: (-60, 120),
              7: (-190, -10), 8: (-5, 25), 9: (-15, 45), 10: (-30, 60), 12: (-5, 175)}


def demo_tokens(today=None) -> list[dict]:
    """DEFAULT_TOKENS with their dates moved near `today` (a date; default: today in
    Synergy's zone), for scripts/demo.  Only the YYYY-MM-DD part of each timestamp
    changes, so times, fraction digits and offsets stay as awkward as the seed's;
    ExpiryReminderState follows the new dates (1: reminded, 2: expired)."""
    today = today or datetime.now(SYNERGY_TZ).date()
    tokens = copy_json(DEFAULT_TOKENS)
    for token in tokens:
        created, expiry = _DEMO_DAYS[token["ID"]]
        for key, days in (("CreatedOn", created), ("Expiry", expiry)):
            token[key] = (today + timedelta(days=days)).isoformat() + token[key][10:]
        token["ExpiryReminderState"] = 2 if expiry < 0 else (1 if expiry <= 7 else 0)
    return tokens


def copy_json(obj):
    """Deep copy of a JSON-like value (dicts and lists); much faster than copy.deepcopy."""
    if isinstance(obj, dict):
        return {k: copy_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [copy_json(v) for v in obj]
    return obj


def encode_json(value) -> bytes:
    """Serialize like Synergy does: compact, UTF-8, non-ASCII left unescaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def format_time(dt: datetime, digits: int = 3) -> str:
    """Format an aware datetime as Synergy does, e.g. '2026-11-28T10:53:38.823+08:00'.

    The fraction is truncated to `digits` (0-6) digits; the offset is always ±HH:MM.
    """
    text = dt.isoformat(timespec="microseconds")  # YYYY-MM-DDTHH:MM:SS.ffffff+HH:MM
    return text[:19] + (text[19:20 + digits] if digits > 0 else "") + text[26:]


# Offsets used by generate_tokens: (suffix, minutes east of UTC).
_OFFSETS = (("+08:00", 480), ("Z", 0), ("+00:00", 0), ("-05:00", -300),
            ("+05:30", 330), ("+10:00", 600), ("-03:30", -210), ("+12:45", 765))
_REFERENCE = datetime(2026, 1, 1)  # fixed, so generated output is deterministic


def generate_tokens(n: int, start_id: int = 1) -> list[dict]:
    """Make `n` plausible synthetic tokens with IDs start_id, start_id+1, ...

    Names are 'token-00042'; fraction digits vary 0-7, offsets vary, and expiries
    spread over -30..+180 days around 2026-01-01.  Deterministic and fast.
    """
    out = []
    for i in range(n):
        tid = start_id + i
        suffix, minutes = _OFFSETS[(i * 3) % len(_OFFSETS)]
        # 100 ns ticks, .NET style; no zeros, since .NET trims trailing ones.
        ticks = f"{(tid * 7919 + 12345) % 10_000_000:07d}".replace("0", "7")
        c_digits, e_digits = (i * 5) % 8, (i * 5 + 3) % 8
        exp_days = (i * 37) % 211 - 30  # -30 .. +180
        expiry = _REFERENCE + timedelta(days=exp_days, seconds=(i * 7777) % 86400,
                                        minutes=minutes)
        created = expiry - timedelta(days=1 + (i * 13) % 180)
        uid = 1 + i % 3
        out.append({
            "UserID": {"_id": uid, "_server_id": 1, "_server_guid": GUID, "IDString": f"{uid}_1"},
            "CreatedOn": created.isoformat() + ("." + ticks[:c_digits] if c_digits else "") + suffix,
            "Expiry": expiry.isoformat() + ("." + ticks[:e_digits] if e_digits else "") + suffix,
            "Name": f"token-{tid:05d}",
            "ExpiryReminderState": 2 if exp_days < 0 else (1 if exp_days < 14 else 0),
            "ID": tid,
        })
    return out


def huge_body(size: int, chunk_items: int = 1000):
    """A valid JSON array of exactly `size` bytes (size >= 2), built lazily.

    Returns (length, iterator of byte chunks).  Every element has the same length
    (IDs are 9-digit numbers from 100000000), so the length is known up front; any
    remainder is padded with spaces before the closing ']'.
    """
    size = max(2, int(size))
    expiries = [format_time(datetime(2026, 1, 1, tzinfo=SYNERGY_TZ) + timedelta(days=d))
                for d in range(180)]
    template = ('{"UserID":{"_id":1,"_server_id":1,"_server_guid":"' + GUID +
                '","IDString":"1_1"},"CreatedOn":"2025-12-01T09:00:00.000+08:00",'
                '"Expiry":"%s","Name":"bulk-%d","ExpiryReminderState":0,"ID":%d}')
    first = 100_000_000
    item_len = len(template % (expiries[0], first, first))
    count = 0 if size < 2 + item_len else (size - 1) // (item_len + 1)
    padding = size - (2 + count * item_len + max(count - 1, 0))

    def chunks():
        yield b"["
        for start in range(first, first + count, chunk_items):
            stop = min(start + chunk_items, first + count)
            text = ",".join(template % (expiries[tid % 180], tid, tid) for tid in range(start, stop))
            yield (text if start == first else "," + text).encode("ascii")
        yield b" " * padding + b"]"

    return size, chunks()


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


_INT_RE = re.compile(r"-?[0-9]+")

# Endpoint -> fault kind -> the parameters it accepts.  The faults of the POSTs:
#   generate  status     answer `code` (and `body`) without creating anything
#             drop       create the token, then hang up without an answer
#             slow       create the token, then wait `delay` seconds before answering
#             malformed  create the token, then answer 200 with `body`, which is not
#                        a JSON string (default: the secret with its closing quote cut
#                        off); the bytes {secret} in `body` become the secret
#   delete    status     answer `code` (and `body`) without deleting anything
#             drop       delete the token (if there is one), then hang up
_FAULT_PARAMS = {
    "list": {"status": {"code", "retry_after", "location", "body"}, "malformed": {"body"},
             "not_array": set(), "truncated": set(), "drop": set(),
             "slow": {"delay"}, "huge": {"size", "chunked"}},
    "generate": {"status": {"code", "body"}, "drop": set(), "slow": {"delay"},
                 "malformed": {"body"}},
    "delete": {"status": {"code", "body"}, "drop": set()},
}

# ---- HTTP handling -----------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "synergy-standin"
    sys_version = ""
    record = None  # the history record of the API request being answered, if kept

    def setup(self):
        super().setup()
        self.server.track(self.connection, True)

    def finish(self):
        self.server.track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def handle(self):
        try:
            super().handle()
        except OSError:  # client went away (broken pipe, reset, ...) or stop()
            self.close_connection = True

    def log_request(self, code="-", size="-"):
        self.log_message("%s %s -> %s", self.command, self.path, getattr(code, "value", code))

    def log_message(self, format, *args):  # noqa: A002 (the base class's signature)
        if self.server.standin.log:  # never includes headers, so never the token
            print(format % args, file=sys.stderr, flush=True)

    def _read_body(self) -> bytes:
        """Read (and return) the request body; ValueError if its framing is bad."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while size := int(self.rfile.readline(1024).split(b";")[0], 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
            while self.rfile.readline(1024).strip():
                pass  # trailer fields, up to the empty line
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    def _head(self, code: int, length: int, headers=None) -> None:
        """Send the status line and headers (JSON type if there is a body)."""
        self.server.standin._record_status(self.record, code)
        self.send_response(code)
        if length:
            self.send_header("Content-Type", JSON_TYPE)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if code not in (204, 304):
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send(self, code: int, body: bytes = b"", headers=None) -> None:
        """Send a complete response with a correct Content-Length."""
        self._head(code, len(body), headers)
        if body and code not in (204, 304) and self.command != "HEAD":
            self.wfile.write(body)

    def _hang_up(self):
        """Close the connection now, whatever has (not) been sent."""
        self.close_connection = True
        _shutdown_quietly(self.connection)

    def _dispatch(self):
        url = urlsplit(self.path)
        self.query = parse_qs(url.query, keep_blank_values=True)
        try:
            self.body = self._read_body()
        except ValueError as exc:
            self.close_connection = True
            return self._send(400, encode_json({"Message": str(exc)}))
        if url.path.startswith(CONTROL_PREFIX):
            return self._control(url.path[len(CONTROL_PREFIX):])
        prefix = self.server.standin.prefix
        path = url.path[len(prefix):] if url.path.startswith(prefix + "/") else url.path
        route = ENDPOINTS.get(path.lower()) if path != url.path or not prefix else None
        if route is None:
            msg = f"No HTTP resource was found that matches the request URI '{url.path}'."
            return self._send(404, encode_json({"Message": msg}))
        method, endpoint = route
        if self.command != method:
            msg = f"The requested resource does not support http method '{self.command}'."
            return self._send(405, encode_json({"Message": msg}), {"Allow": method})
        ok, fault, record = self.server.standin._enter(
            endpoint, self.headers.get("Authorization"), url.query, self.body)
        self.record = record
        self.served = None  # the list body, when answered in full without a fault
        complete = False
        try:
            answered = None
            if not ok:
                self._send(401, encode_json(DENIED), {"WWW-Authenticate": "Bearer"})
            elif endpoint == "list":
                self._api_list(fault)
            elif endpoint == "generate":
                answered = self._api_generate(fault)
            else:
                answered = self._api_delete(fault)
            complete = answered is not False
        finally:
            self.server.standin._record_end(record, complete, self.served)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    def _api_list(self, fault):
        standin = self.server.standin
        if fault is None:
            body = standin._list_body()
            self._send(200, body)
            self.served = body
            return
        kind, p = fault["kind"], fault["params"]
        if kind == "status":
            headers = {name: str(p[key]) for key, name in
                       (("retry_after", "Retry-After"), ("location", "Location")) if key in p}
            self._send(p["code"], p.get("body", DEFAULT_ERROR_BODY), headers)
        elif kind == "malformed":
            self._send(200, p.get("body", MALFORMED_BODY))
        elif kind == "not_array":
            self._send(200, NOT_ARRAY_BODY)
        elif kind == "truncated":
            body = standin._list_body()
            self._head(200, len(body))
            self.wfile.write(body[: len(body) // 2])
            self._hang_up()
        elif kind == "drop":
            self.log_message("%s %s -> dropped", self.command, self.path)
            self._hang_up()
        elif kind == "slow":
            if standin._stopping.wait(p.get("delay", 5.0)):
                return self._hang_up()  # server is stopping: give up quietly
            self._send(200, standin._list_body())
        elif kind == "huge" and p.get("chunked"):
            # No Content-Length: the client only finds out the size by reading.
            _, chunks = huge_body(p.get("size", HUGE_DEFAULT_SIZE))
            self.send_response(200)
            self.send_header("Content-Type", JSON_TYPE)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        elif kind == "huge":
            length, chunks = huge_body(p.get("size", HUGE_DEFAULT_SIZE))
            self._head(200, length)
            for chunk in chunks:
                self.wfile.write(chunk)

    def _api_generate(self, fault):
        """Create a token and answer its secret, a JSON string; False when the
        answer was not given (a fault hung up)."""
        standin = self.server.standin
        kind, p = (fault["kind"], fault["params"]) if fault else (None, {})
        if kind == "status":
            return self._send(p["code"], p.get("body", DEFAULT_ERROR_BODY))
        try:
            req = json.loads(self.body.decode("utf-8"))
            if not isinstance(req, dict):
                raise ValueError("body must be a JSON object")
            secret = standin._generate(req)
        except ValueError as exc:  # includes JSON and UTF-8 decoding errors
            return self._send(400, encode_json({"Message": f"The request is invalid. {exc}"}))
        if kind == "drop":  # created, but the answer is lost
            self.log_message("%s %s -> dropped", self.command, self.path)
            self._hang_up()
            return False
        if kind == "slow" and standin._stopping.wait(p.get("delay", 5.0)):
            self._hang_up()  # server is stopping: give up quietly
            return False
        if kind == "malformed":
            body = p.get("body", b'"' + secret.encode("ascii"))
            return self._send(200, body.replace(b"{secret}", secret.encode("ascii")))
        self._send(200, encode_json(secret))

    def _api_delete(self, fault):
        """Delete a token; 400 for an ID that is not an integer or names no token
        (as a picky server does); False when the answer was not given."""
        kind, p = (fault["kind"], fault["params"]) if fault else (None, {})
        if kind == "status":
            return self._send(p["code"], p.get("body", DEFAULT_ERROR_BODY))
        raw = (self.query.get("id") or [""])[0]
        if not _INT_RE.fullmatch(raw):
            return self._send(400, encode_json({"Message": "The request is invalid."}))
        removed = self.server.standin.remove_token(int(raw))
        if kind == "drop":  # deleted (if it was there), but the answer is lost
            self.log_message("%s %s -> dropped", self.command, self.path)
            self._hang_up()
            return False
        if not removed:
            return self._send(400, encode_json({"Message": f"The request is invalid. "
                                                           f"No token with ID {raw}."}))
        self._send(200)

    def _control(self, name: str):
        s = self.server.standin
        get, post = self.command == "GET", self.command == "POST"
        try:
            data = json.loads(self.body.decode("utf-8")) if self.body.strip() else None
            if get and name == "counts":
                result = s.counts()
            elif get and name == "tokens":
                result = s.tokens()
            elif post and name == "reset-counts":
                s.reset_counts()
                result = {"ok": True}
            elif post and name == "tokens":
                if not isinstance(data, list):
                    raise ValueError("expected a JSON array of tokens")
                s.set_tokens(data)
                result = {"ok": True, "count": len(data)}
            elif post and name == "fault":
                params = dict(data or {})
                s.fault(params.pop("kind", None), params.pop("count", None), **params)
                result = {"ok": True}
            elif post and name == "add":
                data = data or {}
                result = s.add_token(data.get("name"), data.get("expire_in_days", 30))
            elif post and name == "remove":
                raw = (self.query.get("id") or [""])[0]
                if not _INT_RE.fullmatch(raw):
                    raise ValueError("id must be an integer")
                result = {"removed": s.remove_token(int(raw))}
            else:
                return self._send(404, encode_json({"Message": f"no control endpoint {name!r}"}))
        except (ValueError, TypeError, KeyError) as exc:
            return self._send(400, encode_json({"Message": str(exc)}))
        self._send(200, encode_json(result))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, standin: "StandIn"):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.standin = standin
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._closing = False
        super().__init__(address, _Handler)

    def finish_request(self, request, client_address):
        """Serve one connection; with TLS, do the handshake here, in the worker thread."""
        tls = self.standin._tls_context
        if tls is not None:
            try:
                request = tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                _shutdown_quietly(request)
                return  # a client that refused our certificate, or not TLS at all
        super().finish_request(request, client_address)

    def server_bind(self):
        # Skip HTTPServer's getfqdn() lookup, which can stall on a bad resolver.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def track(self, conn: socket.socket, add: bool) -> None:
        """Remember open connections so close_connections() can cut them."""
        with self._conns_lock:
            if add and self._closing:
                _shutdown_quietly(conn)
            elif add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def close_connections(self) -> None:
        """Cut every open (e.g. keep-alive) connection, as a real server dying would."""
        with self._conns_lock:
            self._closing = True
            for conn in self._conns:
                _shutdown_quietly(conn)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def _shutdown_quietly(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


# ---- The public class --------------------------------------------------


class StandIn:
    """A Synergy PAT API on a local port, with request counters and fault injection.

        with StandIn(token="t") as srv:      # or srv = StandIn(...).start(); srv.stop()
            srv.fault("status", count=1, code=503, retry_after=2)
            ... point the client at srv.url ...
            assert srv.count("list") == 2
    """

    def __init__(self, token="secret-token", tokens=None, host="127.0.0.1", port=0, log=False,
                 tls=None, prefix="", history=False):
        """tls: (certfile, keyfile) to serve https; prefix: a path the API sits under;
        history: keep a record of every API request (see history())."""
        self._tls_context = None
        if tls is not None:
            self._tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls_context.load_cert_chain(*tls)
        self.prefix = prefix.rstrip("/")
        self.host = host
        self.port = port
        self.log = log
        self._lock = threading.Condition()  # guards every field below
        self._token = token
        self._tokens = copy_json(list(DEFAULT_TOKENS if tokens is None else tokens))
        self._raw = None          # bytes served instead of the list, or None
        self._last_id = 0         # the highest ID generate-pat has given
        self._body_cache = None   # encoded self._tokens, rebuilt after changes
        # endpoint -> {"kind", "remaining", "params"} or None
        self._faults = dict.fromkeys(_FAULT_PARAMS)
        self._generated: list[dict] = []  # every token generate-pat made, with its secret
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._auth: list[str] = []
        self.keep_history = history  # may be switched on later
        self._history: list[dict] = []
        self._stopping = threading.Event()
        self._server = None
        self._thread = None

    def start(self) -> "StandIn":
        """Start serving in a daemon thread; after stop(), restarts on the same port."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"standin-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket and open connections; idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes any "slow" fault sleeping in a handler
        server.shutdown()
        server.close_connections()
        server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "StandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self._tls_context else "http"
        return f"{scheme}://{host}:{self.port}{self.prefix}"

    def set_tokens(self, tokens) -> None:
        """Replace the token list (stored as a deep copy)."""
        tokens = copy_json(list(tokens))
        with self._lock:
            self._tokens, self._body_cache = tokens, None

    def tokens(self) -> list:
        """Deep copy of the current token list."""
        with self._lock:
            return copy_json(self._tokens)

    def add_token(self, name, expire_in_days=30) -> dict:
        """Add a token as generate-pat does and return (a copy of) it.

        ValueError unless name is a str and expire_in_days an int in 0..180.
        """
        _require(isinstance(name, str), "Name must be a string")
        _require(_is_int(expire_in_days) and 0 <= expire_in_days <= MAX_EXPIRE_DAYS,
                 f"ExpireInDays must be an integer 0..{MAX_EXPIRE_DAYS}")
        now = datetime.now(SYNERGY_TZ)
        created = format_time(now, 3)
        expiry = format_time(now + timedelta(days=expire_in_days), 2)
        with self._lock:
            # IDs only grow, as a database's identity column does: one deleted is not reused.
            ids = [t["ID"] for t in self._tokens if isinstance(t, dict) and _is_int(t.get("ID"))]
            self._last_id = max(max(ids, default=0), self._last_id) + 1
            token = _pat(self._last_id, name, created, expiry)
            self._tokens.append(token)
            self._body_cache = None
            return copy_json(token)

    def remove_token(self, token_id: int) -> bool:
        """Remove every token with this ID; True if there was one."""
        with self._lock:
            kept = [t for t in self._tokens
                    if not (isinstance(t, dict) and _is_int(t.get("ID")) and t["ID"] == token_id)]
            removed = len(kept) != len(self._tokens)
            self._tokens, self._body_cache = kept, (None if removed else self._body_cache)
            return removed

    def set_raw_list(self, body) -> None:
        """Serve exactly these bytes (200, JSON type) from the list endpoint; None restores."""
        if body is not None and not isinstance(body, (bytes, bytearray)):
            raise TypeError("raw list body must be bytes or None")
        with self._lock:
            self._raw = None if body is None else bytes(body)

    def set_token(self, new_token: str) -> None:
        """Change the accepted bearer token."""
        with self._lock:
            self._token = new_token

    def fault(self, kind=None, count=None, endpoint="list", **params) -> None:
        """Inject a fault into the next `count` authorized requests of `endpoint`
        ("list", "generate" or "delete"; None: until cleared).  Each endpoint has a
        fault of its own; a new one replaces the endpoint's old one.

        kind None clears the endpoint's fault.  ValueError for an unknown endpoint or
        kind, unknown or bad params.  The list's "huge" kind sends `size` bytes of
        valid JSON, announced by Content-Length, or chunked (chunked=True) so the
        client only finds the size out by reading.  The kinds of generate-pat and
        delete-pat are described at _FAULT_PARAMS: "drop", "slow" and "malformed" do
        the work (the token is created or deleted) and then lose, delay or garble the
        answer.
        """
        _require(endpoint in _FAULT_PARAMS, f"unknown endpoint {endpoint!r}")
        if kind is None:
            with self._lock:
                self._faults[endpoint] = None
            return
        kinds = _FAULT_PARAMS[endpoint]
        _require(kind in kinds, f"unknown fault kind {kind!r} for {endpoint!r}")
        params = {k: v for k, v in params.items() if v is not None}  # None = not given
        unknown = set(params) - kinds[kind]
        _require(not unknown, f"fault {kind!r} does not take {sorted(unknown)}")
        _require(count is None or (_is_int(count) and count >= 1),
                 "count must be a positive integer or None")
        if kind == "status":
            _require(_is_int(params.get("code")) and 200 <= params["code"] <= 599,
                     "status fault needs an integer code 200..599")
        if isinstance(params.get("body"), str):
            params["body"] = params["body"].encode("utf-8")
        _require(isinstance(params.get("body", b""), (bytes, bytearray)), "body must be bytes or str")
        _require(_is_int(params.get("retry_after", 0)), "retry_after must be an integer")
        _require(_is_int(params.get("size", 2)) and params.get("size", 2) >= 2,
                 "size must be an integer >= 2")
        if "delay" in params:
            params["delay"] = float(params["delay"])
        with self._lock:
            self._faults[endpoint] = {"kind": kind, "remaining": count, "params": params}

    def clear_fault(self, endpoint=None) -> None:
        """Clear the fault of `endpoint`, or of every endpoint (None)."""
        with self._lock:
            for name in self._faults:
                if endpoint in (None, name):
                    self._faults[name] = None

    def generated(self) -> list:
        """Every token generate-pat created, in order of creation, also those whose
        answer a fault lost: dicts of ID, Name, Secret (what was, or would have been,
        answered), ClientId and ExpireInDays (as the request gave them; None if
        absent).  Not forgotten by reset_counts()."""
        with self._lock:
            return [dict(g) for g in self._generated]

    def _generate(self, req: dict) -> str:
        """Create the token a generate-pat request asks for; its new secret.
        ValueError (a 400) for a bad Name or ExpireInDays."""
        with self._lock:  # one lock: generated() is in the order of the IDs
            token = self.add_token(req.get("Name"), req.get("ExpireInDays"))
            secret = secrets.token_urlsafe(32)
            self._generated.append({"ID": token["ID"], "Name": token["Name"], "Secret": secret,
                                    "ClientId": req.get("ClientId"),
                                    "ExpireInDays": req.get("ExpireInDays")})
            return secret

    def count(self, endpoint: str = "list") -> int:
        with self._lock:
            return self._counts[endpoint]

    def counts(self) -> dict:
        with self._lock:
            return dict(self._counts)

    def reset_counts(self) -> None:
        """Zero every counter and forget the recorded Authorization headers and history."""
        with self._lock:
            self._counts = dict.fromkeys(COUNTERS, 0)
            self._auth = []
            self._history = []

    def history(self, endpoint=None) -> list:
        """With keep_history on: one dict per API request (of `endpoint`, or all), in order
        of arrival: endpoint, authorized, fault (its kind, or None), start and end
        (time.monotonic() when it was counted and when its answer was done; end is None
        while it is being answered), complete (the answer was sent without the connection
        failing, and no fault hung up on a POST), status (the answer's HTTP status, None
        if none was sent), body (the list body when it was served in full without a
        fault, else None), query (the URL's query string, e.g. "id=7") and request (the
        request's body, bytes: generate-pat's JSON)."""
        with self._lock:
            return [dict(r) for r in self._history if endpoint in (None, r["endpoint"])]

    def _record_status(self, record, code) -> None:
        if record is not None:
            with self._lock:
                record["status"] = int(code)

    def _record_end(self, record, complete, body) -> None:
        if record is None:
            return
        with self._lock:
            record.update(end=time.monotonic(), complete=complete,
                          body=body if complete else None)

    @property
    def auth_headers(self) -> list:
        """Authorization header of each API request, in order ('' when absent)."""
        with self._lock:
            return list(self._auth)

    def wait_for_count(self, endpoint: str, n: int, timeout: float = 5.0) -> bool:
        """Wait until count(endpoint) >= n; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._counts[endpoint] >= n, timeout)

    def _enter(self, endpoint: str, auth, query="", request=b""):
        """Count one API request; return (authorized, fault to apply or None, its history
        record or None)."""
        with self._lock:
            self._auth.append(auth or "")
            self._counts[endpoint] += 1
            scheme, _, value = (auth or "").strip().partition(" ")
            ok = scheme.lower() == "bearer" and value.strip() == self._token
            fault = None
            if not ok:
                self._counts["unauthorized"] += 1
            elif self._faults[endpoint] is not None:
                fault = self._faults[endpoint]
                if fault["remaining"] is not None:
                    fault["remaining"] -= 1
                    if fault["remaining"] <= 0:
                        self._faults[endpoint] = None
            record = None
            if self.keep_history:
                record = {"endpoint": endpoint, "authorized": ok,
                          "fault": fault["kind"] if fault else None, "start": time.monotonic(),
                          "end": None, "complete": False, "status": None, "body": None,
                          "query": query, "request": bytes(request)}
                self._history.append(record)
            self._lock.notify_all()
            return ok, fault, record

    def _list_body(self) -> bytes:
        with self._lock:
            if self._raw is not None:
                return self._raw
            if self._body_cache is None:
                self._body_cache = encode_json(self._tokens)
            return self._body_cache


# ---- Command line ------------------------------------------------------


def _write_atomically(path: str, text: str) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Stand-in for the 12d Synergy PAT REST API.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    who = ap.add_mutually_exclusive_group()
    who.add_argument("--token", help="accepted bearer token")
    who.add_argument("--token-file", help="file holding the accepted bearer token")
    seed = ap.add_mutually_exclusive_group()
    seed.add_argument("--tokens", type=int, metavar="N",
                      help="serve N synthetic tokens instead of the default seed")
    seed.add_argument("--demo", action="store_true",
                      help="serve the default seed dated relative to today (scripts/demo)")
    ap.add_argument("--port-file", help="write the chosen port here (atomically)")
    ap.add_argument("--quiet", action="store_true", help="do not log requests")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve https with this certificate")
    ap.add_argument("--prefix", default="", help="serve the API under this path prefix")
    args = ap.parse_args(argv)

    if args.token_file:
        with open(args.token_file, encoding="utf-8") as f:
            token = f.read().strip()
    elif args.token is not None:
        token = args.token
    else:
        token = os.environ.get("SYNERGY_STANDIN_TOKEN") or "demo-token"

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())

    tokens = None
    if args.tokens is not None:
        tokens = generate_tokens(args.tokens)
    elif args.demo:
        tokens = demo_tokens()
    srv = StandIn(token=token, tokens=tokens, host=args.host, port=args.port,
                  log=not args.quiet, tls=args.tls, prefix=args.prefix).start()
    try:
        print(f"standin: listening on {srv.url}", flush=True)
        if args.port_file:
            _write_atomically(args.port_file, f"{srv.port}\n")
        while not done.wait(0.5):
            pass
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
