"""Run a sweep's tasks on a Dask cluster: ``--backend dask --scheduler ADDRESS``.

The driver (the process running ``python -m experiments sweep``) submits one
future per group of runs and writes each result to its own disk as the future
completes, so workers need the project installed but no shared results disk;
each task loads its data set itself from the run's data spec.

Tasks go to the cluster as ``distributed`` futures rather than through
joblib's dask backend: when the scheduler gives up on a task whose workers
kept dying (``KilledWorker``), joblib 1.6 sets that error on a future it never
waits on, and the sweep hangs. A future says which group was lost, so only
that group is retried (see :func:`experiments.runner.execute`).

BLAS is pinned to one thread inside each task (:func:`experiments.train.run_task`);
start workers with ``--nthreads 1`` so that tasks do not share a process.

Examples
--------
>>> with dask_map("tcp://127.0.0.1:8786") as map_unordered:  # doctest: +SKIP
...     for i, results in map_unordered(fn, {0: group_a, 1: group_b}):
...         ...
"""
from __future__ import annotations

import contextlib
import functools
import signal
import socket
import struct
import threading
from typing import Any, Callable, Iterator

from experiments.runner import MapUnordered, WorkerDied

# Seconds to wait for the scheduler to answer, and for a first worker to join it.
CONNECT_TIMEOUT = 10
WORKER_TIMEOUT = 60
# A Dask scheduler greets every connection at once with a small handshake
# message; an address that sends nothing for this long, or something else,
# is not a scheduler. With CONNECT_TIMEOUT, any wrong address is reported
# within 30 s (an HTTP port, such as the dashboard's, waits for a request).
HANDSHAKE_TIMEOUT = 10
# The handshake is a few hundred bytes: its 8-byte length prefix is far below this.
MAX_HANDSHAKE_BYTES = 1 << 20
POLL_SECONDS = 0.1  # how often the driver looks for Ctrl-C while no result arrives
START_HINT = "start one with `dask scheduler` and workers with `dask worker ADDRESS --nthreads 1`"


class BackendError(RuntimeError):
    """The cluster cannot run the sweep: the message says why and what to do."""


@contextlib.contextmanager
def dask_map(scheduler: str | None) -> Iterator[MapUnordered]:
    """Connect to the scheduler at ``scheduler``; yield ``map_unordered(fn, items)``.

    ``map_unordered`` runs ``fn(i, item)`` on the cluster for every ``i, item``
    of ``items`` and yields the return values as they complete. Items whose
    workers kept dying are held back until the others are done, then named in
    one :class:`experiments.runner.WorkerDied`.

    Raises
    ------
    BackendError
        No address, no ``distributed`` package, a scheduler that does not
        answer within :data:`CONNECT_TIMEOUT` s or has no worker after
        :data:`WORKER_TIMEOUT` s, or a task the workers cannot run.
    """
    if not scheduler:
        raise BackendError(f"--backend dask needs --scheduler ADDRESS, as in tcp://10.0.0.5:8786; {START_HINT}")
    try:
        from distributed import Client
    except ImportError:
        raise BackendError("--backend dask needs dask.distributed: pip install -e '.[dask]'") from None
    _check_address(scheduler)
    _check_scheduler(scheduler)
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise BackendError(f"cannot reach the Dask scheduler at {scheduler}: {_one_line(exc)}; {START_HINT}") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
        except TimeoutError:
            raise BackendError(
                f"the Dask scheduler at {scheduler} has no worker after {WORKER_TIMEOUT} s; "
                f"start some with `dask worker {scheduler} --nthreads 1`"
            ) from None
        yield functools.partial(_map_unordered, client)


def _check_address(scheduler: str) -> None:
    """Refuse all but tcp://HOST:PORT (or HOST:PORT) before connecting: a
    Client that fails to parse its address prints a traceback when collected."""
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    try:
        scheme, location = parse_address(scheduler)
        host, port = parse_host_port(location)
    except ValueError:
        scheme, host, port = None, None, 0
    if scheme != "tcp" or not host or not 0 < port < 65536:
        raise BackendError(f"--scheduler: {scheduler!r} is not a scheduler address; "
                           "give tcp://HOST:PORT, as `dask scheduler` prints it")


def _check_scheduler(scheduler: str) -> None:
    """Connect once and read the first 8 bytes: a Dask scheduler sends its
    handshake's length (little-endian, small) at once. Anything else (an HTTP
    server, a silent listener, a service with a banner) would make the Client
    hang for minutes or try to allocate exabytes: refuse it in one line."""
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    host, port = parse_host_port(parse_address(scheduler)[1])
    not_dask = (f"--scheduler {scheduler} is not a Dask scheduler: it {{}}; the scheduler's address is the one "
                "`dask scheduler` prints (port 8786 by default)")
    try:
        conn = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    except OSError:  # refused, unknown host, no answer: the Client says so, within CONNECT_TIMEOUT
        return
    head = b""
    with conn:
        conn.settimeout(HANDSHAKE_TIMEOUT)
        try:
            while len(head) < 8 and (chunk := conn.recv(8 - len(head))):
                head += chunk
        except socket.timeout:
            raise BackendError(not_dask.format(f"sent nothing in {HANDSHAKE_TIMEOUT} s (an HTTP port, such as the "
                                               "dashboard's, waits for a request)")) from None
        except OSError as exc:
            raise BackendError(not_dask.format(f"broke the connection ({exc.strerror or exc})")) from None
    size = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
    if not 0 < size <= MAX_HANDSHAKE_BYTES:
        raise BackendError(not_dask.format(f"answered {head!r}, not a Dask handshake"))


def _map_unordered(client: Any, fn: Callable[[int, Any], Any], items: dict[int, Any]) -> Iterator[Any]:
    from distributed import KilledWorker, as_completed

    futures = {client.submit(fn, i, item, pure=False): i for i, item in items.items()}
    completed = as_completed(list(futures), loop=client.loop)
    lost: dict[int, str] = {}
    with _ctrl_c_at_safe_points() as interrupted:
        try:
            while not completed.is_empty():
                if interrupted.is_set():
                    interrupted.raise_it()
                batch = completed.next_batch(block=False)
                if not batch:
                    interrupted.wait(POLL_SECONDS)
                for future in batch:
                    i = futures.pop(future)  # drops our reference: the cluster frees the result
                    if future.status == "finished":
                        yield future.result()
                        continue
                    exc = future.exception() if future.status == "error" else None
                    if isinstance(exc, KilledWorker) or future.status == "lost":  # lost: its result died with a worker
                        lost[i] = _one_line(exc) if exc else "its result was lost with its worker"
                        continue
                    if exc is None:  # cancelled: the scheduler went away or was restarted
                        raise BackendError("lost the Dask scheduler in the middle of the sweep; "
                                           "run the same command again")
                    raise BackendError(f"a Dask worker could not run a task ({type(exc).__name__}: {_one_line(exc)}); "
                                       "is the project installed on every worker?")
        finally:
            client.cancel(list(futures))
    if lost:
        raise WorkerDied(set(lost), next(iter(lost.values())))


@contextlib.contextmanager
def _ctrl_c_at_safe_points() -> Iterator[threading.Event]:
    """Ctrl-C sets the event instead of raising wherever the main thread is.

    Dropping a future runs its finalizer, and a KeyboardInterrupt raised in a
    finalizer is lost: the sweep would go on. The map raises it itself.
    """
    interrupted = _Interrupted()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return
    # SIGTERM too: the command line turns it into a KeyboardInterrupt as well.
    previous = {sig: signal.signal(sig, interrupted.catch) for sig in (signal.SIGINT, signal.SIGTERM)}
    interrupted.handlers = previous
    try:
        yield interrupted
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Interrupted(threading.Event):
    """Which signal came (set by the handler), raised later at a safe point
    by the handler that was there before (Ctrl-C: KeyboardInterrupt)."""

    def __init__(self) -> None:
        super().__init__()
        self.signum = signal.SIGINT
        self.handlers: dict[int, Any] = {}

    def catch(self, signum: int, frame: Any) -> None:
        self.signum = signum
        self.set()

    def raise_it(self) -> None:
        handler = self.handlers.get(self.signum)
        if callable(handler):
            handler(self.signum, None)
        raise KeyboardInterrupt


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
