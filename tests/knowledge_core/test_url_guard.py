"""The outbound fetcher against a real local HTTP server, and every refused address class."""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from errors import Unprocessable
from services.knowledge.url_guard import GuardedFetcher, check_url
from services.knowledge.webpage import extract_main_text, strip_tags

PAGE = b"""<!doctype html>
<html><head><title>Return Policy | Nordic Outfitters</title></head>
<body>
<nav><a href="/">Home</a> <a href="/shop">Shop</a></nav>
<article>
<h1>Return Policy</h1>
<p>You can return any unused product within 30 days of delivery for a full refund.
Items must be in their original packaging, and the receipt must be included.</p>
<p>Refunds are issued to the original payment method within five business days after we
receive the returned item at our warehouse in Bergen.</p>
<p>Sleeping bags and tents that have been used outdoors can only be exchanged, not
refunded, unless they are defective.</p>
</article>
<footer>Copyright Nordic Outfitters</footer>
</body></html>"""


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):  # noqa: N802 - http.server naming
        self.server.seen_hosts.append(self.headers.get("Host"))
        routes = {
            "/page": (200, {"Content-Type": "text/html; charset=utf-8"}, PAGE),
            "/to-metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
            "/to-page": (301, {"Location": "/page"}, b""),
            "/loop": (302, {"Location": "/loop"}, b""),
            "/big": (200, {"Content-Type": "text/plain"}, b"x" * 300_000),
            "/missing": (404, {"Content-Type": "text/plain"}, b"nope"),
        }
        status, headers, body = routes.get(self.path, (404, {}, b""))
        if self.path == "/slow":
            threading.Event().wait(2)
            status, headers, body = 200, {}, b"late"
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.seen_hosts = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd
    httpd.shutdown()
    httpd.server_close()


def test_page_is_fetched_and_main_text_extracted_with_loopback_allowed(server):
    base, httpd = server
    result = GuardedFetcher(allow_loopback=True).fetch(f"{base}/page")
    assert result.status == 200
    assert result.content_type.startswith("text/html")
    assert result.final_url == f"{base}/page"
    assert httpd.seen_hosts[-1] == base.removeprefix("http://")
    title, text = extract_main_text(result.body, result.final_url)
    assert title == "Return Policy"  # trafilatura trims the site name; the fallback would not
    assert "within 30 days of delivery" in text
    assert "Copyright" not in text


def test_loopback_is_refused_by_default(server):
    base, _ = server
    with pytest.raises(Unprocessable) as caught:
        GuardedFetcher().fetch(f"{base}/page")
    assert caught.value.code == "url_not_allowed"  # its odd port alone refuses it
    with pytest.raises(Unprocessable) as caught:
        GuardedFetcher().fetch("http://127.0.0.1/page")
    assert "loopback" in caught.value.message


def test_redirects_are_followed_and_each_hop_is_checked(server):
    base, _ = server
    fetcher = GuardedFetcher(allow_loopback=True)
    assert fetcher.fetch(f"{base}/to-page").final_url == f"{base}/page"
    with pytest.raises(Unprocessable) as caught:
        fetcher.fetch(f"{base}/to-metadata")
    assert caught.value.code == "url_not_allowed"
    assert "metadata" in caught.value.message
    with pytest.raises(Unprocessable) as caught:
        fetcher.fetch(f"{base}/loop")
    assert caught.value.code == "url_fetch_failed"


def test_size_cap_status_and_timeout(server):
    base, _ = server
    with pytest.raises(Unprocessable) as caught:
        GuardedFetcher(allow_loopback=True, max_bytes=100_000).fetch(f"{base}/big")
    assert caught.value.code == "url_too_large"
    with pytest.raises(Unprocessable) as caught:
        GuardedFetcher(allow_loopback=True).fetch(f"{base}/missing")
    assert caught.value.code == "url_fetch_failed"
    assert "404" in caught.value.message
    with pytest.raises(Unprocessable) as caught:
        GuardedFetcher(allow_loopback=True, timeout=0.3).fetch(f"{base}/slow")
    assert caught.value.code == "url_fetch_failed"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost/",
        "http://[::1]/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://10.0.0.5/",
        "http://172.16.3.4/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.1.1/",
        "http://[fe80::1]/",
        "http://[fd00:ec2::254]/",
        "http://[fc00::1]/",
        "http://[fec0::1]/",
        "http://224.0.0.1/",
        "http://[ff02::1]/",
        "http://240.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[2002:7f00:1::]/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://017700000001/",
        "http://127.1/",
        "http://metadata.google.internal/computeMetadata/v1/",
    ],
)
def test_non_public_addresses_are_refused(url):
    with pytest.raises(Unprocessable) as caught:
        check_url(url)
    assert caught.value.code == "url_not_allowed"
    assert caught.value.status == 422


@pytest.mark.parametrize(
    "url,reason",
    [
        ("ftp://8.8.8.8/file", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://8.8.8.8/", "only http and https"),
        ("http://user:pw@8.8.8.8/", "user name"),
        ("http://8.8.8.8@127.0.0.1/", "user name"),
        ("http://8.8.8.8:22/", "port 22"),
        ("http://8.8.8.8:99999/", "malformed"),
        ("http:///nohost", "no host"),
        ("http://exa mple.com/", "spaces"),
        ("http://8.8.8.8\\@127.0.0.1/", "backslashes"),
        ("", "empty"),
    ],
)
def test_malformed_or_tricky_urls_are_refused_with_a_reason(url, reason):
    with pytest.raises(Unprocessable) as caught:
        check_url(url)
    assert caught.value.code == "url_not_allowed"
    assert reason in caught.value.message


def test_public_addresses_pass_and_allowed_ports():
    checked = check_url("https://8.8.8.8/search?q=1")
    assert checked.addresses == ("8.8.8.8",) and checked.port == 443
    assert check_url("http://[2606:4700:4700::1111]/").addresses == ("2606:4700:4700::1111",)
    assert check_url("http://1.1.1.1:8080/", allowed_ports=(8080,)).port == 8080


def test_allow_loopback_allows_any_port_but_only_on_loopback():
    assert check_url("http://127.0.0.1:5555/", allow_loopback=True).port == 5555
    with pytest.raises(Unprocessable):
        check_url("http://10.0.0.1:5555/", allow_loopback=True)
    with pytest.raises(Unprocessable):
        check_url("http://127.0.0.2/", allow_loopback=True)


def test_one_private_address_among_public_ones_is_enough_to_refuse(monkeypatch):
    def resolve(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(Unprocessable) as caught:
        check_url("http://rebind.example.com/")
    assert "private" in caught.value.message


def test_unresolvable_host_is_a_fetch_failure():
    with pytest.raises(Unprocessable) as caught:
        check_url("http://does-not-exist.invalid/")
    assert caught.value.code == "url_fetch_failed"


def test_webpage_fallback_and_empty_page():
    title, text = strip_tags(b"<html><head><title>T</title><script>x()</script></head>"
                             b"<body><p>Hello</p><p>World</p></body></html>")
    assert title == "T" and text == "Hello\nWorld"
    with pytest.raises(Unprocessable):
        extract_main_text(b"<html><body><script>only()</script></body></html>", "http://x/")


def test_hostname_is_sent_as_host_header_on_the_pinned_connection(server):
    base, httpd = server
    port = httpd.server_address[1]
    result = GuardedFetcher(allow_loopback=True).fetch(f"http://localhost:{port}/page")
    assert result.status == 200
    assert httpd.seen_hosts[-1] == f"localhost:{port}"


def test_connection_refused_is_a_fetch_failure():
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(Unprocessable) as caught:
        GuardedFetcher(allow_loopback=True, timeout=2).fetch(f"http://127.0.0.1:{port}/")
    assert caught.value.code == "url_fetch_failed"
