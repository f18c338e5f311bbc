"""Plan many independent sites, in-process or on any ``concurrent.futures.Executor``.

A charge-point operator re-plans hundreds to thousands of sites every few minutes. Sites are
independent problems, so they scale out on an existing distributed engine rather than one of
ours: :func:`plan_fleet` takes any :class:`concurrent.futures.Executor`, which covers the
standard library's process pools, ``dask.distributed`` (``client.get_executor()``) and Ray's
pools.

>>> from smartcharge.fleet import plan_fleet
>>> plan_fleet([])
[]

Every site comes back in input order with its own status; one site's failure (bad input, a
solver crash, a lost worker) never loses the others.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from enum import Enum
from typing import Any

from smartcharge.errors import InvalidProblemError, SmartChargeError
from smartcharge.optimizer import Plan, Problem

__all__ = ["FleetStatus", "SiteResult", "plan_fleet"]


class FleetStatus(str, Enum):
    """Outcome of one site."""

    OK = "OK"
    """A plan came back (look at ``plan.status`` for how it was obtained)."""
    INVALID = "INVALID"
    """The problem was rejected (a :class:`~smartcharge.errors.SmartChargeError`)."""
    ERROR = "ERROR"
    """Anything else went wrong: an unexpected exception or a lost worker."""

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class SiteResult:
    """What :func:`plan_fleet` returns for one site.

    Attributes
    ----------
    index
        Position of the site in the input.
    status
        :class:`FleetStatus`.
    plan
        The plan, or ``None`` when the site failed.
    error
        One line saying what went wrong (``None`` when OK).
    error_type
        Name of the exception class (``None`` when OK).
    seconds
        Wall-clock time spent planning on the worker [s].
    """

    index: int
    status: FleetStatus
    plan: Plan | None = None
    error: str | None = None
    error_type: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when a plan came back."""
        return self.status is FleetStatus.OK


def _plan_site(
    index: int, problem: Problem | Mapping[str, Any], options: dict[str, Any]
) -> SiteResult:
    """Plan one site; never raises (runs on a worker, so it must be a module-level function)."""
    from smartcharge.optimizer import optimize

    started = time.perf_counter()
    try:
        if not isinstance(problem, Problem):
            problem = Problem.model_validate(problem)
        plan = optimize(problem, **options)
    except SmartChargeError as exc:
        return SiteResult(index, FleetStatus.INVALID, None, str(exc), type(exc).__name__,
                          time.perf_counter() - started)
    except Exception as exc:  # one site's failure never loses the others
        line = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return SiteResult(index, FleetStatus.ERROR, None, line, type(exc).__name__,
                          time.perf_counter() - started)
    return SiteResult(index, FleetStatus.OK, plan, None, None, time.perf_counter() - started)


def plan_fleet(
    problems: Iterable[Problem | Mapping[str, Any]],
    executor: Executor | None = None,
    *,
    on_result: Callable[[SiteResult], None] | None = None,
    chunksize: int = 1,
    **options: Any,
) -> list[SiteResult]:
    """Plan every site, in input order, each with its own status.

    Parameters
    ----------
    problems
        The sites: :class:`~smartcharge.optimizer.Problem` objects or their JSON dicts (a
        dict is validated on the worker, so a bad one fails only its own site).
    executor
        Where to run: ``None`` plans in this process, one site after the other; any
        :class:`concurrent.futures.Executor` runs the sites on it (e.g.
        ``ProcessPoolExecutor()``, or ``dask.distributed.Client(address).get_executor()``).
    chunksize
        Sites sent to a worker in one task (executors only). Small sites plan in about
        10 ms, less than an engine's cost per task: batching them amortises it (see
        docs/fleet.md for measured figures). A lost worker fails only its own chunk.
    on_result
        Called in this process with each :class:`SiteResult` as it is collected, in input
        order (for progress reporting).
    **options
        Passed to :func:`smartcharge.optimizer.optimize` for every site.

    Returns
    -------
    list of SiteResult
        One per site, in input order. A site that raised, or whose worker was lost, has
        status ``INVALID`` or ``ERROR`` and ``plan=None``; the others are unaffected.
    """
    items = list(problems)
    if executor is None:
        results = []
        for i, problem in enumerate(items):
            result = _plan_site(i, problem, options)
            if on_result is not None:
                on_result(result)
            results.append(result)
        return results

    if chunksize < 1:
        raise InvalidProblemError(
            f"chunksize must be at least 1, got {chunksize}", path="chunksize", rule=">=1"
        )
    starts = range(0, len(items), chunksize)
    futures: list[Future[list[SiteResult]]] = [
        executor.submit(_plan_chunk, start, items[start : start + chunksize], options)
        for start in starts
    ]
    out: list[SiteResult] = []
    for start, future in zip(starts, futures, strict=True):
        size = min(chunksize, len(items) - start)
        try:
            chunk = future.result()
        except Exception as exc:  # the worker itself failed (killed, unpicklable, ...)
            line = traceback.format_exception_only(type(exc), exc)[-1].strip()
            chunk = [
                SiteResult(start + k, FleetStatus.ERROR, None, line, type(exc).__name__)
                for k in range(size)
            ]
        for result in chunk:
            if on_result is not None:
                on_result(result)
            out.append(result)
    return out


def _plan_chunk(
    start: int, problems: list[Problem | Mapping[str, Any]], options: dict[str, Any]
) -> list[SiteResult]:
    """Plan consecutive sites on one worker (module-level, so executors can pickle it)."""
    return [_plan_site(start + k, problem, options) for k, problem in enumerate(problems)]
