"""The re-plan's warm state in the controller's snapshot: :class:`LazyRows` <-> :class:`WarmDoc`.

:func:`smartcharge.optimizer.replan` returns, with each plan, the node rows that bound
(:class:`~smartcharge.optimizer.LazyRows`: per node, its polygon's coefficients, and the
facet and time span of each row), to start the next re-plan's LP with. The controller
keeps it in its state (:attr:`ControllerState.warm
<smartcharge.controller.state.ControllerState>`) as a :class:`WarmDoc`: the same arrays as
JSON numbers (float64 round-trips exactly through JSON, integers are integers), so a
controller restored from a snapshot passes the optimizer the very arrays the original
would, and re-plans byte for byte as it would.

>>> import numpy as np
>>> from smartcharge.optimizer import LazyRows
>>> rows = LazyRows((("grid", np.array([[1.0, 0.5]]), np.array([0]),
...                   np.array([0.0]), np.array([300.0])),))
>>> doc = warm_doc(rows)
>>> back = lazy_rows(WarmDoc.model_validate_json(doc.model_dump_json()))
>>> back is not None and np.array_equal(back.nodes[0][1], rows.nodes[0][1])
True
"""

from __future__ import annotations

import numpy as np

from smartcharge.controller.state import WarmDoc, WarmNode
from smartcharge.errors import ControllerError
from smartcharge.optimizer import LazyRows

__all__ = ["lazy_rows", "warm_doc"]


def warm_doc(rows: LazyRows | None) -> WarmDoc | None:
    """``rows`` as a JSON-able :class:`WarmDoc` (``None`` stays ``None``: no warm state)."""
    if rows is None:
        return None
    nodes = []
    for node_id, coef, facet, s0, s1 in rows.nodes:
        c = np.asarray(coef, dtype=np.float64)
        if c.ndim != 2:  # LazyRows' contract: (R, m); anything else is a bug upstream
            raise ControllerError(f"the warm rows' coefficients of node {node_id!r} have "
                                  f"shape {c.shape}, not (R, m)", path="warm.nodes.coef",
                                  rule="shape")
        nodes.append(WarmNode(
            node=node_id, coef_shape=(c.shape[0], c.shape[1]),
            coef=tuple(c.ravel().tolist()),
            facet=tuple(np.asarray(facet, dtype=np.int64).tolist()),
            start_s=tuple(np.asarray(s0, dtype=np.float64).tolist()),
            end_s=tuple(np.asarray(s1, dtype=np.float64).tolist())))
    return WarmDoc(nodes=tuple(nodes))


def lazy_rows(doc: WarmDoc | None) -> LazyRows | None:
    """The :class:`LazyRows` of ``doc`` (the arrays :func:`warm_doc` was given, exactly)."""
    if doc is None:
        return None
    return LazyRows(tuple(
        (n.node, np.array(n.coef, dtype=np.float64).reshape(n.coef_shape),
         np.array(n.facet, dtype=np.int64), np.array(n.start_s, dtype=np.float64),
         np.array(n.end_s, dtype=np.float64))
        for n in doc.nodes))
