"""The ``audit`` fixture's object: the session's audit, with pytest semantics for check outcomes."""
from __future__ import annotations

import pytest

from .session import audit_session


class Expect:
    """The ``audit`` fixture: the session audit, plus pytest semantics for check outcomes."""

    def __init__(self, audit, request: pytest.FixtureRequest):
        self._audit, self._request = audit, request

    def __getattr__(self, name):
        return getattr(self._audit, name)

    def expect(self, testbed: str, check: str, method, readout: str, outcome, per_seed=None, se=None) -> None:
        """Record the outcome; assert it unless only reported; known failures are strict xfails,
        and so (not strict) are failures that ``--stitch-baseline`` recorded too: only new ones fail.
        A value within noise of its threshold is undecided: the test is skipped with the reason
        (``undecided: 0.745 vs 0.75 ± 0.021 (2 SE)``), so it neither passes nor fails the run, and the
        reports list it as undecided."""
        row = self._audit.check(testbed, check, method, readout, outcome, per_seed, se)
        message = f"{method.name}: {testbed}/{check} on {readout}: {outcome.figure}"
        if row.outcome == "reported":
            return
        if row.outcome == "undecided":
            pytest.skip(f"{method.name}: {testbed}/{check} on {readout}: {row.detail['undecided']}")
        if row.outcome in ("known-fail", "unexpected-pass"):
            self._request.applymarker(pytest.mark.xfail(strict=True, reason=row.reason))
        elif row.outcome == "fail" and audit_session(self._request.config).failed_in_baseline(row.key):
            self._request.applymarker(pytest.mark.xfail(reason="failed in the --stitch-baseline run too"))
        assert outcome.passed, message
