"""The machine, the table on the terminal, and docs/performance.md."""

import os
import platform
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.dataset import BenchData
from bench.ingest import RUNS
from bench.queries import QueryKind
from bench.stats import Figure


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool


def metrics(query_kinds: list[QueryKind]) -> list[Metric]:
    rows = [Metric(r.key, r.label, "inst/s", True) for r in RUNS]
    rows += [Metric(k.key, k.label, "ms p50 / p95", False) for k in query_kinds]
    rows += [
        Metric("metadata_series", "WADO-RS series metadata", "ms p50 / p95", False),
        Metric("wado_instance", "WADO-RS instance retrieve", "MB/s", True),
        Metric("wado_series", "WADO-RS series retrieve", "MB/s", True),
        Metric(
            "frames_latency",
            "WADO-RS frame 1 (native, as stored)",
            "ms p50 / p95",
            False,
        ),
        Metric("frames_rate", "WADO-RS frames, one client", "frames/s", True),
        Metric("rendered_latency", "Rendered frame 1 as JPEG", "ms p50 / p95", False),
        Metric("rendered_rate", "Rendered frames, one client", "frames/s", True),
        Metric(
            "viewer_first_image",
            "Viewer: first image of a 200-image CT series",
            "ms p50 / p95",
            False,
        ),
    ]
    return rows


def machine(versions: dict[str, str]) -> dict[str, str]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        cpu = match.group(1).strip() if match else cpu
    ram = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        match = re.search(r"^MemTotal:\s*(\d+) kB", meminfo.read_text(), re.M)
        ram = f"{int(match.group(1)) / 1024**2:.1f} GiB" if match else ram
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    return {
        "CPU": cpu,
        "nproc": str(os.cpu_count()),
        "RAM": ram,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        **versions,
        "Load average at start (1/5/15 min)": load,
    }


def cell(metric: Metric, figure: Figure | None) -> str:
    if figure is None or figure.value is None:
        return "n/a"
    if figure.p95 is not None:
        return f"{figure.value:.1f} / {figure.p95:.1f}"
    return f"{figure.value:.1f}"


def ratio(metric: Metric, ours: Figure | None, theirs: Figure | None) -> str:
    if not ours or not theirs or ours.value is None or not theirs.value:
        return "–"
    text = f"{ours.value / theirs.value:.2f}"
    if ours.p95 is not None and theirs.p95:
        text += f" / {ours.p95 / theirs.p95:.2f}"
    return text


def table(results: dict[str, dict[str, Figure]], rows: list[Metric]) -> list[list[str]]:
    ours, theirs = results.get("pacsweb", {}), results.get("Orthanc", {})
    out = []
    for metric in rows:
        goal = "≥ 1" if metric.higher_is_better else "≤ 1"
        out.append(
            [
                metric.label,
                metric.unit,
                cell(metric, ours.get(metric.key)),
                cell(metric, theirs.get(metric.key)),
                ratio(metric, ours.get(metric.key), theirs.get(metric.key)),
                goal,
            ]
        )
    return out


HEADER = ["Measurement", "Unit", "pacsweb", "Orthanc", "pacsweb/Orthanc", "Goal"]


def terminal(results: dict[str, dict[str, Figure]], rows: list[Metric]) -> str:
    body = [HEADER, *table(results, rows)]
    widths = [max(len(r[c]) for r in body) for c in range(len(HEADER))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True))
        for r in body
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n\n" + "\n".join(notes(results, rows))


def notes(results: dict[str, dict[str, Figure]], rows: list[Metric]) -> list[str]:
    """One line per server and reason, naming the measurements it voided."""
    labels = {m.key: m.label for m in rows}
    labels.update(server="Server start", inventory="Dataset stored (inventory)")
    grouped: dict[tuple[str, str], list[str]] = {}
    for server, figures in results.items():
        for key, figure in figures.items():
            if figure.note:
                # "server" and "inventory" carry remarks, never a value.
                remark = figure.value is not None or key in ("server", "inventory")
                kind = "note" if remark else "not measured"
                grouped.setdefault((server, f"{kind}: {figure.note}"), []).append(
                    labels.get(key, key)
                )
    return [
        f"- **{server}** — {'; '.join(names)} — {reason}"
        for (server, reason), names in grouped.items()
    ]


def dataset_lines(data: BenchData) -> list[str]:
    shape = data.shape
    instances = data.all_instances()
    modalities = Counter(se.modality for _, se in data.all_series())
    syntaxes = Counter(i.transfer_syntax_uid for _, _, i in instances)
    return [
        f"- {shape.patients} patients × {shape.studies_per_patient} studies × "
        f"{shape.series_per_study} series × {shape.instances_per_series} instances = "
        f"**{len(instances)} instances** in {len(data.studies)} studies, "
        f"{data.total_bytes / 1e6:.1f} MB (seed {shape.seed}).",
        "- Series by modality: "
        + ", ".join(f"{m} {n}" for m, n in sorted(modalities.items())),
        "- Transfer syntaxes: "
        + ", ".join(f"{t} ({n})" for t, n in sorted(syntaxes.items())),
        "- Made from pydicom's CT_small, MR_small, MR_small_jpeg_ls_lossless, "
        "examples_rgb_color (US) and SC_rgb_jpeg_dcmtk (OT) with new 2.25 UIDs, "
        "patient names in Latin script with diacritics and some in Japanese "
        "(alphabetic, ideographic and phonetic groups, ISO_IR 192), study dates "
        "over ten years, accession numbers; native images shrunk to 64×64 (CT, MR) "
        "and 60×80 RGB (US).",
    ]


def write_section(path: Path, name: str, text: str) -> None:
    """Replace this run's section of the page, keeping the other's: the
    embedded and the production-like benchmarks each own one."""
    begin, end = f"<!-- bench:{name} begin -->", f"<!-- bench:{name} end -->"
    block = f"{begin}\n{text.rstrip()}\n{end}\n"
    current = path.read_text() if path.exists() else ""
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        updated = head + block + ("\n" + tail if tail else "")
    elif current:
        updated = current.rstrip("\n") + "\n\n" + block
    else:
        updated = block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(updated)


def markdown(
    results: dict[str, dict[str, Figure]],
    rows: list[Metric],
    info: dict[str, str],
    data: BenchData,
    settings: dict[str, str],
    duration_s: float,
) -> str:
    head = "| " + " | ".join(HEADER) + " |\n|" + "---|" * len(HEADER) + "\n"
    body = "".join("| " + " | ".join(r) + " |\n" for r in table(results, rows))
    machine_lines = "\n".join(f"- {k}: {v}" for k, v in info.items())
    setting_lines = "\n".join(f"- {k}: {v}" for k, v in settings.items())
    note_lines = "\n".join(notes(results, rows)) or "- none"
    return TEMPLATE.format(
        machine=machine_lines,
        dataset="\n".join(dataset_lines(data)),
        settings=setting_lines,
        table=head + body,
        notes=note_lines,
        minutes=f"{duration_s / 60:.1f}",
    )


TEMPLATE = """\
# Performance

`make bench` measures pacsweb and Orthanc (with its DICOMweb plugin) on the
same generated dataset, on the same machine, with the same client code. This
page is written by the last full run; the figures below are real, not
targets.

## Results

Rates: higher is better, the goal is pacsweb/Orthanc ≥ 1. Latencies are
p50 / p95 in milliseconds, lower is better, the goal is ≤ 1. "n/a" means the
server could not do it, or answered wrongly; the reason is in the notes
below. Every answer is checked as it is timed (stored counts from STOW-RS and
storescu, the exact set of UIDs each search returns, retrieved instances
compared byte for byte after their file meta, frame sizes, decoded JPEG
dimensions), so a server that answers wrongly gets no figure.

{table}
### Notes and figures that could not be measured

{notes}

## Machine

{machine}

The machine is shared: other jobs ran during the benchmark, so absolute
figures vary by tens of percent between runs. Both servers run at the same
time and every step is measured on one and then on the other (alternating
which goes first), so both see the same load; the ratios are the more
stable figures.

## Dataset

{dataset}

## Method

{settings}
- Ingest: the dataset is cut into one slice per ingest row (round robin by
  study). Each slice is stored once, so the rows together leave the whole
  dataset on the server and later rows write into a fuller archive, in the
  same order on both servers. STOW-RS request bodies are built in memory
  before the clock starts; C-STORE uses dcmtk's `storescu` with one
  association per batch. After ingest, QIDO-RS must list every study with
  its number of instances.
- Searches: each kind runs over 10 different values (patients, prefixes,
  dates…) after one untimed checked pass; p50/p95 are over all timed calls.
  Study-level searches pass `limit=100` (or 50 for the paged list).
- Retrieves: one client, one request at a time. Instance retrieves ask for
  `multipart/related; type="application/dicom"; transfer-syntax=*`; frames
  ask for `application/octet-stream` with `transfer-syntax=*` on native
  images; rendered frames ask for `image/jpeg`.
- Both servers run on 127.0.0.1 on free ports with their own temporary
  storage and a fresh database. Orthanc keeps its Debian defaults (SQLite
  index, storage fsync, no compression); it refuses remote HTTP and accepts
  C-STORE only from the benchmark's AE on loopback. pacsweb runs as `make
  run` starts it: `manage.py migrate`, then gunicorn on `pacsweb.wsgi` and
  `manage.py dicom_listener`, embedded settings (SQLite, files, in-process
  tasks).
- Viewer: a separate study of 200 full-size CT_small images (128×128, new
  UIDs, its own patient ID and accession number) is stored through STOW-RS
  after all other steps. Headless Chromium (Debian's, `--disable-gpu`) signs
  in as the administrator once; each run then opens `/viewer/<study>/` in a
  new browser context (empty cache, the session cookie only) at 1280×800.
  The figure is the time from navigation start until a viewport canvas
  shows an image (1 % of its pixels, sampled every animation frame, brighter
  than 16 of 255). One untimed checked pass, then the timed runs
  (`--viewer-repeats`, 5); each run must end with the 200-image stack.
- The client runs on the same machine and competes for the same cores.
- Search values go in the URL as RFC 3986 allows: `*`, `?`, `^`, `,` and
  `-` as they are, non-ASCII as percent-encoded UTF-8. (Orthanc matches a
  percent-encoded `%2A` literally, so a client that encodes `*` finds
  nothing there.)
- C-STORE: `storescu` gets one presentation context per SOP class and
  stored transfer syntax, so every file goes as stored, and runs with
  `TCP_NODELAY=1`, as does Orthanc (both are dcmtk; without it every
  C-STORE waits about 40 ms for a delayed ACK).

## Reproduce

    make bench                              # 10,000 instances, both servers
    make bench BENCH_ARGS="--quick"         # 1,000 instances, a few minutes
    make bench BENCH_ARGS="--help"          # shape, batch size, servers, output
    make bench-production                   # PostgreSQL, Redis, 100,000 instances
    make bench-production BENCH_ARGS="--instances 5000"   # the same, small

The production-like set-up and how cost grows with the number of
instances are in their own section below, written by `make
bench-production`; each run rewrites only its own section.

The dataset is generated once into `$TMPDIR/pacsweb-bench/` and reused when
the shape matches. The last run took {minutes} minutes. Raw figures are kept
in `bench/results/` (not committed).
"""
