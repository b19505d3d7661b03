"""Model zoo: cache hit / miss / corruption, cross-process training once, determinism, regimes."""
import json
import multiprocessing as mp

import pytest
import torch

from stitchtest.data import DataSpec
from stitchtest.models.zoo import ModelSpec, Zoo

TINY = ModelSpec(width=4, epochs=1, data=DataSpec(n_train=200, n_test=100))


def test_miss_trains_and_writes_checkpoint_with_metadata(tmp_path):
    zoo = Zoo(tmp_path)
    model, meta = zoo.get(TINY)
    assert zoo.trained == [TINY.string_id()]
    ckpt, meta_path = zoo.paths(TINY)
    assert ckpt.exists() and meta_path.exists()
    saved = json.loads(meta_path.read_text())
    for key in ("clean_accuracy", "robust_accuracy", "train_seconds", "device", "versions", "config", "sha256"):
        assert key in saved, key
    assert saved["config"]["arch"] == "R1111" and saved["spec"] == TINY.string_id()
    assert not any(p.requires_grad for p in model.parameters()) and not model.training


def test_hit_loads_without_training(tmp_path):
    first, _ = Zoo(tmp_path).get(TINY)
    again = Zoo(tmp_path)
    second, meta = again.get(TINY)
    assert again.trained == []
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete_meta", "edit_meta"])
def test_corrupt_entry_is_reported_and_retrained(tmp_path, damage):
    Zoo(tmp_path).get(TINY)
    ckpt, meta_path = Zoo(tmp_path).paths(TINY)
    if damage == "truncate":
        ckpt.write_bytes(ckpt.read_bytes()[:100])
    elif damage == "garbage":
        ckpt.write_bytes(b"not a checkpoint")
    elif damage == "delete_meta":
        meta_path.unlink()
    else:
        meta_path.write_text("{ not json")
    zoo = Zoo(tmp_path)
    with pytest.warns(UserWarning, match="retraining"):
        zoo.get(TINY)
    assert zoo.trained == [TINY.string_id()]
    assert Zoo(tmp_path).get(TINY)[1]["sha256"]  # and it is whole again


def test_same_spec_same_device_gives_identical_weights(tmp_path):
    a, _ = Zoo(tmp_path / "a").get(TINY)
    b, _ = Zoo(tmp_path / "b").get(TINY)
    c, _ = Zoo(tmp_path / "c").get(TINY.replace(seed=1))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_weights_do_not_depend_on_the_callers_thread_count(tmp_path):
    """A 2-thread process and a 1-thread xdist worker must cache the same model (CPU training is
    pinned to one thread); the caller's thread count is restored afterwards."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        a, _ = Zoo(tmp_path / "a").get(TINY)
        assert torch.get_num_threads() == 2
        torch.set_num_threads(1)
        b, _ = Zoo(tmp_path / "b").get(TINY)
    finally:
        torch.set_num_threads(before)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def _worker(root, queue):
    torch.set_num_threads(1)
    zoo = Zoo(root)
    zoo.get(TINY)
    queue.put(len(zoo.trained))


def test_two_processes_asking_at_once_train_once(tmp_path):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), queue)) for _ in range(2)]
    for p in procs:
        p.start()
    counts = sorted(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert counts == [0, 1], f"expected exactly one process to train, got {counts}"


def test_regimes_train_and_differ(tmp_path):
    zoo = Zoo(tmp_path)
    specs = {r: TINY.replace(regime=r, epochs=2) for r in ("standard", "random", "adversarial", "shortcut")}
    metas = {r: zoo.get(s)[1] for r, s in specs.items()}
    assert len({m["key"] for m in metas.values()}) == 4
    assert metas["random"]["train_seconds"] < metas["standard"]["train_seconds"]
    assert "cue_free_accuracy" in metas["shortcut"]
    assert "eps" in specs["adversarial"].string_id() and "eps" not in specs["standard"].string_id()


def test_spec_validation():
    with pytest.raises(ValueError, match="unknown regime"):
        ModelSpec(regime="robust")
    with pytest.raises(ValueError, match="unknown task"):
        ModelSpec(task="colour")


def test_default_digits_model_is_accurate(tmp_path):
    """The default zoo model (digits, R1111, width 16) must reach >= 95% test accuracy."""
    _, meta = Zoo(tmp_path).get(ModelSpec())
    assert meta["clean_accuracy"] >= 0.95, meta


def test_warm_trains_what_is_missing_and_skips_what_another_process_is_training(tmp_path):
    """A cold run's workers warm the zoo side by side: each trains what nobody has, starting at
    its own offset, and passes over a model whose lock another process holds."""
    from filelock import FileLock

    cached, busy, missing = (TINY.replace(seed=s) for s in (0, 1, 2))
    Zoo(tmp_path).get(cached)
    zoo = Zoo(tmp_path)
    with FileLock(str(zoo.paths(busy)[0]) + ".lock"):  # held elsewhere (another descriptor)
        assert zoo.warm([cached, busy, missing], start=1) == 1
    assert zoo.trained == [missing.string_id()]
    assert not zoo.paths(busy)[0].exists()
    assert zoo.warm([cached, busy, missing]) == 1 and zoo.paths(busy)[0].exists()  # free now
    assert zoo.warm([cached, busy, missing]) == 0


def test_a_read_only_cache_serves_the_models_it_has(tmp_path, monkeypatch):
    """Where no lock file can be created (a read-only cache), cached models still load, and a
    missing one is one clear error naming the cache."""
    import stitchtest.models.zoo as zoo_mod

    Zoo(tmp_path).get(TINY)

    class ReadOnly(zoo_mod.FileLock):
        def acquire(self, *args, **kwargs):
            raise PermissionError(13, "Read-only file system", self.lock_file)

    monkeypatch.setattr(zoo_mod, "FileLock", ReadOnly)
    zoo = Zoo(tmp_path)
    assert zoo.get(TINY)[1]["spec"] == TINY.string_id() and zoo.trained == []
    with pytest.raises(zoo_mod.CacheError, match=r"cannot be written .*Read-only.*make the cache writable"):
        zoo.get(TINY.replace(seed=5))


def test_training_messages_go_to_the_stitchtest_logger(tmp_path, caplog):
    """Issue 32: without a ``log`` of its own a zoo said nothing; its diagnostics are the
    ``stitchtest`` logger's, for a library user to switch on, not prints."""
    import logging

    from stitchtest.data import DataSpec
    from stitchtest.models.zoo import ModelSpec, Zoo

    spec = ModelSpec(width=4, epochs=1, data=DataSpec(n_train=100, n_test=50))
    with caplog.at_level(logging.INFO, logger="stitchtest"):
        Zoo(tmp_path).get(spec)
    messages = [(r.name, r.getMessage()) for r in caplog.records]
    assert ("stitchtest.models.zoo", f"zoo: training {spec.string_id()} on cpu") in messages
    assert any(name == "stitchtest.models.zoo" and "clean" in m for name, m in messages)
