"""The plugin life cycle every compiled op shares (ops/plugin.py), on stand-in builders: states, self-check,
the single logged line, switches, requirements, waiting, warm-up and the status texts."""

from __future__ import annotations

import logging
import threading

import pytest

from ops import backend, plugin


@pytest.fixture(autouse=True)
def isolated(monkeypatch, caplog):
    """Plugins made here stay out of the registry that describe() reads; messages start unsaid."""
    plugin.all_plugins()  # the real plugins registered first, in the real registry
    monkeypatch.setattr(plugin, "PLUGINS", dict(plugin.PLUGINS))
    monkeypatch.setattr(plugin, "_said", set())
    caplog.set_level(logging.WARNING, logger="aliasfree.ops")


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "aliasfree.ops"]


class Builder:
    """Counts builds and checks; returns ``value`` or raises ``error``; the check answers ``problem``."""

    def __init__(self, value="module", error=None, problem=None):
        self.value, self.error, self.problem = value, error, problem
        self.builds, self.checks = 0, 0

    def build(self, *args):
        self.builds += 1
        self.args = args
        if self.error:
            raise self.error
        return self.value

    def check(self, value):
        self.checks += 1
        return self.problem


def _plugin(name="test/op", builder=None, **kwargs) -> plugin.Plugin:
    builder = builder or Builder()
    kwargs.setdefault("label", "test op")
    kwargs.setdefault("device", "cpu")
    return plugin.Plugin(name, builder.build, builder.check, **kwargs)


def test_the_status_vocabulary_is_four_words():
    assert [str(s) for s in plugin.Status] == ["idle", "building", "ready", "failed"]
    for p in plugin.all_plugins():  # the real plugins speak it too
        assert p.status_text().split(":")[0] in {"idle", "building", "ready", "failed"}, p


def test_built_and_checked_once_then_ready(caplog):
    b = Builder()
    p = _plugin(builder=b)
    assert p.status is plugin.Status.IDLE and p.status_text() == "idle" and b.builds == 0  # nothing at creation
    assert [p.get() for _ in range(3)] == ["module"] * 3
    assert (b.builds, b.checks) == (1, 1)
    assert p.status_text() == "ready" and p.reason == "" and not _lines(caplog)


@pytest.mark.parametrize("error, reason", [
    (plugin.Unavailable("no compiler here"), "no compiler here"),
    (TypeError("bad argument"), "TypeError: bad argument"),  # any other error is named with its type
])
def test_a_failed_build_is_logged_once_and_never_retried(caplog, error, reason):
    b = Builder(error=error)
    p = _plugin(builder=b, fallback="the slow path")
    assert [p.get() for _ in range(3)] == [None] * 3
    assert b.builds == 1 and b.checks == 0
    assert p.status_text() == f"failed: {reason}"
    assert _lines(caplog) == [f"aliasfree ops: test op unavailable, using the slow path: {reason}"]


def test_a_failed_self_check_keeps_the_reference_path(caplog):
    b = Builder(problem="max |plugin - reference| = 0.5")
    p = _plugin(builder=b)
    assert p.get() is None and p.get() is None
    assert (b.builds, b.checks) == (1, 1)
    assert p.reason == "the test op failed its self-check (max |plugin - reference| = 0.5)"
    assert len(_lines(caplog)) == 1 and p.reason in _lines(caplog)[0]


def test_a_switch_fails_the_plugin_without_building_it(caplog):
    b = Builder()
    p = _plugin(builder=b, switched_off=lambda: "switched off by TEST_SWITCH=0")
    assert p.get() is None and b.builds == 0
    assert p.status_text() == "failed: switched off by TEST_SWITCH=0"
    assert len(_lines(caplog)) == 1


def test_one_reason_shared_by_a_group_is_logged_once(caplog):
    plugins = [_plugin(f"test/k{i}", Builder(error=plugin.Unavailable("no device")), group="test kernels")
               for i in range(3)]
    assert [p.get() for p in plugins] == [None] * 3
    assert _lines(caplog) == ["aliasfree ops: test kernels unavailable, using the PyTorch path: no device"]
    assert plugin.combined_status(plugins) == "failed: no device"


def test_disable_and_reset(caplog):
    b = Builder()
    p = _plugin(builder=b)
    p.disable("known to fail")
    assert p.get() is None and b.builds == 0 and not _lines(caplog)
    assert p.status_text() == "failed: known to fail"
    p.reset()
    assert p.status is plugin.Status.IDLE and p.get() == "module" and b.builds == 1


def test_a_plugin_that_requires_another_gets_its_value_and_shares_its_failure_quietly(caplog):
    base_builder = Builder(value="library")
    base = _plugin("test/base", base_builder, label="test library")
    b = Builder(value="conv")
    p = _plugin("test/conv", b, requires=base, fallback="conv2d")
    assert p.get() == "conv" and b.args == ("library",) and base.status is plugin.Status.READY

    broken = _plugin("test/broken", Builder(error=plugin.Unavailable("g++ missing")), label="test library 2")
    b2 = Builder()
    p2 = _plugin("test/conv2", b2, requires=broken)
    assert p2.get() is None and b2.builds == 0
    assert p2.status_text() == "failed: needs the test library 2 (g++ missing)"
    assert len(_lines(caplog)) == 1 and "g++ missing" in _lines(caplog)[0]  # the requirement's line only


def test_a_build_under_way_is_waited_for_unless_told_otherwise():
    release, started = threading.Event(), threading.Event()

    def slow_build():
        started.set()
        assert release.wait(30)
        return "module"

    p = plugin.Plugin("test/slow", slow_build, None, label="slow op", device="cpu")
    results = []
    builder = threading.Thread(target=lambda: results.append(p.get()))
    builder.start()
    assert started.wait(30) and p.status is plugin.Status.BUILDING
    waiter = threading.Thread(target=lambda: results.append(p.get()))
    waiter.start()
    p.wait = False
    assert p.get() is None  # the reference path meanwhile
    assert waiter.is_alive()  # started while wait was on: it waits for the build
    release.set()
    builder.join(30)
    waiter.join(30)
    assert results == ["module", "module"] and p.get() == "module"


def test_warm_up_marks_building_at_once_and_a_dependent_plugin_retries_after_it():
    release = threading.Event()
    base = plugin.Plugin("test/base", lambda: release.wait(30) and "library", None, label="library",
                         device="cpu")
    dependent = _plugin("test/dependent", Builder(value="conv"), requires=base)
    warm = plugin.warm_up_async([base])
    assert base.status is plugin.Status.BUILDING and warm.status == "building" and not warm.done()
    assert dependent.get() is None  # the requirement is still building (not waited for): try again later
    assert dependent.status is plugin.Status.IDLE
    release.set()
    assert warm.wait(30) == "ready" and warm.done()
    assert dependent.get() == "conv"


def test_combined_status_and_describe(monkeypatch):
    ready, idle = _plugin("test/a"), _plugin("test/b")
    ready.get()
    assert plugin.combined_status([ready]) == "ready"
    assert plugin.combined_status([ready, idle]) == "idle"
    monkeypatch.setattr(backend, "_default_impl", "torch")
    assert plugin.describe() == "impl=torch: the PyTorch path for every op"
    monkeypatch.setattr(backend, "_default_impl", "cpu")
    first, second = plugin.describe().splitlines()
    assert first.startswith("impl=cpu, CUDA kernels ")
    assert "test op ready" in second and "fused CPU filtered_lrelu" in second  # one line names every CPU plugin


def test_names_are_unique():
    _plugin("test/same")
    with pytest.raises(ValueError, match="exists already"):
        _plugin("test/same")


def test_fallbacks_are_recorded_logged_once_and_raise_when_strict(monkeypatch, caplog):
    monkeypatch.setattr(plugin, "fallbacks", [])
    monkeypatch.delenv("ALIASFREE_OPS_STRICT", raising=False)
    for _ in range(2):
        plugin.fall_back("test_op", "too large")
    assert plugin.fallbacks == ["test_op: too large"] * 2
    assert _lines(caplog) == ["aliasfree ops: test_op: the fused kernel hands a call to the PyTorch path (too large)"]
    monkeypatch.setenv("ALIASFREE_OPS_STRICT", "1")
    with pytest.raises(plugin.FallbackError, match="test_op: the fused kernel fell back"):
        plugin.fall_back("test_op", "too large")
