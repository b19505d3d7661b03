"""A method registered by name only is resolvable but not audited unless asked for (``fula_bn``)."""
from stitchtest.audit.core import resolve_methods
from stitchtest.engine import methods
from stitchtest.runtime.registry import Registry


def test_by_name_only_is_resolvable_and_left_out_of_the_defaults():
    reg = Registry("thing", "stitchtest.nothing-registers-here")

    @reg.register
    class A:
        name = "a"

    @reg.register(by_default=False)
    class B:
        name = "b"

    assert reg.names() == ("a", "b") and reg.default_names() == ("a",)
    assert reg.get("b") is B and not reg.by_default("b") and reg.by_default("a")


def test_the_default_audit_leaves_fula_bn_out_but_names_it_on_request():
    assert "fula_bn" in methods.names() and "fula_bn" not in methods.default_names()
    assert {"tlm", "fula", "dm_hint", "linear_cka"} <= set(methods.default_names())
    assert "fula_bn" not in {m.name for m in resolve_methods(None)}
    assert [m.name for m in resolve_methods("fula_bn")] == ["fula_bn"]
