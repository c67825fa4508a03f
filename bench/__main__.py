"""`python -m bench`: generate the dataset, run both servers in turn,
measure them the same way, print the table and write docs/performance.md."""

import argparse
import json
import logging
import sys
import tempfile
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

from bench import ingest, queries, report, retrieve
from bench.client import NotMeasurable, storescu_config
from bench.dataset import BenchData, Shape, load_or_generate
from bench.procs import StartError
from bench.servers import REPO, Running, orthanc, pacsweb
from bench.stats import Figure, measure

logger = logging.getLogger("bench")

FULL = Shape(
    patients=250, studies_per_patient=2, series_per_study=4, instances_per_series=5
)
QUICK = Shape(
    patients=50, studies_per_patient=2, series_per_study=2, instances_per_series=5
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="about 1,000 instances")
    parser.add_argument("--patients", type=int)
    parser.add_argument("--studies-per-patient", type=int)
    parser.add_argument("--series-per-study", type=int)
    parser.add_argument("--instances-per-series", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--batch",
        type=int,
        default=20,
        help="instances per STOW-RS request / C-STORE association",
    )
    parser.add_argument(
        "--servers", default="pacsweb,orthanc", help="comma-separated: pacsweb, orthanc"
    )
    parser.add_argument(
        "--variants", type=int, default=10, help="values per search kind"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="timed passes over each search kind"
    )
    parser.add_argument(
        "--samples", type=int, default=200, help="instances per retrieve measurement"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "pacsweb-bench"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="gunicorn workers for pacsweb"
    )
    parser.add_argument(
        "--threads", type=int, default=4, help="gunicorn threads per worker"
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="pacsweb DATABASE_URL (default: SQLite in its temp dir)",
    )
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "performance.md")
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave docs/ alone"
    )
    return parser.parse_args(argv)


def shape_from(args: argparse.Namespace) -> Shape:
    base = QUICK if args.quick else FULL
    return Shape(
        patients=args.patients or base.patients,
        studies_per_patient=args.studies_per_patient or base.studies_per_patient,
        series_per_study=args.series_per_study or base.series_per_study,
        instances_per_series=args.instances_per_series or base.instances_per_series,
        seed=args.seed,
    )


def measure_server(
    running: Running, data: BenchData, args: argparse.Namespace
) -> dict[str, Figure]:
    target = running.target
    figures: dict[str, Figure] = {}

    contexts = {
        (i.sop_class_uid, i.transfer_syntax_uid) for _, _, i in data.all_instances()
    }
    config = storescu_config(data.folder, contexts)
    for run, part in zip(
        ingest.RUNS, ingest.slices(data, len(ingest.RUNS)), strict=True
    ):
        figures[run.key] = measure(
            partial(ingest.run, target, data, run, part, args.batch, config)
        )
        _progress(target.name, run.label, figures[run.key])
    _ensure_stored(running, data, figures)

    kinds = queries.build(data, args.variants)
    for kind in kinds:
        figures[kind.key] = measure(
            partial(queries.measure_kind, target, kind, args.rounds)
        )
        _progress(target.name, kind.label, figures[kind.key])

    series = retrieve.pick_series(data, 30)
    instances = retrieve.pick_instances(data, args.samples)
    native = retrieve.pick_instances(data, min(args.samples, 100), native_only=True)
    figures["metadata_series"] = measure(
        lambda: retrieve.series_metadata(target, series)
    )
    figures["wado_instance"] = measure(
        lambda: retrieve.instance_retrieve(target, data, instances)
    )
    figures["wado_series"] = measure(lambda: retrieve.series_retrieve(target, series))
    figures["frames_latency"], figures["frames_rate"] = _pair(
        lambda: retrieve.frames(target, native)
    )
    figures["rendered_latency"], figures["rendered_rate"] = _pair(
        lambda: retrieve.rendered(target, native)
    )
    for key in (
        "metadata_series",
        "wado_instance",
        "wado_series",
        "frames_rate",
        "rendered_rate",
    ):
        _progress(target.name, key, figures[key])
    return figures


def _ensure_stored(
    running: Running, data: BenchData, figures: dict[str, Figure]
) -> None:
    """The searches need the whole dataset: check it, and fill the store
    directly when the ingest services could not."""
    target = running.target
    try:
        ingest.check_inventory(target, data)
        return
    except NotMeasurable as exc:
        reason = str(exc)
    if running.direct_fill is None or not ingest.reads_available(target, data):
        figures["inventory"] = Figure.missing(reason)
        return

    print(f"[{target.name}] {reason}; filling the store directly", flush=True)
    running.direct_fill([data.path(i) for _, _, i in data.all_instances()])
    note = f"{reason}; the store was then filled directly (not through DICOMweb/DIMSE)"
    try:
        ingest.check_inventory(target, data)
    except NotMeasurable as exc:
        note += f"; after that: {exc}"
    figures["inventory"] = Figure(note=note)


def _pair(call) -> tuple[Figure, Figure]:  # type: ignore[no-untyped-def]
    try:
        return call()
    except NotMeasurable as exc:
        return Figure.missing(str(exc)), Figure.missing(str(exc))


def _progress(server: str, label: str, figure: Figure) -> None:
    if figure.value is None:
        print(f"[{server}] {label}: n/a ({figure.note})", flush=True)
    elif figure.p95 is not None:
        print(
            f"[{server}] {label}: p50 {figure.value:.1f} ms, p95 {figure.p95:.1f} ms",
            flush=True,
        )
    else:
        print(f"[{server}] {label}: {figure.value:.1f}", flush=True)


def main(argv: list[str]) -> int:
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s %(message)s"
    )
    # Refused connections while a listener starts up are expected.
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    args = parse_args(argv)
    started = time.monotonic()
    shape = shape_from(args)
    servers = [s.strip().lower() for s in args.servers.split(",") if s.strip()]

    print(
        f"dataset {shape.key()} ({shape.instances} instances) in {args.data_dir}",
        flush=True,
    )
    data = load_or_generate(args.data_dir, shape)
    results: dict[str, dict[str, Figure]] = {}
    versions: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="pacsweb-bench-run-") as work:
        for name in servers:
            starter = {
                "pacsweb": lambda: pacsweb(
                    Path(work) / "pacsweb",
                    args.workers,
                    args.threads,
                    args.database_url,
                ),
                "orthanc": lambda: orthanc(Path(work) / "orthanc"),
            }[name]
            try:
                with starter() as running:
                    versions.update(running.versions)
                    print(
                        f"[{running.target.name}] up at {running.target.dicomweb}",
                        flush=True,
                    )
                    results[running.target.name] = measure_server(running, data, args)
                    for note in running.notes:
                        results[running.target.name].setdefault(
                            "server", Figure(note=note)
                        )
            except StartError as exc:
                print(f"[{name}] did not start: {exc}", flush=True)
                results["Orthanc" if name == "orthanc" else "pacsweb"] = {
                    "server": Figure.missing(f"did not start: {exc}")
                }

    duration = time.monotonic() - started
    kinds = queries.build(data, args.variants)
    rows = report.metrics(kinds)
    print()
    print(report.terminal(results, rows))
    print(f"\nmake bench took {duration / 60:.1f} min")

    settings = {
        "STOW-RS batch / C-STORE association": f"{args.batch} instances",
        "pacsweb gunicorn": f"{args.workers} workers × {args.threads} threads",
        "pacsweb database": args.database_url or "SQLite (embedded default)",
    }
    _save_raw(results, shape, settings)
    if not args.no_write:
        info = report.machine(versions)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(
            report.markdown(results, rows, info, data, settings, duration)
        )
        print(f"wrote {args.output}")
    return 0


def _save_raw(
    results: dict[str, dict[str, Figure]], shape: Shape, settings: dict[str, str]
) -> None:
    folder = REPO / "bench" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    payload = {
        "shape": asdict(shape),
        "settings": settings,
        "results": {
            s: {k: asdict(f) for k, f in figs.items()} for s, figs in results.items()
        },
    }
    (folder / f"{stamp}.json").write_text(
        json.dumps(payload, indent=2, ensure_ascii=False)
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
