"""`make bench-production`: pacsweb as docs/deployment.md runs it
(PostgreSQL, a Redis broker and a `celery worker`, gunicorn with several
workers, the DICOM listener) beside Orthanc with its index in PostgreSQL,
measured as the archive grows to --instances.

The dataset is loaded in stages, one per checkpoint (10 %, 50 % and 100 %
of the instances unless --checkpoints says otherwise). Each stage first
bulk-loads most of its studies (many parallel STOW-RS clients, many
instances per request: the fastest honest path, the same on both servers),
then measures the ingest rows on the last studies of the stage (so the
archive is close to the checkpoint's size), waits for pacsweb's task queue
to drain, checks the inventory and times the same searches as the embedded
benchmark over the studies loaded so far.
"""

import argparse
import logging
import os
import signal
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import psycopg
import redis

from bench import ingest, queries, report, services
from bench.client import NotMeasurable, multipart_body, storescu_config, stow
from bench.dataset import BenchData, InstanceEntry, load_or_generate
from bench.plan import ingest_figure, search_figure
from bench.procs import StartError
from bench.production_report import Results, write
from bench.servers import (
    CELERY_QUEUES,
    OrthancIndex,
    Production,
    Running,
    orthanc,
    pacsweb,
)
from bench.stages import Stage, checkpoints, production_shape, stages
from bench.stats import Figure

logger = logging.getLogger(__name__)

DRAIN_TIMEOUT_SECONDS = 1800
BULK_ATTEMPTS = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("--profile production")
    group.add_argument(
        "--instances", type=int, default=100_000, help="instances at the end"
    )
    group.add_argument(
        "--checkpoints",
        default="",
        help="comma-separated instance counts to measure at "
        "(default: 10 %%, 50 %% and 100 %% of --instances)",
    )
    group.add_argument(
        "--rate-sample",
        type=int,
        default=1000,
        help="instances per timed ingest row at each checkpoint",
    )
    group.add_argument(
        "--bulk-clients", type=int, default=6, help="parallel STOW-RS bulk clients"
    )
    group.add_argument(
        "--bulk-batch", type=int, default=100, help="instances per bulk request"
    )
    group.add_argument(
        "--pg-admin-url",
        default=services.DEFAULT_ADMIN_URL,
        help="a PostgreSQL role that may create databases; the benchmark "
        "creates pacsweb_bench_* databases there and drops them at the end",
    )
    group.add_argument("--celery-concurrency", type=int, default=2)
    group.add_argument(
        "--stop-after",
        type=float,
        default=0,
        help="minutes; then stop and report the checkpoints reached (0: never)",
    )
    # Debian's default. With 4, Orthanc 1.10.1 and plugin 4.0 lost instances
    # from concurrent STOW-RS requests ("could not serialize access due to
    # concurrent update") even after the plugin's retries.
    group.add_argument(
        "--orthanc-index-connections",
        type=int,
        default=1,
        help="the PostgreSQL plugin's IndexConnectionsCount",
    )


class OutOfTime(Exception):
    """--stop-after passed: the run ends and reports the stages it finished."""


def bulk_load(
    running: Running,
    data: BenchData,
    instances: list[InstanceEntry],
    clients: int,
    batch: int,
    deadline: float | None = None,
) -> Figure:
    """Many instances per STOW-RS request from many clients. Unlike the
    timed ingest rows, each client reads its files while the clock runs
    (100,000 request bodies do not fit in memory)."""
    if not instances:
        return Figure.missing("nothing to bulk-load in this stage")

    failures: list[str] = []

    def send(group: list[InstanceEntry]) -> None:
        # A request that fails is sent again (both servers keep an instance
        # they already hold once): the later stages need the whole stage
        # stored. Every failure is reported with the figure.
        body, content_type = multipart_body([data.path(i).read_bytes() for i in group])
        for attempt in range(BULK_ATTEMPTS):
            if deadline is not None and time.monotonic() > deadline:
                raise OutOfTime
            try:
                stow(running.target, body, content_type, len(group))
                return
            except NotMeasurable as exc:
                failures.append(str(exc))
                if attempt == BULK_ATTEMPTS - 1:
                    raise

    start = time.perf_counter()
    pool = ThreadPoolExecutor(clients)
    try:
        list(pool.map(send, ingest.batches(instances, batch)))
    except NotMeasurable as exc:
        return Figure.missing(f"{exc} ({BULK_ATTEMPTS} attempts)")
    finally:
        # On a failure or Ctrl-C the requests not yet sent are dropped,
        # not sent one by one before the servers can be stopped.
        pool.shutdown(wait=True, cancel_futures=True)
    elapsed = time.perf_counter() - start
    note = ""
    if failures:
        note = (
            f"{len(failures)} requests failed and were sent again, e.g. {failures[0]}"
        )
    return Figure(len(instances) / elapsed, samples=len(instances), note=note)


def task_backlog(broker_url: str) -> int:
    """Messages waiting in pacsweb's queues, and delivered but not yet
    acknowledged (kombu's Redis transport keeps those in `unacked`)."""
    client = redis.Redis.from_url(broker_url)
    try:
        waiting = 0
        for queue in CELERY_QUEUES.split(","):
            # Priorities other than the default live in "<queue>\x06\x16<n>".
            for key in client.scan_iter(match=f"{queue}*", count=100):
                if client.type(key) == b"list":
                    waiting += int(client.llen(key))
        return waiting + int(client.hlen("unacked"))
    finally:
        client.close()


def drain(broker_url: str, timeout: float = DRAIN_TIMEOUT_SECONDS) -> Figure:
    """Wait until the worker has done every task the ingest enqueued, so
    the searches are timed on a quiet machine for both servers."""
    start = time.perf_counter()
    deadline = time.monotonic() + timeout
    while (left := task_backlog(broker_url)) > 0:
        if time.monotonic() > deadline:
            return Figure(
                time.perf_counter() - start,
                note=f"{left} tasks still queued after {timeout:.0f} s",
            )
        time.sleep(0.5)
    return Figure(time.perf_counter() - start)


def database_megabytes(admin_url: str, name: str) -> Figure:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT pg_database_size(%s)", (name,)).fetchone()
    return Figure(int(row[0]) / 1e6 if row else None)


Call = Callable[[Running], Figure]


@dataclass
class Started:
    running: Running
    database: str  # its scratch database
    broker_url: str = ""


class Stepper:
    """Runs each step on every server, alternating who goes first (as the
    embedded benchmark does), and files the figures under the checkpoint."""

    def __init__(
        self, started: list[Started], results: Results, deadline: float | None
    ) -> None:
        self.started = started
        self.results = results
        self.deadline = deadline
        self.turn = 0

    def each(self, size: int, label: str, key: str, call: Call) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise OutOfTime
        order = self.started if self.turn % 2 == 0 else self.started[::-1]
        self.turn += 1
        for server in order:
            name = server.running.target.name
            try:
                figure = call(server.running)
            except NotMeasurable as exc:
                figure = Figure.missing(str(exc))
            self.record(name, size, key, figure, label)

    def record(
        self, name: str, size: int, key: str, figure: Figure, label: str
    ) -> None:
        self.results.setdefault(name, {}).setdefault(size, {})[key] = figure
        _progress(name, size, label, figure)


def main(args: argparse.Namespace) -> int:
    started_at = time.monotonic()
    shape = production_shape(args)
    names = [s.strip().lower() for s in args.servers.split(",") if s.strip()]
    print(
        f"dataset {shape.key()} ({shape.instances} instances) in {args.data_dir}",
        flush=True,
    )
    data = load_or_generate(args.data_dir, shape)
    plan = stages(
        data, checkpoints(shape.instances, args.checkpoints), args.rate_sample
    )
    contexts = {
        (i.sop_class_uid, i.transfer_syntax_uid) for _, _, i in data.all_instances()
    }
    config = storescu_config(data.folder, contexts)

    results: Results = {}
    versions: dict[str, str] = {}
    settings = _settings(args)
    deadline = started_at + args.stop_after * 60 if args.stop_after else None
    # SIGTERM unwinds like Ctrl-C, so the servers are stopped and the
    # databases dropped.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with (
        tempfile.TemporaryDirectory(prefix="pacsweb-bench-prod-") as tmp,
        ExitStack() as stack,
    ):
        started = []
        for name in names:
            try:
                server = _start(name, Path(tmp), args, stack, versions)
            except StartError as exc:
                print(f"[{name}] did not start: {exc}", flush=True)
                continue
            target = server.running.target
            print(f"[{target.name}] up at {target.dicomweb}", flush=True)
            versions.update(server.running.versions)
            started.append(server)

        steps = Stepper(started, results, deadline)
        done: list[int] = []

        def write_figures(final: bool) -> None:
            write(
                _only(results, done),
                data,
                versions,
                settings,
                time.monotonic() - started_at,
                queries.build(data, args.variants),
                None if args.no_write else args.output,
                final=final,
            )

        for stage in plan:
            try:
                _run_stage(steps, stage, data, config, args)
            except OutOfTime:
                settings["Stopped"] = (
                    f"after {args.stop_after} minutes (--stop-after), before the "
                    f"checkpoint at {stage.size:,} instances; the figures are "
                    "those of the checkpoints it reached"
                )
                print(f"--- out of time in the stage up to {stage.size}", flush=True)
                break
            done.append(stage.size)
            # The machine is shared: say how busy it was at each checkpoint.
            loads = settings.get("Load average (1 min) at each checkpoint", "")
            now = os.getloadavg()[0]
            settings["Load average (1 min) at each checkpoint"] = (
                f"{loads}, " if loads else ""
            ) + f"{stage.size:,}: {now:.1f}"
            # After every checkpoint, so that a run cut short still leaves
            # the figures it has.
            write_figures(final=stage is plan[-1])
        if done and done[-1] != plan[-1].size:
            write_figures(final=True)
    return 0


def _settings(args: argparse.Namespace) -> dict[str, str]:
    return {
        "pacsweb gunicorn": f"{args.workers} workers × {args.threads} threads "
        "(pacsweb/gunicorn.conf.py, gthread)",
        "pacsweb Celery worker": "1 worker, prefork "
        f"--concurrency {args.celery_concurrency}, queues {CELERY_QUEUES}",
        "Orthanc PostgreSQL index": "IndexConnectionsCount "
        f"{args.orthanc_index_connections}, files on disk (EnableStorage false)",
        "Bulk load": f"{args.bulk_clients} concurrent STOW-RS clients × "
        f"{args.bulk_batch} instances per request",
        "Timed ingest rows": f"up to {args.rate_sample} instances each, "
        f"{args.batch} instances per STOW-RS request or C-STORE association",
        "Load average at start (1/5/15 min)": report.machine({})[
            "Load average at start (1/5/15 min)"
        ],
    }


def _only(results: Results, sizes: list[int]) -> Results:
    return {
        name: {size: by_size[size] for size in sizes if size in by_size}
        for name, by_size in results.items()
    }


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run_stage(
    steps: Stepper,
    stage: Stage,
    data: BenchData,
    config: Path,
    args: argparse.Namespace,
) -> None:
    size = stage.size
    print(f"--- stage up to {size} instances", flush=True)
    steps.each(
        size,
        f"bulk load, {args.bulk_clients} clients × {args.bulk_batch}",
        "ingest_bulk",
        lambda r: bulk_load(
            r, data, stage.bulk, args.bulk_clients, args.bulk_batch, steps.deadline
        ),
    )
    for run, part in stage.rates:
        steps.each(
            size,
            run.label,
            run.key,
            partial(
                ingest_figure,
                data=data,
                run=run,
                part=part,
                batch=args.batch,
                config=config,
            ),
        )
    for server in steps.started:
        if server.broker_url:
            name = server.running.target.name
            steps.record(
                name,
                size,
                "tasks_drained",
                drain(server.broker_url),
                "task queue drained",
            )

    loaded = BenchData(data.folder, data.shape, stage.loaded)
    steps.each(size, "inventory", "inventory", partial(_inventory, loaded=loaded))
    for server in steps.started:
        name = server.running.target.name
        figure = database_megabytes(args.pg_admin_url, server.database)
        steps.record(name, size, "database_mb", figure, "database size, MB")
    for kind in queries.build(loaded, args.variants):
        steps.each(
            size,
            kind.label,
            kind.key,
            partial(search_figure, kind=kind, rounds=args.rounds),
        )


def _inventory(running: Running, *, loaded: BenchData) -> Figure:
    ingest.check_inventory(running.target, loaded)
    return Figure(note="")


def _progress(server: str, size: int, label: str, figure: Figure) -> None:
    where = f"[{server} @ {size}]"
    if figure.value is None:
        print(f"{where} {label}: {figure.note or 'ok'}", flush=True)
    elif figure.p95 is not None:
        print(
            f"{where} {label}: p50 {figure.value:.1f} ms, p95 {figure.p95:.1f} ms",
            flush=True,
        )
    else:
        print(f"{where} {label}: {figure.value:.1f} {figure.note}".rstrip(), flush=True)


def _start(
    name: str,
    work: Path,
    args: argparse.Namespace,
    stack: ExitStack,
    versions: dict[str, str],
) -> Started:
    """Start one server with its own database (and pacsweb's broker); the
    stack stops it, then drops the database."""
    database = services.database_name(name)
    scratch = stack.enter_context(
        services.scratch_database(args.pg_admin_url, database)
    )
    versions["PostgreSQL"] = scratch.version
    if name == "pacsweb":
        broker = stack.enter_context(services.own_redis(work / "redis"))
        versions["Redis"] = broker.version
        running = stack.enter_context(
            pacsweb(
                work / "pacsweb",
                args.workers,
                args.threads,
                checkout=args.pacsweb_dir,
                production=Production(scratch.url, broker.url, args.celery_concurrency),
            )
        )
        return Started(running, database, broker.url)
    if name == "orthanc":
        index = OrthancIndex(scratch.url, args.orthanc_index_connections)
        return Started(stack.enter_context(orthanc(work / "orthanc", index)), database)
    raise SystemExit(f"unknown server {name!r}: use pacsweb and/or orthanc")
