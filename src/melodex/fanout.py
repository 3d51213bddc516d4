"""Independent items (tracks, prompts, source files) run one after another here, or as Ray tasks.

`melodex batch`, `melodex eval` and `melodex data build` share this: `ray=None` runs each item in this
process, `ray="local"` starts Ray on this machine (one task per core), any other value is the address of
a running Ray cluster (`auto`, `ray://head:10001`, ...). Work functions are module-level, so Ray's
workers import them from the installed melodex, and they return what they made (as bytes or JSON-able
data) instead of writing it, so the results reach this machine's disk from any node of a cluster.
"""

from __future__ import annotations

import importlib.util
import logging
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from melodex.errors import MelodexError

RAY_HELP = ("Run the items as Ray tasks: 'local' starts Ray on this machine (one task per core); an address "
            "('auto', 'HEAD:6379', 'ray://HEAD:10001') joins a running cluster whose nodes have melodex installed. "
            "Needs the scale extra: bash scripts/setup.sh --extras=scale")
# How long an address may take to answer before it is called unreachable. Ray itself does not give up: on an
# address where nothing listens, ray.init retried for over 2 minutes (killed then) printing GCS time-outs.
CONNECT_TIMEOUT_S = 5.0


def connect(address: str) -> Any:
    """The `ray` module, connected: to a new local instance for 'local', else to the cluster at `address`."""
    try:
        import ray
    except ImportError as exc:
        raise MelodexError("--ray needs Ray, which is not installed: bash scripts/setup.sh --extras=scale "
                           "(or pip install 'melodex[scale]')") from exc
    if ray.is_initialized():
        return ray
    if address not in ("local", "auto"):
        check_reachable(address)
    try:
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise MelodexError(f"cannot reach a Ray cluster at {address!r} ({exc}); start one with `ray start "
                           "--head` on the head node, or use --ray local") from exc
    return ray


def check_reachable(address: str) -> None:
    """Refuse, at once and clearly, a cluster address that is malformed or where nothing answers."""
    client = address.startswith("ray://")
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise MelodexError(f"--ray {address!r} is not an address: use 'local', 'auto' (a cluster started on this "
                           "machine), HEAD:6379 (the head's `ray start --head` port) or ray://HEAD:10001")
    if client and importlib.util.find_spec("grpc") is None:
        raise MelodexError(f"--ray {address}: ray:// goes through Ray Client, which is not installed: "
                           "pip install 'ray[client]' (or give the head's HEAD:6379 from a cluster node)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise MelodexError(f"nothing answers at {host}:{port} ({exc.strerror or exc}): start the cluster's head "
                           "there (`ray start --head`), check the address, or use --ray local") from exc


def fan_out(work: Callable[..., Any], items: Sequence[tuple], ray: str | None = None,
            cpus: float = 1.0) -> Iterator[tuple[int, Any, BaseException | None]]:
    """(index, result, None) or (index, None, exception) for each `work(*items[index])` as it finishes.

    In this process the items run in order; on Ray they run at once (`cpus` cores each) and come back
    in the order they finish. A failed item is yielded with its exception (the task's own, not Ray's
    wrapper), and the rest go on.
    """
    if ray is None:
        for index, args in enumerate(items):
            try:
                yield index, work(*args), None
            except Exception as exc:
                yield index, None, exc
        return
    if not items:
        return
    ray_module = connect(ray)
    task = ray_module.remote(num_cpus=cpus, max_retries=0)(work)
    pending = {task.remote(*args): index for index, args in enumerate(items)}
    while pending:
        finished, _ = ray_module.wait(list(pending), num_returns=1)
        for ref in finished:
            index = pending.pop(ref)
            try:
                yield index, ray_module.get(ref), None
            except ray_module.exceptions.RayTaskError as exc:
                cause = exc.cause if isinstance(exc.cause, BaseException) else exc
                yield index, None, cause
            except ray_module.exceptions.RayError as exc:  # the worker died (memory, signal) or was lost
                yield index, None, exc
