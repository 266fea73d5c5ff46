"""Is this WebSocket upgrade really from Twilio? `X-Twilio-Signature`, checked with twilio's own validator.

Twilio signs the URL it connected to (the `wss://` URL from the TwiML, no body parameters) with the
account's auth token. Behind a TLS-terminating proxy the URL we see (`ws://10.0.0.5:8080/...`) is not
the one Twilio signed, so the public base URL (`serve --public-url`, EMOTION_BOT_PUBLIC_URL) is used
when set; otherwise the URL is rebuilt from the request (scheme, Host header, path and query).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from twilio.request_validator import SIGNATURE_HEADER, RequestValidator

_WS_SCHEME = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}


def websocket_base(public_url: str) -> str:
    """https://bot.example.com/x -> wss://bot.example.com/x (Twilio signs the wss:// form)."""
    parts = urlsplit(public_url.strip())
    scheme = _WS_SCHEME.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ValueError(f"public URL {public_url!r}: expected https://HOST[/PATH] (or wss://)")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def signed_url(*, path_qs: str, host: str, secure: bool, public_url: str | None) -> str:
    """The URL Twilio signed for a request to `path_qs` (path and query as received)."""
    if public_url is None:
        return f"{'wss' if secure else 'ws'}://{host}{path_qs}"
    base = websocket_base(public_url)
    prefix = urlsplit(base).path
    if prefix and not (path_qs == prefix or path_qs.startswith(prefix + "/")):
        # A proxy that strips its path prefix: Twilio signed the URL with it.
        return base + path_qs
    return urlunsplit((*urlsplit(base)[:2], "", "", "")) + path_qs


class SignatureChecker:
    """One per process (the auth token does not change while serving)."""

    def __init__(self, auth_token: str, public_url: str | None = None) -> None:
        if not auth_token:
            raise ValueError("empty auth token")
        self._validator = RequestValidator(auth_token)
        self.public_url = public_url
        if public_url is not None:
            websocket_base(public_url)  # refuse a malformed public URL at start, not per call

    def check(self, *, headers: dict[str, str] | object, path_qs: str, host: str, secure: bool) -> bool:
        signature = _header(headers, SIGNATURE_HEADER)
        if not signature:
            return False
        url = signed_url(path_qs=path_qs, host=host, secure=secure, public_url=self.public_url)
        return bool(self._validator.validate(url, {}, signature))


def sign(auth_token: str, url: str) -> str:
    """The signature Twilio would send for `url` (the test/simulate client's side)."""
    return RequestValidator(auth_token).compute_signature(url, {})


def _header(headers: object, name: str) -> str | None:
    get = getattr(headers, "get", None)
    return get(name) if get is not None else None
