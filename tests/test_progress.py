"""The controller's live progress: it follows the workers' progress logs (``stitchtest.plugin.progress``)."""
from stitchtest.plugin.progress import ProgressFollower

CELL = "01:42:11 cell cross_layer tlm R1111->R1111 s0 stem->stem accuracy=0.980 (1.7s)\n"
TRAIN = "01:40:00 zoo: training model(arch=R1111) on cpu\n"
EPOCH = "01:40:01 model(arch=R1111): epoch 1/15 loss 1.2\n"


def append(path, text):
    with open(path, "a") as f:
        f.write(text)


def follower(tmp_path, verbose, every=0.0):
    out = []
    return ProgressFollower(tmp_path, out.append, verbose=verbose, every=every), out


def test_counts_cells_and_trainings_per_worker(tmp_path):
    f, out = follower(tmp_path, verbose=False)
    append(tmp_path / "progress-gw0.log", CELL + TRAIN + EPOCH + CELL)
    append(tmp_path / "progress-gw1.log", CELL)
    f.poll()
    assert out == ["[stitchtest] 3 cells computed (gw0 2, gw1 1); 1 model trained"]
    f.poll()  # nothing new: nothing said
    assert len(out) == 1


def test_verbose_shows_every_line_with_its_worker(tmp_path):
    f, out = follower(tmp_path, verbose=True)
    append(tmp_path / "progress-gw1.log", TRAIN + CELL)
    f.poll()
    assert out == ["[gw1] " + TRAIN.strip(), "[gw1] " + CELL.strip()]


def test_a_partial_line_waits_for_its_end(tmp_path):
    f, out = follower(tmp_path, verbose=True)
    append(tmp_path / "progress-gw0.log", CELL[:20])
    f.poll()
    assert out == []
    append(tmp_path / "progress-gw0.log", CELL[20:])
    f.poll()
    assert out == ["[gw0] " + CELL.strip()]


def test_resuming_shows_only_what_this_run_adds(tmp_path):
    append(tmp_path / "progress-gw0.log", CELL * 5)  # an earlier, interrupted run
    f, out = follower(tmp_path, verbose=False)
    f.start()
    append(tmp_path / "progress-gw0.log", CELL)
    f.stop()  # the final poll reports whatever changed
    assert out == ["[stitchtest] 1 cell computed (gw0 1)"]


def test_without_a_thread_the_caller_polls_and_stop_reports_the_rest(tmp_path):
    f, out = follower(tmp_path, verbose=False, every=3600)
    f.start(thread=False)
    append(tmp_path / "progress-main.log", TRAIN)
    f.poll()
    append(tmp_path / "progress-main.log", CELL + CELL)
    f.stop()
    assert out == ["[stitchtest] 0 cells computed; 1 model trained",
                   "[stitchtest] 2 cells computed (main 2); 1 model trained"]


def test_the_count_is_throttled_but_the_final_one_always_shown(tmp_path):
    f, out = follower(tmp_path, verbose=False, every=3600)
    append(tmp_path / "progress-gw0.log", CELL)
    f.poll()
    append(tmp_path / "progress-gw0.log", CELL)
    f.poll()  # within the hour: not repeated
    assert out == ["[stitchtest] 1 cell computed (gw0 1)"]
    f.poll(final=True)
    assert out[-1] == "[stitchtest] 2 cells computed (gw0 2)"


def test_only_the_main_thread_lifts_output_capture_to_show_progress():
    """A group of cells computed in a thread may log (a model trained on demand); lifting pytest's
    capture from there would race the main thread, so its lines wait for the main thread's poll."""
    import contextlib
    import threading

    from stitchtest.plugin.session import AuditSession

    polls = []

    class Capman:
        @contextlib.contextmanager
        def global_and_fixture_disabled(self):
            yield

    class Config:
        pluginmanager = type("PM", (), {"getplugin": lambda self, name: Capman()})()

    session = AuditSession(Config())
    session.progress = type("Follower", (), {"poll": lambda self: polls.append(threading.current_thread().name)})()
    worker = threading.Thread(target=session.show_progress, name="stitchtest-group_0")
    worker.start()
    worker.join()
    assert polls == []
    session.show_progress()
    assert polls == [threading.main_thread().name]
