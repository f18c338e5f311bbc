"""Pins of issue 13, round 3: behaviours of the optimizer (``optimize``, ``replan``,
``Problem``, ``Plan``) that the mutation run of ``optimizer/solve``, ``_network``, ``plan``,
``problem``, ``_lp`` and ``_model`` showed untested. Every test goes through public entry
points, never a private helper's signature."""

from __future__ import annotations
