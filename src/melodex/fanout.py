"""Independent items (tracks, prompts, source files) run one after another here, or as Ray tasks.

`melodex batch`, `melodex eval` and `melodex data build` share this: `ray=None` runs each item in this
process, `ray="local"` starts Ray on this machine (one task per core), any other value is the address of
a running Ray cluster (`auto`, `ray://head:10001`, ...). Work functions are module-level, so Ray's
workers import them from the installed melodex, and they return what they made (as bytes or JSON-able
data) instead of writing it, so the results reach this machine's disk from any node of a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from melodex.errors import MelodexError

RAY_HELP = ("Run the items as Ray tasks: 'local' starts Ray on this machine (one task per core); an address "
            "('auto', 'ray://head:10001') joins a running cluster whose nodes have melodex installed. "
            "Needs the scale extra: bash scripts/setup.sh --extras=scale")


def connect(address: str) -> Any:
    """The `ray` module, connected: to a new local instance for 'local', else to the cluster at `address`."""
    try:
        import ray
    except ImportError as exc:
        raise MelodexError("--ray needs Ray, which is not installed: bash scripts/setup.sh --extras=scale "
                           "(or pip install 'melodex[scale]')") from exc
    if ray.is_initialized():
        return ray
    try:
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise MelodexError(f"cannot reach a Ray cluster at {address!r} ({exc}); start one with `ray start "
                           "--head` on the head node, or use --ray local") from exc
    return ray


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
