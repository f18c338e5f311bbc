"""plan_fleet: many sites, in-process and on executors (threads, processes, dask)."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from smartcharge.fleet import FleetStatus, SiteResult, plan_fleet
from smartcharge.optimizer import Problem, verify
from smartcharge.synthetic import workplace_site


def small_sites(n: int) -> list[Problem]:
    return [workplace_site(n_evse=4, seed=i, step_s=3600, n_steps=24) for i in range(n)]


def assert_all_safe(problems: list[Any], results: list[SiteResult]) -> None:
    assert [r.index for r in results] == list(range(len(problems)))
    for problem, result in zip(problems, results, strict=True):
        assert result.ok, result.error
        assert result.plan is not None
        assert verify(problem, result.plan) == []


def test_in_process_results_in_input_order_and_safe() -> None:
    problems = small_sites(5)
    seen: list[int] = []
    results = plan_fleet(problems, on_result=lambda r: seen.append(r.index))
    assert_all_safe(problems, results)
    assert seen == [0, 1, 2, 3, 4]


def test_one_bad_site_never_loses_the_others() -> None:
    good = small_sites(3)
    bad = good[1].model_dump(mode="json")
    bad["sessions"][0]["evse"] = "no-such-evse"
    results = plan_fleet([good[0], bad, good[2]])
    assert [r.status for r in results] == [FleetStatus.OK, FleetStatus.INVALID, FleetStatus.OK]
    assert results[1].plan is None
    assert results[1].error and "evse" in results[1].error
    assert results[1].error_type == "InvalidProblemError"


def _worker_lost() -> None:
    raise OSError("worker lost")


def test_a_lost_worker_fails_only_its_chunk() -> None:
    class Flaky(ThreadPoolExecutor):
        calls = 0

        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            Flaky.calls += 1
            if Flaky.calls == 2:
                return super().submit(_worker_lost)
            return super().submit(fn, *args, **kwargs)

    problems = small_sites(5)
    with Flaky(max_workers=2) as executor:
        results = plan_fleet(problems, executor, chunksize=2)
    assert [r.status for r in results] == [FleetStatus.OK, FleetStatus.OK, FleetStatus.ERROR,
                                           FleetStatus.ERROR, FleetStatus.OK]
    assert results[2].error == "OSError: worker lost"
    assert [r.index for r in results] == list(range(5))


def test_json_dicts_are_accepted() -> None:
    problem = small_sites(1)[0]
    [result] = plan_fleet([problem.model_dump(mode="json")])
    assert result.ok and result.plan is not None
    assert verify(problem, result.plan) == []


@pytest.mark.parametrize(
    ("pool", "chunksize"),
    [(ThreadPoolExecutor, 1), (ProcessPoolExecutor, 1), (ThreadPoolExecutor, 3)],
)
def test_executors_give_the_same_plans_as_in_process(pool: Any, chunksize: int) -> None:
    problems = small_sites(4)
    local = plan_fleet(problems)
    with pool(max_workers=2) as executor:
        remote = plan_fleet(problems, executor, chunksize=chunksize)
    assert_all_safe(problems, remote)
    for a, b in zip(local, remote, strict=True):
        assert a.plan is not None and b.plan is not None
        assert np.array_equal(a.plan.session_power_w, b.plan.session_power_w)


def test_problems_and_plans_pickle_losslessly() -> None:
    problem = workplace_site(n_evse=20, seed=3)
    [result] = plan_fleet([problem])
    assert result.plan is not None
    problem.network()  # warm the cache: it must not travel with the problem
    again = pickle.loads(pickle.dumps(problem))
    assert again == problem
    plan = pickle.loads(pickle.dumps(result.plan))
    assert np.array_equal(plan.power_w, result.plan.power_w)
    assert len(pickle.dumps(problem)) < 64_000


def test_dask_local_cluster_plans_hundreds_of_sites() -> None:
    distributed = pytest.importorskip("distributed")
    problems = [workplace_site(n_evse=3, seed=i, step_s=3600, n_steps=12) for i in range(200)]
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        results = plan_fleet(problems, client.get_executor(), chunksize=10)
    assert_all_safe(problems, results)


def test_model_copy_does_not_reuse_the_compiled_network() -> None:
    problem = workplace_site(n_evse=4, seed=3)
    net = problem.network()
    fewer = problem.model_copy(update={"sessions": problem.sessions[:1]})
    assert fewer.network() is not net
    assert fewer.network().S == 1
    assert problem.network() is net
    assert fewer != problem and problem == workplace_site(n_evse=4, seed=3)
