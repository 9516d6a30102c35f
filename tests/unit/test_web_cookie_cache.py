"""The player cookie's verification is cached per raw Cookie header (``PlayerKeys.player_of_header``): a cached
header never lets another header, or another secret, through."""

from __future__ import annotations

from mirrorneuron.web.security import COOKIE, PlayerKeys


def header(value: str) -> bytes:
    return f"theme=dark; {COOKIE}={value}".encode()


def test_a_signed_cookie_gives_its_player_every_time() -> None:
    keys = PlayerKeys("secret")
    h = header(keys.sign("p1"))
    assert keys.player_of_header(h) == keys.player_of_header(h) == "p1"


def test_a_tampered_or_malformed_header_gives_no_player_after_a_good_one_was_cached() -> None:
    keys = PlayerKeys("secret")
    good = keys.sign("p1")
    assert keys.player_of_header(header(good)) == "p1"
    forged = "p2." + good.split(".", 1)[1]  # p1's signature on another id
    assert keys.player_of_header(header(forged)) is None
    assert keys.player_of_header(header(good + "x")) is None
    assert keys.player_of_header(b'mn_player="unterminated') is None
    assert keys.player_of_header(b"other=1") is None


def test_the_cache_is_per_secret() -> None:
    """Planted fault this catches: one cache shared by every ``PlayerKeys`` (e.g. a module-level lru_cache
    keyed on the header alone) would accept a cookie signed under another secret."""
    ours, theirs = PlayerKeys("secret"), PlayerKeys("another")
    h = header(theirs.sign("p1"))
    assert theirs.player_of_header(h) == "p1"
    assert ours.player_of_header(h) is None
