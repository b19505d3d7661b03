"""The expectations table: lookups, scales, wildcards, and that every entry names real checks."""
from pathlib import Path

from stitchtest.audit.expectations import EVERY, expectation
from stitchtest.audit.testbeds import expectations

def test_an_entry_for_every_check_applies_to_its_method_only():
    """fula_bn, never through a full audit, is reported on every check; fula keeps its own entries."""
    assert expectation("cross_layer", "layer_monotonicity", "fula_bn", "smoke").status == "reported"
    assert expectation("adversarial", "separation_clean", "fula_bn", "paper").status == "reported"
    assert expectation("adversarial", "separation_clean", "fula", "smoke").status == "known-fail"
    assert expectation("cross_layer", "layer_monotonicity", "fula", "smoke").status == "pass"


def test_default_is_pass_and_entries_apply_per_scale():
    assert expectation("cross_layer", "no_such_check", "tlm", "smoke").status == "pass"
    assert expectation("cross_layer", "triangle_absent", "tlm", "paper").status == "known-fail"
    assert expectation("cross_layer", "diagonal_dominance", "dm", "smoke").status == "known-fail"
    assert expectation("cross_layer", "diagonal_dominance", "dm", "paper").status == "pass"  # smoke only


def test_a_check_on_another_architecture_pair_inherits_the_plain_checks_entry():
    assert expectation("cross_layer", "triangle_absent[R2222]", "tlm", "small").status == "known-fail"
    assert expectation("cross_layer", "triangle_absent[R2222]", "slm", "small").status == "known-fail"
    assert expectation("cross_layer", "triangle_absent[R2222]", "linear_cka", "small", kind="measure").status == "reported"
    assert expectation("cross_layer", "triangle_absent[R2222]", "dm", "small").status == "pass"
    assert expectation("cross_layer", "diagonal_dominance[resnet18->resnet34]", "dm", "smoke").status == "known-fail"


def test_wildcard_covers_user_methods():
    assert expectation("random_controls", "random_to_random", "my_pkg:Thing", "small").status == "reported"


def test_a_users_method_gets_the_expectations_of_its_kind():
    """A user's CKA is only reported on a random receiver, as the built-in one is (the literature
    speaks of measures as a kind there); a user's objective is still asserted there."""
    for name in ("linear_cka", "my_pkg:RbfCka"):
        assert expectation("random_controls", "random_receiver_at_chance", name, "smoke", kind="measure").status == "reported"
    assert expectation("random_controls", "random_receiver_at_chance", "my_pkg:Obj", "smoke", kind="objective").status == "pass"
    assert expectation("random_controls", "random_receiver_at_chance", "my_pkg:Obj", "smoke").status == "pass"
    # a method's own entry wins over its kind's: SVCCA's known failure stays SVCCA's
    assert expectation("cross_layer", "diagonal_dominance", "svcca", "smoke", kind="measure").status == "known-fail"
    assert expectation("cross_layer", "diagonal_dominance", "my_pkg:RbfCka", "smoke", kind="measure").status == "pass"


#: the committed report of one real run per scale (the default run, and the MNIST run)
COMMITTED = {"smoke": "reports/summary.md", "small": "reports/mnist-small/summary.md"}


def test_every_entry_has_a_reason_and_names_a_check_of_a_committed_run():
    """A renamed check would silently drop its known failure; the committed reports list them all
    (an entry is looked up in the report of the first scale it applies to)."""
    root = Path(__file__).parent.parent
    for e in expectations():
        assert e.reason, e
        assert e.status in ("known-fail", "reported"), e
        if e.check == EVERY:  # no check's name: every check of its testbed, reported only
            assert e.status == "reported", e
            continue
        report = root / COMMITTED[next(s for s in COMMITTED if s in e.scales)]
        # a testbed newer than the last full run is in its own committed report until the next one
        own = report.parent / f"{e.testbed}.md"
        found = f"{e.testbed}/{e.check}" in report.read_text() or (
            own.exists() and f"| {e.check} " in own.read_text())
        if not found and "not yet measured" in e.reason:  # no committed run reached it: its testbed names it
            found = f'"{e.check}"' in (root / "testbeds" / e.testbed / f"test_{e.testbed}.py").read_text()
        assert found, f"{e.testbed}/{e.check} is not in {report} nor in {own}"
