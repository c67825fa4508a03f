"""`python -m bench`: generate the dataset, start both servers, measure
them the same way step by step, print the table and write
docs/performance.md."""

import argparse
import json
import logging
import sys
import tempfile
import time
from contextlib import AbstractContextManager, ExitStack
from dataclasses import asdict
from pathlib import Path

from bench import plan, production, queries, report
from bench.dataset import Shape, load_or_generate
from bench.procs import StartError
from bench.servers import REPO, Running, orthanc, pacsweb
from bench.stats import Figure

logger = logging.getLogger("bench")

FULL = Shape(
    patients=250, studies_per_patient=2, series_per_study=4, instances_per_series=5
)
QUICK = Shape(
    patients=50, studies_per_patient=2, series_per_study=2, instances_per_series=5
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument(
        "--profile",
        choices=("embedded", "production"),
        default="embedded",
        help="embedded: `make run`'s set-up (SQLite, in-process tasks); "
        "production: PostgreSQL, Redis, a Celery worker, several gunicorn "
        "workers, measured as the archive grows (`make bench-production`)",
    )
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
        "--viewer-repeats",
        type=int,
        default=5,
        help="cold page loads timed for the viewer's time to first image",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "pacsweb-bench"
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="gunicorn workers for pacsweb (embedded 2, production 4)",
    )
    parser.add_argument(
        "--threads", type=int, default=4, help="gunicorn threads per worker"
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="pacsweb DATABASE_URL (default: SQLite in its temp dir)",
    )
    parser.add_argument(
        "--pacsweb-dir",
        type=Path,
        default=REPO,
        help="the pacsweb checkout to start (default: this one)",
    )
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "performance.md")
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave docs/ alone"
    )
    production.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.workers is None:
        args.workers = 4 if args.profile == "production" else 2
    return args


def shape_from(args: argparse.Namespace) -> Shape:
    base = QUICK if args.quick else FULL
    return Shape(
        patients=args.patients or base.patients,
        studies_per_patient=args.studies_per_patient or base.studies_per_patient,
        series_per_study=args.series_per_study or base.series_per_study,
        instances_per_series=args.instances_per_series or base.instances_per_series,
        seed=args.seed,
    )


def _progress(server: str, label: str, figure: Figure) -> None:
    if figure.value is None and not figure.note:
        print(f"[{server}] {label}: ok", flush=True)
    elif figure.value is None:
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
    if args.profile == "production":
        try:
            return production.main(args)
        except KeyboardInterrupt:
            print("interrupted: servers stopped, databases dropped", flush=True)
            return 130
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
    with (
        tempfile.TemporaryDirectory(prefix="pacsweb-bench-run-") as work,
        ExitStack() as stack,
    ):
        running = []
        for name in servers:
            try:
                server = stack.enter_context(_start(name, Path(work), args))
            except StartError as exc:
                print(f"[{name}] did not start: {exc}", flush=True)
                results[_display_name(name)] = {
                    "server": Figure.missing(f"did not start: {exc}")
                }
                continue
            print(f"[{server.target.name}] up at {server.target.dicomweb}", flush=True)
            versions.update(server.versions)
            remarks = "; ".join(server.notes)
            results[server.target.name] = (
                {"server": Figure(note=remarks)} if remarks else {}
            )
            running.append(server)

        for n, step in enumerate(plan.steps(data, args)):
            # Alternate who goes first, so neither always meets a warmer or
            # a busier machine.
            order = running if n % 2 == 0 else running[::-1]
            for server in order:
                figures = step.run(server)
                for key, figure in zip(step.keys, figures, strict=True):
                    results[server.target.name][key] = figure
                _progress(server.target.name, step.label, figures[-1])

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
        report.write_section(
            args.output,
            "embedded",
            report.markdown(results, rows, info, data, settings, duration),
        )
        print(f"wrote {args.output}")
    return 0


def _start(
    name: str, work: Path, args: argparse.Namespace
) -> AbstractContextManager[Running]:
    if name == "pacsweb":
        return pacsweb(
            work / "pacsweb",
            args.workers,
            args.threads,
            args.database_url,
            args.pacsweb_dir,
        )
    if name == "orthanc":
        return orthanc(work / "orthanc")
    raise SystemExit(f"unknown server {name!r}: use pacsweb and/or orthanc")


def _display_name(name: str) -> str:
    return "Orthanc" if name == "orthanc" else name


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
