"""The production-like run's tables: both servers side by side at the
largest size, and every figure at each checkpoint, so the page shows how
cost grows with the number of instances."""

import json
import time
from dataclasses import asdict
from pathlib import Path

from bench import report
from bench.dataset import BenchData
from bench.ingest import RUNS
from bench.queries import QueryKind
from bench.report import Metric
from bench.servers import REPO
from bench.stats import Figure

# server -> instances stored when measured -> measurement key -> figure
Results = dict[str, dict[int, dict[str, Figure]]]
SECTION = "production"
RUN_STAMP = time.strftime("%Y%m%d-%H%M%S")
SERVERS = ("pacsweb", "Orthanc")


def metrics(kinds: list[QueryKind], bulk_label: str) -> list[Metric]:
    rows = [Metric("ingest_bulk", bulk_label, "inst/s", True)]
    rows += [Metric(r.key, r.label, "inst/s", True) for r in RUNS]
    rows += [
        Metric(
            "tasks_drained",
            "Celery queue drained after the stage's ingest",
            "s",
            False,
        ),
        Metric("database_mb", "PostgreSQL database size", "MB", False),
    ]
    rows += [Metric(k.key, k.label, "ms p50 / p95", False) for k in kinds]
    return rows


def sizes(results: Results) -> list[int]:
    return sorted({size for by_size in results.values() for size in by_size})


def at_size(results: Results, size: int) -> dict[str, dict[str, Figure]]:
    return {name: by_size.get(size, {}) for name, by_size in results.items()}


def growth_table(results: Results, rows: list[Metric]) -> list[list[str]]:
    """One row per measurement and server: its figure at each checkpoint,
    and the last over the first (how much dearer it got)."""
    columns = sizes(results)
    out = []
    for metric in rows:
        for server in SERVERS:
            by_size = results.get(server)
            if by_size is None:
                continue
            figures = [by_size.get(size, {}).get(metric.key) for size in columns]
            if all(f is None or f.value is None for f in figures):
                continue
            cells = [report.cell(metric, f) for f in figures]
            out.append(
                [
                    metric.label,
                    metric.unit,
                    server,
                    *cells,
                    report.ratio(metric, figures[-1], figures[0]),
                ]
            )
    return out


def growth_header(results: Results) -> list[str]:
    return [
        "Measurement",
        "Unit",
        "Server",
        *(f"{size:,}" for size in sizes(results)),
        "last / first",
    ]


def notes(results: Results, rows: list[Metric]) -> list[str]:
    lines = []
    for size in sizes(results):
        for line in report.notes(at_size(results, size), rows):
            lines.append(line.replace("- ", f"- at {size:,}: ", 1))
    return lines


def _stored_line(data: BenchData, size: int) -> str:
    studies = count = 0
    for study in data.studies:
        if count >= size:
            break
        count += study.instance_count
        studies += 1
    if count >= data.shape.instances:
        return "- All of it was stored by the end of the run."
    return (
        f"- The run stored its first {count:,} instances ({studies:,} studies); "
        "the searches only expect those."
    )


def _markdown_table(header: list[str], body: list[list[str]]) -> str:
    head = "| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
    return head + "".join("| " + " | ".join(r) + " |\n" for r in body)


def _terminal_table(header: list[str], body: list[list[str]]) -> str:
    every = [header, *body]
    widths = [max(len(r[c]) for r in every) for c in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True))
        for r in every
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(
    results: Results,
    rows: list[Metric],
    info: dict[str, str],
    data: BenchData,
    settings: dict[str, str],
    duration_s: float,
) -> str:
    largest = sizes(results)[-1] if sizes(results) else 0
    side_by_side = report.table(at_size(results, largest), rows)
    return TEMPLATE.format(
        largest=f"{largest:,}",
        side_by_side=_markdown_table(report.HEADER, side_by_side),
        growth=_markdown_table(growth_header(results), growth_table(results, rows)),
        notes="\n".join(notes(results, rows)) or "- none",
        machine="\n".join(f"- {k}: {v}" for k, v in info.items()),
        dataset="\n".join([*report.dataset_lines(data), _stored_line(data, largest)]),
        settings="\n".join(f"- {k}: {v}" for k, v in settings.items()),
        minutes=f"{duration_s / 60:.1f}",
    )


def write(
    results: Results,
    data: BenchData,
    versions: dict[str, str],
    settings: dict[str, str],
    duration_s: float,
    kinds: list[QueryKind],
    output: Path | None,
    final: bool = True,
) -> None:
    """Print the tables (at the end) and write the page's section and the
    raw figures (after every checkpoint, each time replacing the last)."""
    rows = metrics(kinds, "Bulk load, " + settings.get("Bulk load", "STOW-RS"))
    largest = sizes(results)[-1] if sizes(results) else 0
    _save_raw(results, data, settings)
    if output is not None:
        info = report.machine(versions)
        # The load average that matters is the one when the run started.
        info.pop("Load average at start (1/5/15 min)", None)
        text = markdown(results, rows, info, data, settings, duration_s)
        report.write_section(output, SECTION, text)
        print(f"wrote the production section of {output}", flush=True)
    if not final:
        return

    print()
    print(f"At {largest:,} instances:")
    print(_terminal_table(report.HEADER, report.table(at_size(results, largest), rows)))
    print("\nAs the archive grows:")
    print(_terminal_table(growth_header(results), growth_table(results, rows)))
    print("\n" + "\n".join(notes(results, rows)))
    print(f"\nmake bench-production took {duration_s / 60:.1f} min")


def _save_raw(results: Results, data: BenchData, settings: dict[str, str]) -> None:
    folder = REPO / "bench" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "profile": "production",
        "shape": asdict(data.shape),
        "settings": settings,
        "results": {
            server: {
                str(size): {k: asdict(f) for k, f in figures.items()}
                for size, figures in by_size.items()
            }
            for server, by_size in results.items()
        },
    }
    # One file per run (its start), rewritten after every checkpoint.
    (folder / f"production-{RUN_STAMP}.json").write_text(
        json.dumps(payload, indent=2, ensure_ascii=False)
    )


TEMPLATE = """\
## Production-like set-up, up to {largest} instances

`make bench-production` runs pacsweb as docs/deployment.md deploys it and
Orthanc with its index in PostgreSQL, on the same data, and measures both
at several sizes as the archive grows. Same rules as above: every answer
is checked as it is timed, "n/a" has its reason in the notes, rates are
higher-is-better and latencies lower-is-better.

### At {largest} instances

{side_by_side}
### As the archive grows

Each column is the number of instances stored when the row was measured.
Ingest rows are timed on the last studies of each stage, so they write
into an archive just below that size. "last / first" divides the figure
at the largest size by the one at the smallest: above 1 a latency (or a
size) grew, below 1 a rate fell.

{growth}
### Notes and figures that could not be measured

{notes}

### How it ran

{settings}
- pacsweb: `manage.py migrate`, `manage.py remote_ae add` for the
  benchmark's SCU (production refuses unknown calling AEs),
  `manage.py collectstatic`, then
  `gunicorn --config pacsweb/gunicorn.conf.py`, `manage.py dicom_listener`
  and `celery -A pacsweb worker`, with `PACSWEB_PRODUCTION=1`,
  `DATABASE_URL` on a scratch database of the machine's PostgreSQL,
  `DATABASE_CONN_MAX_AGE=60`, and `CELERY_BROKER_URL` on a redis-server
  the benchmark starts (append-only file, fsync every second). No Celery
  beat: its periodic sweeps would not run within the benchmark.
- Orthanc: the embedded benchmark's configuration plus Debian's
  orthanc-postgresql index plugin on a scratch database of the same
  PostgreSQL; files on disk, as pacsweb's.
- Loading: each stage first stores most of its studies through STOW-RS
  from many concurrent clients, many instances per request (each client
  reads its files while the clock runs), then times the ingest rows on the
  stage's last studies. Both servers get the same requests in the same
  order. pacsweb's ingest enqueues a thumbnail task per stored instance;
  before searching, the benchmark waits until the worker has emptied the
  queue (the "Celery queue drained" row; Orthanc has no such queue, hence
  its n/a), so neither server is searched while pacsweb's worker is busy.
- After each stage QIDO-RS must list every stored study with its number
  of instances; then the searches of the embedded benchmark run over the
  studies stored so far (10 values per kind, one untimed checked pass,
  then the timed passes).
- The PostgreSQL server is the machine's own (shared, default settings);
  the benchmark creates a `pacsweb_bench_*` database per server and drops
  both at the end.

### Machine

{machine}

### Dataset

{dataset}

The last production-like run took {minutes} minutes.
"""
