"""`melodex.fanout`: items in this process go on past a failure; a bad or silent cluster address is refused
at once with a clear error (Ray alone retries for minutes). No Ray instance is started here."""

from __future__ import annotations

import importlib.util
import socket
import sys
import time

import pytest

from melodex.errors import MelodexError
from melodex.fanout import check_reachable, connect, fan_out


def _square_unless_three(n: int) -> int:
    if n == 3:
        raise ValueError("three is refused")
    return n * n


def test_items_in_this_process_go_on_past_a_failure() -> None:
    out = list(fan_out(_square_unless_three, [(n,) for n in range(5)]))
    assert [(i, r) for i, r, e in out if e is None] == [(0, 0), (1, 1), (2, 4), (4, 16)]
    assert [(i, str(e)) for i, _, e in out if e is not None] == [(3, "three is refused")]


def _closed_port() -> int:
    with socket.socket() as probe:  # a port the kernel just handed out and nobody listens on any more
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_address_where_nothing_listens_is_refused_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(MelodexError, match=r"nothing answers at 127\.0\.0\.1"):
        check_reachable(f"127.0.0.1:{_closed_port()}")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("address", ["head", "head:port", "ray://", ":6379"])
def test_a_malformed_address_is_refused(address: str) -> None:
    with pytest.raises(MelodexError, match="is not an address"):
        check_reachable(address)


def test_an_address_that_answers_passes() -> None:
    with socket.socket() as head:
        head.bind(("127.0.0.1", 0))
        head.listen(1)
        check_reachable(f"127.0.0.1:{head.getsockname()[1]}")


@pytest.mark.skipif(importlib.util.find_spec("grpc") is not None, reason="Ray Client's grpcio is installed")
def test_ray_client_without_its_extra_names_the_install() -> None:
    with pytest.raises(MelodexError, match=r"ray\[client\]"):
        check_reachable("ray://127.0.0.1:10001")


def test_ray_not_installed_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError, as without the extra
    with pytest.raises(MelodexError, match="--extras=scale"):
        connect("local")
