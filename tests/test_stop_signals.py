"""A build stopped by SIGTERM or kill -9 leaves no process behind and closes its stdout.

Before: killed during the analyses stage, a build left its 2 loky workers and 2 resource trackers
running (11 minutes later they still held the build's stdout, so ``build | tee log`` never
returned), and SIGTERM ended it without any of the cleanup Ctrl-C does.
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, write_small_config

psutil = pytest.importorskip("psutil")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups and /proc: Linux")


def _alive(procs) -> list:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def _loky_workers(procs) -> list:
    found = []
    for p in procs:
        try:
            if "popen_loky" in " ".join(p.cmdline()):
                found.append(p)
        except psutil.Error:
            pass
    return found


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_build_killed_during_the_analyses_leaves_no_process_and_its_stdout_reaches_eof(tmp_path, sig):
    config = write_small_config(tmp_path, n_identities=60)  # analyses last tens of seconds here
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "w") as err:
        build = subprocess.Popen([sys.executable, str(ROOT / "build_report.py"), "--config", str(config)],
                                 stdout=subprocess.PIPE, stderr=err, cwd=tmp_path)
    parent = psutil.Process(build.pid)
    children: list = []
    try:
        deadline = time.time() + 180
        # The analyses stage is the one whose loky workers run; kill once both are up and working.
        while len(_loky_workers(children)) < 2 and time.time() < deadline and build.poll() is None:
            children = parent.children(recursive=True)
            time.sleep(0.1)
        assert len(_loky_workers(children)) >= 2, "the build never started its analysis workers"
        time.sleep(1.5)
        children = parent.children(recursive=True)  # workers, loky's and multiprocessing's resource trackers
        assert not (tmp_path / "out" / "docs").exists(), "killed too late: the analyses stage was over"
        os.kill(build.pid, sig)
        killed = time.time()
        eof = None
        os.set_blocking(build.stdout.fileno(), False)
        while time.time() - killed < 10:
            ready, _, _ = select.select([build.stdout], [], [], 0.2)
            if ready and build.stdout.read() == b"":
                eof = time.time() - killed
                break
        code = build.wait(timeout=30)
        deadline = time.time() + 5
        while _alive(children) and time.time() < deadline:
            time.sleep(0.1)
        survivors = [(p.pid, " ".join(p.cmdline())[:80]) for p in _alive(children)]
    finally:
        for p in _alive(children) + _alive([parent]):  # never leave them behind, even on failure
            p.kill()
    assert eof is not None, "the build's stdout never reached EOF: a child still holds it"
    assert eof < 8
    assert survivors == []
    stderr = err_path.read_text()
    if sig == signal.SIGTERM:  # ended as Ctrl-C ends it: one line, its own exit code, no staging left
        assert code == 128 + signal.SIGTERM
        assert "error: stopped by SIGTERM; the previous outputs are kept" in stderr
        assert "Traceback" not in stderr
    else:
        assert code == -signal.SIGKILL
    assert not list((tmp_path / "out").glob(".atlas-staging-*"))


def _run_script(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter: the signals below go to that process, never to pytest.

    Signalling the test runner itself made the suite's process die of SIGSEGV in CI after hundreds
    of other tests had left their threads and libraries in it; a real build always runs in its own
    process, so that is what these tests reproduce.
    """
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_sigterm_is_turned_into_an_interrupt_only_while_building(tmp_path):
    code = f"""
import os, signal, sys, threading, time
sys.path.insert(0, {str(ROOT)!r})
from report.cli import Terminated, stop_signals_as_interrupts

def fallback(signum, frame):  # a regression reaches this handler instead of killing the process
    print("UNHANDLED", flush=True)
    os._exit(3)

signal.signal(signal.SIGTERM, fallback)
try:
    with stop_signals_as_interrupts():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises in this frame, long before the sleep ends
    print("NOT RAISED")
except Terminated as exc:
    print("RAISED", exc.signum == signal.SIGTERM, isinstance(exc, KeyboardInterrupt), flush=True)
print("RESTORED", signal.getsignal(signal.SIGTERM) is fallback)
done = []
worker = threading.Thread(target=lambda: done.append(stop_signals_as_interrupts().__enter__()))
worker.start()  # outside the main thread no handler can be installed: a no-op, not a crash
worker.join()
print("THREAD", len(done), signal.getsignal(signal.SIGTERM) is fallback)
"""
    done = _run_script(code, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split("\n")[:3] == ["RAISED True True", "RESTORED True", "THREAD 1 True"], done.stdout


def test_sigterm_during_a_build_is_one_line_exit_143_and_removes_staging(tmp_path):
    """The driver's unwinding removes the staging folders it made, as for Ctrl-C."""
    config = write_small_config(tmp_path, n_identities=6, subsets='["all"]')
    code = f"""
import os, signal, sys, time
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r})
from report import cli, driver, ownership

def build_then_terminated(*args, **kwargs):  # the locked part of a build, cut short by SIGTERM
    ownership.staging_dir(Path({str(tmp_path / "out")!r}), "docs")  # a staging folder in flight
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)

driver._run_locked = build_then_terminated
sys.exit(cli.main(["--config", {str(config)!r}, "--quiet"]))
"""
    done = _run_script(code, tmp_path)
    assert done.returncode == 143, done.stdout + done.stderr
    err = done.stderr.strip().splitlines()
    assert err[-1].startswith("error: stopped by SIGTERM"), done.stderr
    assert "Traceback" not in done.stderr
    assert not list((tmp_path / "out").glob(".atlas-staging-*"))


@pytest.mark.timeout(120)
def test_process_map_workers_die_with_a_killed_parent_even_inside_a_long_c_call(tmp_path):
    """analysis.blocks.process_map workers carry the lifeline from their start (loky initializer + PDEATHSIG)."""
    code = f"""
import os, sys, time
sys.path.insert(0, {str(ROOT)!r})
import numpy as np
from analysis.blocks import process_map

def busy(i, folder):
    open(os.path.join(folder, f"worker-{{os.getpid()}}"), "w").close()
    a = np.random.default_rng(i).normal(size=(1500, 1500))
    while True:
        np.linalg.svd(a)  # a C call; the watchdog thread alone would wait for the GIL

print(os.getpid(), flush=True)
process_map(busy, [(i, {str(tmp_path)!r}) for i in range(2)], 2)
"""
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)
    parent.stdout.readline()
    deadline = time.time() + 90
    while len(list(tmp_path.glob("worker-*"))) < 2 and time.time() < deadline:
        time.sleep(0.2)
    workers = [psutil.Process(int(p.name.split("-")[1])) for p in tmp_path.glob("worker-*")]
    assert len(workers) == 2
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while _alive(workers) and time.time() < deadline:
        time.sleep(0.1)
    alive = _alive(workers)
    for p in alive:
        p.kill()
    assert not alive, "process_map workers outlived their killed parent"
