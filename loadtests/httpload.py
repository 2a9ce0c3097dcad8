"""A small asyncio HTTP/1.1 client for the load scripts, on the standard library alone.

One connection per request (``Connection: close``: gunicorn's sync workers close it anyway), so
that a server restart or a dropped connection shows as exactly one failed request. Cookies are
kept per ``Session`` (enough for Django's session and CSRF cookies).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self):
        return json.loads(self.body or b"null")

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class ConnectionFailed(Exception):
    """No answer: refused, reset, timed out or a truncated response."""


@dataclass
class Session:
    base_url: str
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    timeout: float = 30.0

    def __post_init__(self):
        parts = urlsplit(self.base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json_body=None,
        form: dict | None = None,
        headers: dict | None = None,
    ) -> Reply:
        target = self.prefix + path + (("?" + urlencode(params)) if params else "")
        body = b""
        all_headers = {
            "Host": f"{self.host}:{self.port}",
            "Connection": "close",
            "User-Agent": "idm-loadtest",
            "Accept": "application/json, text/html;q=0.9",
            **self.headers,
            **(headers or {}),
        }
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        elif form is not None:
            body = urlencode(form).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        if body or method in {"POST", "PUT", "PATCH"}:
            all_headers["Content-Length"] = str(len(body))
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in all_headers.items()
        )
        started = time.perf_counter()
        writer = None
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(self.host, self.port)
                writer.write(head.encode("latin-1") + b"\r\n" + body)
                await writer.drain()
                raw = await reader.read()
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as error:
            raise ConnectionFailed(f"{method} {path}: {error.__class__.__name__} {error}") from None
        finally:
            if writer is not None:
                writer.close()
        seconds = time.perf_counter() - started
        reply = _parse(raw, seconds)
        if reply is None:
            raise ConnectionFailed(f"{method} {path}: empty or truncated response")
        for value in reply.headers.get("set-cookie-all", []):
            cookie = SimpleCookie()
            cookie.load(value)
            for name, morsel in cookie.items():
                self.cookies[name] = morsel.value
        return reply


def _parse(raw: bytes, seconds: float) -> Reply | None:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        return None
    headers: dict = {"set-cookie-all": []}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "set-cookie":
            headers["set-cookie-all"].append(value.strip())
        else:
            headers[name] = value.strip()
    length = headers.get("content-length")
    if length is not None and len(body) < int(length):
        return None
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _unchunk(body)
    return Reply(status=status, headers=headers, body=body, seconds=seconds)


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def portal_login(base_url: str, username: str, password: str) -> Session:
    """A browser-like session logged in through the login page (CSRF token and cookie)."""
    session = Session(base_url)
    page = await session.request("GET", "/accounts/login/")
    marker = b'name="csrfmiddlewaretoken" value="'
    start = page.body.find(marker)
    if page.status != 200 or start < 0:
        raise RuntimeError(f"login page: {page.status}")
    start += len(marker)
    token = page.body[start : page.body.index(b'"', start)].decode()
    reply = await session.request(
        "POST",
        "/accounts/login/",
        form={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": base_url + "/accounts/login/"},
    )
    if reply.status != 302 or "sessionid" not in session.cookies:
        raise RuntimeError(f"login as {username} failed: {reply.status}")
    return session
