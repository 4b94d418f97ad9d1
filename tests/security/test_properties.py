"""Item 2 — Hypothesis properties of the security-relevant building blocks: the URL guard
(every textual form of a non-public address is refused), the id codec, cursor pagination
(round trip; garbage → 422, never 500; paging sees every row exactly once, in order) and
the chunker across several units (the single-unit properties live in tests/knowledge_core).
"""
from __future__ import annotations

import base64
import ipaddress
import json
import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from errors import Unprocessable, ValidationFailed
from models.ids import ID_LENGTH, PREFIXES, has_prefix, new_id
from services.knowledge.url_guard import check_url
from services.pagination import decode_cursor, encode_cursor
from tests.factories import make_tenant

FAST = settings(max_examples=200, deadline=None)
SLOW = settings(max_examples=12, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])

# ------------------------------------------------------------------------- URL guard
NON_PUBLIC_V4 = [ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
    "100.64.0.0/10", "0.0.0.0/8", "192.0.0.0/24", "198.18.0.0/15", "224.0.0.0/4",
    "240.0.0.0/4")]
NON_PUBLIC_V6 = [ipaddress.ip_network(n) for n in (
    "::1/128", "fe80::/10", "fc00::/7", "fec0::/10", "ff00::/8", "::/128")]


def _address_in(networks):  # noqa: ANN001, ANN202
    return st.sampled_from(networks).flatmap(lambda net: st.integers(
        int(net.network_address), int(net.broadcast_address)).map(
        lambda n: ipaddress.ip_address(n)))


def v4_spellings(ip: ipaddress.IPv4Address) -> list[str]:
    """Every way the OS resolver (inet_aton) or a URL parser reads this address."""
    n = int(ip)
    a, b, c, d = ip.packed
    return [
        str(ip),  # dotted decimal
        str(n),  # one decimal integer
        hex(n),  # 0x7f000001
        hex(n).upper().replace("0X", "0x"),  # upper-case hex digits
        ".".join(oct(x).replace("0o", "0") for x in (a, b, c, d)),  # dotted octal
        ".".join(hex(x) for x in (a, b, c, d)),  # dotted hex
        f"{a}.{(b << 16) | (c << 8) | d}",  # a.b24  (e.g. 127.1)
        f"{a}.{b}.{(c << 8) | d}",  # a.b.c16
        f"[::ffff:{ip}]",  # IPv4-mapped IPv6, dotted tail
        f"[::ffff:{(n >> 16):x}:{(n & 0xFFFF):x}]",  # IPv4-mapped IPv6, hex tail
        f"[0:0:0:0:0:ffff:{ip}]",  # mapped, fully written
        f"[2002:{(n >> 16):x}:{(n & 0xFFFF):x}::]",  # 6to4 embedding
        f"[64:ff9b::{ip}]",  # NAT64
        str(ip) + ".",  # trailing dot
    ]


def v6_spellings(ip: ipaddress.IPv6Address) -> list[str]:
    return [f"[{ip.compressed}]", f"[{ip.exploded}]", f"[{ip.exploded.upper()}]"]


@FAST
@given(ip=_address_in(NON_PUBLIC_V4), scheme=st.sampled_from(["http", "https"]),
       port=st.sampled_from(["", ":80", ":443"]), path=st.sampled_from(["/", "/a?b=c", ""]))
def test_url_guard_refuses_every_spelling_of_a_non_public_ipv4(ip, scheme, port, path):
    for host in v4_spellings(ip):
        with pytest.raises(Unprocessable) as caught:
            check_url(f"{scheme}://{host}{port}{path}")
        assert caught.value.code == "url_not_allowed", (host, caught.value.message)


@FAST
@given(ip=_address_in(NON_PUBLIC_V6), scheme=st.sampled_from(["http", "https"]))
def test_url_guard_refuses_every_spelling_of_a_non_public_ipv6(ip, scheme):
    for host in v6_spellings(ip):
        with pytest.raises(Unprocessable) as caught:
            check_url(f"{scheme}://{host}/")
        assert caught.value.code == "url_not_allowed", (host, caught.value.message)


@FAST
@given(ip=_address_in(NON_PUBLIC_V4))
def test_url_guard_allow_loopback_still_refuses_everything_but_loopback_test_hosts(ip):
    assume(str(ip) != "127.0.0.1")
    with pytest.raises(Unprocessable):
        check_url(f"http://{ip}:8080/", allow_loopback=True)


@FAST
@given(n=st.integers(int(ipaddress.ip_address("1.0.0.0")), int(ipaddress.ip_address(
    "9.255.255.255"))))
def test_url_guard_lets_public_ipv4_through_as_a_control(n):
    ip = ipaddress.ip_address(n)
    assume(ip.is_global)
    assert check_url(f"https://{ip}/").addresses == (str(ip),)


# -------------------------------------------------------------------------- id codec
@FAST
@given(prefix=st.sampled_from(sorted(PREFIXES)))
def test_ids_have_their_prefix_fixed_length_and_base62_tail(prefix):
    value = new_id(prefix)
    head, _, tail = value.partition("_")
    assert head == prefix and len(tail) == ID_LENGTH
    assert set(tail) <= set(string.ascii_letters + string.digits)
    assert has_prefix(value, prefix)
    others = sorted(PREFIXES - {prefix})
    assert not has_prefix(value, *others)


def test_ids_are_unique_across_many_draws():
    drawn = [new_id("asst") for _ in range(20_000)]
    assert len(set(drawn)) == len(drawn)


@FAST
@given(value=st.text(max_size=100), prefixes=st.lists(st.sampled_from(sorted(PREFIXES)),
                                                      min_size=1, max_size=3))
def test_has_prefix_never_raises_and_only_accepts_the_shape(value, prefixes):
    result = has_prefix(value, *prefixes)
    assert isinstance(result, bool)
    if result:
        head, _, tail = value.partition("_")
        assert head in prefixes and 0 < len(tail) <= 64 and tail.isalnum()


@given(prefix=st.text(max_size=8))
def test_unknown_prefixes_are_refused(prefix):
    assume(prefix not in PREFIXES)
    with pytest.raises(ValueError):
        new_id(prefix)


# ---------------------------------------------------------------------- pagination
MOMENTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                       timezones=st.just(UTC))


@FAST
@given(moment=MOMENTS, id_=st.one_of(
    st.builds(new_id, st.sampled_from(sorted(PREFIXES))), st.integers(0, 2**62)))
def test_cursor_round_trip(moment, id_):
    cursor = encode_cursor(moment, id_)
    assert set(cursor) <= set(string.ascii_letters + string.digits + "-_")
    assert decode_cursor(cursor) == (moment, id_)


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                       | st.text(max_size=20),
                       lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


GARBAGE_CURSORS = st.one_of(
    st.text(max_size=60),
    st.binary(max_size=60).map(_b64),
    JSONISH.map(lambda v: _b64(json.dumps(v).encode())),
    st.tuples(MOMENTS.map(lambda d: d.isoformat()), JSONISH).map(
        lambda pair: _b64(json.dumps(list(pair)).encode())),
)


@FAST
@given(cursor=GARBAGE_CURSORS)
def test_decode_cursor_of_garbage_is_a_validation_error_or_a_usable_pair(cursor):
    try:
        moment, id_ = decode_cursor(cursor)
    except ValidationFailed as exc:
        assert exc.fields == {"cursor": ["The cursor is not valid."]}
        return
    assert isinstance(moment, datetime)
    assert isinstance(id_, str | int) and not isinstance(id_, bool)


LIST_ROUTES = ["/api/v1/assistants/", "/api/v1/sessions/", "/api/v1/contexts/",
               "/api/v1/conversations/", "/api/v1/knowledge/files/", "/api/v1/knowledge/qas/",
               "/analytics/logs/", "/analytics/rate-limits/"]


@SLOW
@given(cursor=GARBAGE_CURSORS, route=st.sampled_from(LIST_ROUTES))
def test_garbage_cursors_are_422_never_500_on_every_list(app, cursor, route):
    tenant = make_tenant(app, "Cursors")
    resp = tenant.get(route, query_string={"cursor": cursor})
    assert resp.status_code in (200, 422), (route, cursor, resp.get_data())
    if resp.status_code == 422:
        assert resp.json["error"]["code"] == "validation_error"


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(n=st.integers(0, 23), limit=st.integers(1, 7), distinct_times=st.integers(1, 4))
def test_paging_yields_every_item_exactly_once_newest_first(app, n, limit, distinct_times):
    """Rows sharing a created_at (ties) are the hard case for keyset pagination."""
    from sqlalchemy import update

    from extensions import db
    from models.assistants import Assistant

    tenant = make_tenant(app, "Pages")
    created = [tenant.post("/api/v1/assistants/", json={"name": f"a{i}"}).json["id"]
               for i in range(n)]
    base = datetime(2030, 1, 1, tzinfo=UTC)
    with app.app_context():
        for i, asst_id in enumerate(created):
            db.session.execute(update(Assistant).where(Assistant.id == asst_id).values(
                created_at=base + timedelta(seconds=i % distinct_times)))
        db.session.commit()
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = tenant.get("/api/v1/assistants/", query_string=query).json
        assert len(page["items"]) <= limit
        seen += [(a["created_at"], a["id"]) for a in page["items"]]
        cursor, pages = page["next_cursor"], pages + 1
        if cursor is None:
            break
        assert pages <= n + 1  # a cursor never loops
    assert sorted(i for _, i in seen) == sorted(created)  # each exactly once
    assert seen == sorted(seen, reverse=True)  # newest first, id breaks ties


# ------------------------------------------------------------------------- chunker
WORDS = st.text(alphabet=st.characters(categories=("L", "N")), min_size=1, max_size=10)
UNIT_TEXT = st.lists(WORDS, min_size=0, max_size=120).map(" ".join)


@settings(max_examples=100, deadline=None)
@given(texts=st.lists(UNIT_TEXT, min_size=1, max_size=5), max_tokens=st.integers(5, 60))
def test_chunks_of_several_units_keep_each_units_provenance_and_words(texts, max_tokens):
    from services.knowledge.chunking import chunk_units
    from services.knowledge.extract import TextUnit

    units = [TextUnit(t, {"page": i + 1}) for i, t in enumerate(texts)]
    chunks = chunk_units(units, max_tokens=max_tokens, overlap_tokens=max_tokens // 5)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    pages = [c.provenance["page"] for c in chunks]
    assert pages == sorted(pages)  # document order, never interleaved
    for i, text in enumerate(texts, start=1):
        words_in_chunks = [w for c in chunks if c.provenance["page"] == i for w in c.text.split()]
        assert set(text.split()) == set(words_in_chunks)  # nothing lost, nothing borrowed
