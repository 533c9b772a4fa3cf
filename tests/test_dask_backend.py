"""The dask backend on a real LocalCluster (worker processes, loopback only):
the same numbers as loky, a dead worker fails only its group, and a bad
scheduler address is one line of error."""
import contextlib
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import pandas as pd
import pytest

if os.environ.get("CI"):  # CI installs the dask extra (`make test` does): a missing one is an error there
    import distributed
else:
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed (pip install -e '.[dask]'; `make test` does)"
    )
import cloudpickle  # noqa: E402  (a dependency of distributed)
import dask  # noqa: E402

from experiments import cli, dask_backend  # noqa: E402
from experiments import config as cfg  # noqa: E402
from experiments.runner import make_groups, run_sweep  # noqa: E402
from experiments.store import RunStore  # noqa: E402
from experiments.analysis.tables import TIMING_COLUMNS, build_tables  # noqa: E402
from experiments.train import run_task  # noqa: E402

# Workers import this module's functions by value: they cannot import tests/.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "name": "tiny",
    "hidden": [8, 8],
    "epochs": 2,
    "train_size": 200,
    "test_size": 100,
    "probe_size": 32,
    "activations": ["relu", "sigmoid", "tanh"],
    "inits": ["he_normal", "book"],
    "lrs": [0.1, 1.0],
    "seeds": [0, 1],
    "dtype": ["float32", "float64"],
}


@pytest.fixture(scope="module")
def scheduler():
    """The address of a 2-worker LocalCluster that gives up on a task at its
    first dead worker (allowed-failures 0), so a killing task costs one death."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address=None) as cluster:
            yield cluster.scheduler_address


def runs_csv(out):
    """runs.csv of the runs stored in ``out``, built without the plots."""
    build_tables(RunStore(out).load()[0].values()).write(out)
    return pd.read_csv(out / "runs.csv")


def test_dask_gives_the_numbers_of_one_and_two_loky_workers(scheduler, tmp_path, capsys):
    sweep = cfg.parse(TINY)
    config = tmp_path / "tiny.yaml"
    config.write_text(json.dumps(TINY))  # JSON is YAML
    out = tmp_path / "dask"
    code = cli.main(["sweep", "--config", str(config), "--out", str(out), "--no-progress",
                     "--backend", "dask", "--scheduler", scheduler])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "tiny: 48 ok, 0 diverged, 0 failed" in captured.out
    run_sweep(sweep, tmp_path / "j1", jobs=1, progress=False, report=False)
    run_sweep(sweep, tmp_path / "j2", jobs=2, progress=False, report=False)

    tables = {name: runs_csv(tmp_path / name).drop(columns=list(TIMING_COLUMNS)) for name in ("dask", "j1", "j2")}
    assert len(tables["dask"]) == 48
    pd.testing.assert_frame_equal(tables["dask"], tables["j1"], check_exact=True)
    pd.testing.assert_frame_equal(tables["j2"], tables["j1"], check_exact=True)
    # Results came back to this process's disk; BLAS ran on one thread there.
    assert {json.loads(p.read_text())["blas_threads"] for p in (out / "runs").glob("*.json")} == {1}
    manifest = (out / "manifest.yaml").read_text()
    assert "backend: dask" in manifest and scheduler in manifest


def die_in(run_id, runs):
    """Train ``runs``, except that a group holding ``run_id`` kills its worker."""
    if any(r.run_id == run_id for r in runs):
        os.kill(os.getpid(), signal.SIGKILL)
    return run_task(runs)


def test_a_dask_worker_that_dies_twice_fails_its_group_only(scheduler, tmp_path):
    sweep = cfg.parse({**TINY, "activations": ["relu", "tanh"], "inits": ["he_normal"], "dtype": "float64"})
    victim = sweep.runs()[1]
    group = {r.run_id for g in make_groups(sweep.runs()) if victim in g for r in g}
    outcome = run_sweep(sweep, tmp_path / "r", backend="dask", scheduler=scheduler, progress=False,
                        report=False, task=partial(die_in, victim.run_id))
    assert outcome.counts["failed"] == len(group) == 4  # 2 learning rates x 2 seeds stack together
    assert outcome.counts["ok"] + outcome.counts["diverged"] == len(sweep.runs()) - len(group)
    for p in (tmp_path / "r" / "runs").glob("*.json"):
        r = json.loads(p.read_text())
        assert (r["status"] == "failed") == (p.stem in group)
        if p.stem in group:
            assert "worker died" in r["error"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["--backend", "dask"], ["needs --scheduler ADDRESS", "dask scheduler"]),
        (["--scheduler", "tcp://127.0.0.1:8786"], ["--scheduler is for --backend dask"]),
        (["--backend", "dask", "--scheduler", "no-port"], ["'no-port' is not a scheduler address"]),
        (["--backend", "dask", "--scheduler", "tls://127.0.0.1:8786"], ["tcp://HOST:PORT"]),
        (["--backend", "dask", "--scheduler", "tcp://127.0.0.1:9"], ["cannot reach the Dask scheduler", "after 1 s"]),
    ],
)
def test_a_bad_scheduler_is_one_line_quickly_and_writes_nothing(tmp_path, capsys, monkeypatch, args, words):
    monkeypatch.setattr(dask_backend, "CONNECT_TIMEOUT", 1)
    out = tmp_path / "r"
    start = time.perf_counter()
    code = cli.main(["sweep", "--out", str(out), "--no-progress", "--set", "activations=relu", "--set", "seeds=0",
                     "--set", "epochs=1", *args])
    lines = [l for l in capsys.readouterr().err.splitlines() if l.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
    for w in words:
        assert w in lines[0]
    assert time.perf_counter() - start < 30
    assert not Path(out).exists()


def test_ctrl_c_on_dask_keeps_finished_runs_and_next_start_does_only_the_missing(scheduler, tmp_path):
    """Ctrl-C while futures are in flight: a KeyboardInterrupt raised inside a
    dropped future's finalizer would be lost, so the map defers it."""
    out = tmp_path / "r"
    cmd = [sys.executable, "-m", "experiments", "sweep", "--out", str(out), "--no-progress", "--backend", "dask",
           "--scheduler", scheduler, "--set", "activations=relu,tanh,sigmoid,elu", "--set", "inits=he_normal",
           "--set", "lrs=0.1", "--set", "seeds=0,1,2,3,4,5", "--set", "epochs=8", "--set", "hidden=64,64"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "runs").glob("*.json"))) < 3:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "run the same command again" in err
    done = {p.stem for p in (out / "runs").glob("*.json")}
    assert 3 <= len(done) < 24
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(done)} skipped" in proc.stdout


# ------------------------------------------- addresses that are not a scheduler


@contextlib.contextmanager
def _http_server():
    """An HTTP server, as the Dask dashboard (port 8787) is: it waits for a request."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def _listener(banner):
    """A port that accepts connections and sends ``banner`` (or nothing, and never closes)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    conns = []

    def serve():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            conns.append(conn)
            if banner:
                conn.sendall(banner)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()
        for conn in conns:
            conn.close()


SERVICES = {
    "http": (_http_server, ["sent nothing in 1 s", "HTTP port"]),
    "silent": (lambda: _listener(b""), ["sent nothing in 1 s"]),
    "banner": (lambda: _listener(b"SSH-2.0-OpenSSH_9.6\r\n"), ["answered b'SSH-2.0-'", "not a Dask handshake"]),
}


@pytest.mark.parametrize("service", list(SERVICES))
def test_an_address_that_is_not_a_scheduler_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch, service):
    # The real timeouts (10 s to connect, 10 s for the greeting) keep any address within 30 s.
    assert dask_backend.CONNECT_TIMEOUT + dask_backend.HANDSHAKE_TIMEOUT <= 30
    monkeypatch.setattr(dask_backend, "CONNECT_TIMEOUT", 1)
    monkeypatch.setattr(dask_backend, "HANDSHAKE_TIMEOUT", 1)
    serve, words = SERVICES[service]
    out = tmp_path / "r"
    with serve() as port:
        code = cli.main(["sweep", "--out", str(out), "--no-progress", "--set", "activations=relu", "--set", "seeds=0",
                         "--set", "epochs=1", "--backend", "dask", "--scheduler", f"tcp://127.0.0.1:{port}"])
    lines = [l for l in capsys.readouterr().err.splitlines() if l.strip()]
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"error: --scheduler tcp://127.0.0.1:{port} is not a Dask scheduler")
    for w in words:
        assert w in lines[0], lines[0]
    assert not out.exists()
