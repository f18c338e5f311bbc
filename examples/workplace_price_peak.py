"""Plan a workplace with a 17:00-21:00 price peak and compare with simple policies.

The site (``smartcharge.synthetic.workplace_site``): 20 EVSEs on feeders behind a transformer,
most cars arriving around 08:00, some at 17:00 for the evening shift, and a price that more
than doubles from 17:00 to 21:00 UTC. The optimizer keeps every limit and moves the evening
shift's charging out of the peak; the baselines charge as soon as they can.

Run: python examples/workplace_price_peak.py
"""

from __future__ import annotations

import numpy as np

from smartcharge.optimizer import Plan, optimize, verify
from smartcharge.optimizer.baselines import earliest_deadline_first, equal_share, uncontrolled
from smartcharge.synthetic import workplace_site


def peak_energy_kwh(plan: Plan) -> float:
    """Energy [kWh] charged while the price is at its peak."""
    problem = plan.problem
    price = problem.series(problem.tariff.price)
    in_peak = price >= price.max()
    step_h = problem.horizon.step_s / 3600.0
    return float(plan.power_w[:, in_peak].sum() * step_h / 1000.0)


def main() -> None:
    problem = workplace_site(n_evse=20, seed=3)
    plans = {
        "optimizer": optimize(problem),
        "uncontrolled": uncontrolled(problem),
        "equal share": equal_share(problem),
        "earliest deadline first": earliest_deadline_first(problem),
    }
    print(f"{len(problem.sessions)} sessions want {plans['optimizer'].energy_needed_wh / 1000:.0f}"
          f" kWh; transformer {problem.nodes[0].max_power_w / 1000:.0f} kW")
    print(f"{'method':<24} {'delivered':>9} {'cost':>7} {'peak kW':>8} {'kWh in peak':>11} "
          f"{'violations':>10}")
    for name, plan in plans.items():
        print(f"{name:<24} {plan.share_delivered:>9.1%} {plan.cost:>7.2f} "
              f"{plan.peak_w / 1000:>8.1f} {peak_energy_kwh(plan):>11.1f} "
              f"{len(verify(problem, plan)):>10d}")
    best = plans["optimizer"]
    busiest = int(np.argmax(best.power_w.sum(axis=1)))
    print(f"busiest EVSE {best.evse_ids[busiest]}: "
          f"{best.power_w[busiest].max() / 1000:.1f} kW at most")


if __name__ == "__main__":
    main()
