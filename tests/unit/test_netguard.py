"""The SSRF guard: every refused address class, numeric spellings, mixed answers, waivers, bad URLs."""

from __future__ import annotations

import ipaddress
import re
import socket

import pytest
import requests

from portal.errors import InvalidSpec
from portal.notify import HostNotFound, ResolvedTarget, address_problem, check_url, pinned_session
from portal.notify.netguard import PinnedAdapter


class FakeResolver:
    """A getaddrinfo stand-in answering from a table; records the names asked."""

    def __init__(self, table: dict[str, list[str]] | None = None, error: OSError | None = None) -> None:
        self.table = table or {}
        self.error = error
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        self.asked.append((host, port))
        if self.error is not None:
            raise self.error
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for a in self.table[host]:
            if ":" in a:
                out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0)))
            else:
                out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)))
        return out


PUBLIC = "93.184.216.34"
RESOLVER = FakeResolver(
    {
        "public.example": [PUBLIC],
        "v6.example": ["2606:4700:4700::1111", PUBLIC],
        "mixed.example": [PUBLIC, "10.0.0.7"],
        "mixed6.example": ["2606:4700:4700::1111", "fd12:3456::1"],
        "metadata.example": ["169.254.169.254"],
        "internal.example": ["192.168.1.20"],
        "xn--bcher-kva.example": [PUBLIC],
    }
)


def refusal(url: str, **kw) -> InvalidSpec:
    with pytest.raises(InvalidSpec) as info:
        check_url(url, resolver=RESOLVER, **kw)
    assert not isinstance(info.value, HostNotFound)
    return info.value


REFUSED_LITERALS = [
    ("http://127.0.0.1/hook", "127.0.0.1", "loopback"),
    ("http://127.8.9.10/", "127.8.9.10", "loopback"),
    ("http://[::1]:8080/", "::1", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1", "loopback"),
    ("http://[::ffff:10.1.2.3]/", "::ffff:10.1.2.3", "private"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "cloud metadata"),
    ("http://169.254.10.1/", "169.254.10.1", "link-local"),
    ("http://[fe80::1]/", "fe80::1", "link-local"),
    ("http://10.0.0.1/", "10.0.0.1", "private"),
    ("http://10.255.255.255/", "10.255.255.255", "private"),
    ("http://172.16.0.1/", "172.16.0.1", "private"),
    ("http://172.31.255.254/", "172.31.255.254", "private"),
    ("http://192.168.0.1/", "192.168.0.1", "private"),
    ("http://[fc00::1]/", "fc00::1", "private"),
    ("http://[fd12:3456::1]/", "fd12:3456::1", "private"),
    ("http://0.0.0.0/", "0.0.0.0", "unspecified"),
    ("http://[::]/", "::", "unspecified"),
    ("http://224.0.0.251/", "224.0.0.251", "multicast"),
    ("http://[ff02::1]/", "ff02::1", "multicast"),
    ("http://240.0.0.1/", "240.0.0.1", "reserved"),
    ("http://100.64.0.1/", "100.64.0.1", "carrier-grade NAT"),
    ("http://192.0.2.10/", "192.0.2.10", "not on the public internet"),
    ("http://[2002:7f00:1::]/", "2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
    ("http://[64:ff9b::a9fe:a9fe]/", "64:ff9b::a9fe:a9fe", "cloud metadata"),  # NAT64 around 169.254.169.254
]


@pytest.mark.parametrize(("url", "shown", "kind"), REFUSED_LITERALS)
def test_ip_literals_outside_the_public_internet_are_refused(url, shown, kind):
    resolver = FakeResolver({})
    with pytest.raises(InvalidSpec) as info:
        check_url(url, resolver=resolver)
    err = info.value
    assert err.field == "url"
    assert err.message.startswith(f"url: {shown} ")
    assert kind in err.message
    assert "webhooks may not call the portal's own network (allow it in settings: WEBHOOK_ALLOW_PRIVATE)" in (
        err.message
    )
    assert resolver.asked == []  # judged as written: no DNS for an IP literal


def test_the_loopback_message_reads_as_documented():
    assert refusal("http://127.0.0.1/").message == (
        "url: 127.0.0.1 is a loopback address; webhooks may not call the portal's own network "
        "(allow it in settings: WEBHOOK_ALLOW_PRIVATE)"
    )


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://2130706433/", "127.0.0.1"),  # decimal
        ("http://0x7f.1/", "127.0.0.1"),  # hex + short form
        ("http://0x7f000001/", "127.0.0.1"),
        ("http://0177.0.0.1/", "127.0.0.1"),  # octal
        ("http://017700000001/", "127.0.0.1"),
        ("http://127.1/", "127.0.0.1"),
        ("http://10.1/", "10.0.0.1"),
        ("http://0xA9.0xFE.0xA9.0xFE/", "169.254.169.254"),
        ("http://2852039166/", "169.254.169.254"),
        ("http://0/", "0.0.0.0"),
        ("http://127.0.0.1./", "127.0.0.1"),  # trailing dot
    ],
)
def test_numeric_ipv4_spellings_are_decoded_and_judged_without_dns(url, address):
    resolver = FakeResolver({})
    with pytest.raises(InvalidSpec) as info:
        check_url(url, resolver=resolver)
    assert f"({address})" in info.value.message or info.value.message.startswith(f"url: {address} ")
    assert resolver.asked == []


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.1.1.1", "1.2.65536", "08", "0x1g.1", "foo.123"])
def test_invalid_numeric_hosts_are_errors_not_names(host):
    resolver = FakeResolver({host: [PUBLIC]})
    with pytest.raises(InvalidSpec, match="looks like an IPv4 address") as info:
        check_url(f"http://{host}/", resolver=resolver)
    assert info.value.field == "url"
    assert resolver.asked == []


@pytest.mark.parametrize(
    ("host", "bad"),
    [
        ("mixed.example", "10.0.0.7"),
        ("mixed6.example", "fd12:3456::1"),
        ("metadata.example", "169.254.169.254"),
        ("internal.example", "192.168.1.20"),
    ],
)
def test_a_name_with_any_non_public_address_is_refused(host, bad):
    err = refusal(f"https://{host}/x")
    assert err.message.startswith(f"url: {host} resolves to {bad}, which is ")


def test_a_public_name_resolves_to_its_first_address_and_a_normalized_url():
    target = check_url("HTTPS://Public.Example.:443/a/b?token=s3cret#frag", resolver=RESOLVER)
    assert target == ResolvedTarget(
        url="https://public.example/a/b?token=s3cret",
        scheme="https",
        host="public.example",
        port=443,
        address=PUBLIC,
        addresses=(PUBLIC,),
        host_header="public.example",
        waived=False,
    )
    assert target.origin == "https://public.example"


def test_all_addresses_are_kept_and_the_first_one_is_used():
    target = check_url("http://v6.example:8080", resolver=RESOLVER)
    assert target.addresses == ("2606:4700:4700::1111", PUBLIC)
    assert target.address == "2606:4700:4700::1111"
    assert target.host_header == "v6.example:8080"
    assert target.url == "http://v6.example:8080/"
    assert RESOLVER.asked[-1] == ("v6.example", 8080)


def test_a_public_ip_literal_needs_no_dns():
    resolver = FakeResolver({})
    target = check_url("https://[2606:4700:4700::1111]:8443/h", resolver=resolver)
    assert (target.address, target.host_header, target.origin) == (
        "2606:4700:4700::1111",
        "[2606:4700:4700::1111]:8443",
        "https://[2606:4700:4700::1111]:8443",
    )
    assert resolver.asked == []


def test_unicode_host_names_are_resolved_in_their_idna_form():
    target = check_url("https://bücher.example/", resolver=RESOLVER)
    assert target.host == "xn--bcher-kva.example"


def test_allow_private_waives_the_address_check():
    target = check_url("http://127.0.0.1:9000/", allow_private=True, resolver=RESOLVER)
    assert (target.address, target.waived) == ("127.0.0.1", True)
    mixed = check_url("http://mixed.example/", allow_private=True, resolver=RESOLVER)
    assert mixed.addresses == (PUBLIC, "10.0.0.7")


def test_allowed_hosts_waive_the_check_for_those_hosts_only():
    allowed = {"Internal.Example", "[::1]"}
    target = check_url("http://internal.example/", allowed_hosts=allowed, resolver=RESOLVER)
    assert (target.address, target.waived) == ("192.168.1.20", True)
    assert check_url("http://[::1]/", allowed_hosts=allowed, resolver=RESOLVER).address == "::1"
    refusal("http://metadata.example/", allowed_hosts=allowed)
    refusal("http://127.0.0.1/", allowed_hosts=allowed)


def test_purpose_and_setting_word_the_refusal_for_other_callers():
    err = refusal(
        "http://10.0.0.1/", field="source.url", purpose="REST sources", setting="SOURCES_ALLOW_PRIVATE"
    )
    assert err.field == "source.url"
    assert err.message == (
        "source.url: 10.0.0.1 is a private address; REST sources may not call the portal's own network "
        "(allow it in settings: SOURCES_ALLOW_PRIVATE)"
    )


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://public.example/x", "must start with http:// or https:// (got 'ftp')"),
        ("file:///etc/passwd", "must start with http:// or https://"),
        ("gopher://public.example/", "must start with http:// or https://"),
        ("public.example/hook", "must start with http:// or https:// (got no scheme)"),
        ("htps://public.example/", "did you mean 'https'?"),
        ("http://user:pw@public.example/", "must not contain a user name or password"),
        ("http://user@public.example/", "must not contain a user name or password"),
        ("http://public.example\\@127.0.0.1/", "backslashes"),
        ("http:///path", "has no host"),
        ("https://", "has no host"),
        ("", "give an http:// or https:// URL"),
        ("   ", "give an http:// or https:// URL"),
        ("http://public.example:99999/", "port must be a number from 1 to 65535"),
        ("http://public.example:0/", "port must be a number from 1 to 65535"),
        ("http://public.example:abc/", "port must be a number from 1 to 65535"),
        ("http://pub lic.example/", "must not contain spaces"),
        ("http://public.example/\r\nX-Evil: 1", "control characters"),
        ("http://bad_host-.example/", "is not a valid host name"),
        ("http://a..b/", "is not a valid host name"),
        ("http://[fe80::1%25eth0]/", "zone ids"),
        ("http://public.example/" + "a" * 2100, "longer than 2048"),
    ],
)
def test_malformed_urls_are_errors_naming_the_field(url, words):
    with pytest.raises(InvalidSpec) as info:
        check_url(url, resolver=RESOLVER, field="actions.0.url")
    assert info.value.field == "actions.0.url"
    assert info.value.message.startswith("actions.0.url: ")
    assert words in info.value.message


def test_messages_never_show_the_path_or_query():
    err = refusal("http://internal.example/hooks/T0ken123?key=s3cret")
    assert "T0ken123" not in err.message and "s3cret" not in err.message


def test_an_unknown_host_is_a_permanent_host_not_found():
    with pytest.raises(HostNotFound) as info:
        check_url("https://nowhere.example/", resolver=RESOLVER)
    assert info.value.field == "url" and not info.value.transient
    assert "cannot find host 'nowhere.example' (no such host)" in info.value.message


def test_dns_that_does_not_answer_is_transient():
    resolver = FakeResolver(error=socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"))
    with pytest.raises(HostNotFound) as info:
        check_url("https://public.example/", resolver=resolver)
    assert info.value.transient


def test_a_name_without_addresses_is_refused():
    with pytest.raises(HostNotFound, match="has no IPv4 or IPv6 address"):
        check_url("https://empty.example/", resolver=FakeResolver({"empty.example": []}))


def test_address_problem_accepts_public_addresses():
    for text in [PUBLIC, "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]:
        assert address_problem(ipaddress.ip_address(text)) is None, text


# --------------------------------------------------------------------------- pinning (no network)
def test_the_pinned_adapter_connects_to_the_address_and_verifies_the_host_name():
    target = check_url("https://public.example:8443/x", resolver=RESOLVER)
    adapter = PinnedAdapter(target)
    session = pinned_session(target)
    assert session.trust_env is False
    assert isinstance(session.get_adapter("https://public.example:8443/x"), PinnedAdapter)
    prepared = session.prepare_request(requests.Request("POST", target.url, data=b"{}"))
    host_params, pool_kwargs = adapter.build_connection_pool_key_attributes(prepared, True)
    assert host_params == {"scheme": "https", "host": PUBLIC, "port": 8443}
    assert pool_kwargs["server_hostname"] == pool_kwargs["assert_hostname"] == "public.example"


def test_a_pinned_session_refuses_other_origins_before_connecting():
    target = check_url("http://public.example/x", resolver=RESOLVER)
    with pinned_session(target) as session:
        for other in ["http://evil.example/x", "https://public.example/x", "http://public.example:81/x"]:
            with pytest.raises(
                requests.exceptions.InvalidURL, match=re.escape("pinned to http://public.example")
            ):
                session.post(other, data=b"{}", timeout=0.1)
