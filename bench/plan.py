"""What is measured, in order, as steps that take one running server.

Both servers run at once and every step is measured on one, then on the
other (alternating who goes first): on a shared machine the load drifts
over minutes, and interleaving lets both servers see the same drift.
"""

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench import ingest, queries, retrieve, viewer
from bench.client import NotMeasurable, storescu_config
from bench.dataset import BenchData, InstanceEntry, viewer_study
from bench.servers import Running
from bench.stats import Figure


@dataclass(frozen=True)
class Step:
    keys: tuple[str, ...]
    label: str
    run: Callable[[Running], tuple[Figure, ...]]


def steps(data: BenchData, args: argparse.Namespace) -> list[Step]:
    contexts = {
        (i.sop_class_uid, i.transfer_syntax_uid) for _, _, i in data.all_instances()
    }
    config = storescu_config(data.folder, contexts)
    parts = ingest.slices(data, len(ingest.RUNS))
    plan = [
        Step(
            (run.key,),
            run.label,
            _one(
                partial(
                    ingest_figure,
                    data=data,
                    run=run,
                    part=part,
                    batch=args.batch,
                    config=config,
                )
            ),
        )
        for run, part in zip(ingest.RUNS, parts, strict=True)
    ]
    plan.append(
        Step(("inventory",), "Dataset stored", partial(_ensure_stored, data=data))
    )
    plan += [
        Step(
            (kind.key,),
            kind.label,
            _one(partial(search_figure, kind=kind, rounds=args.rounds)),
        )
        for kind in queries.build(data, args.variants)
    ]

    series = retrieve.pick_series(data, 30)
    instances = retrieve.pick_instances(data, args.samples)
    native = retrieve.pick_instances(data, min(args.samples, 100), native_only=True)
    plan += [
        Step(
            ("metadata_series",),
            "WADO-RS series metadata",
            _one(lambda r: retrieve.series_metadata(r.target, series)),
        ),
        Step(
            ("wado_instance",),
            "WADO-RS instance retrieve",
            _one(lambda r: retrieve.instance_retrieve(r.target, data, instances)),
        ),
        Step(
            ("wado_series",),
            "WADO-RS series retrieve",
            _one(lambda r: retrieve.series_retrieve(r.target, series)),
        ),
        Step(
            ("frames_latency", "frames_rate"),
            "WADO-RS frames",
            _two(lambda r: retrieve.frames(r.target, native)),
        ),
        Step(
            ("rendered_latency", "rendered_rate"),
            "Rendered frames",
            _two(lambda r: retrieve.rendered(r.target, native)),
        ),
    ]
    # Last, so that its study never adds to the searches' answers.
    ct = viewer_study(args.data_dir, VIEWER_IMAGES, args.seed)
    plan.append(
        Step(
            ("viewer_first_image",),
            f"Viewer time to first image, {VIEWER_IMAGES}-image CT",
            _one(partial(_first_image, study=ct, repeats=args.viewer_repeats)),
        )
    )
    return plan


VIEWER_IMAGES = 200
NO_VIEWER = (
    "no comparable built-in viewer here (Orthanc Explorer only previews single"
    " instances; no Stone or OHIF plugin is installed)"
)


def _first_image(running: Running, *, study: BenchData, repeats: int) -> Figure:
    if running.viewer is None:
        return Figure.missing(NO_VIEWER)
    viewer.store(running.target, study)
    return viewer.time_to_first_image(running.viewer, study, repeats)


def ingest_figure(
    running: Running,
    *,
    data: BenchData,
    run: ingest.IngestRun,
    part: list[InstanceEntry],
    batch: int,
    config: Path,
) -> Figure:
    return ingest.run(running.target, data, run, part, batch, config)


def search_figure(running: Running, *, kind: queries.QueryKind, rounds: int) -> Figure:
    return queries.measure_kind(running.target, kind, rounds)


def _one(call: Callable[[Running], Figure]) -> Callable[[Running], tuple[Figure, ...]]:
    def step(running: Running) -> tuple[Figure, ...]:
        try:
            return (call(running),)
        except NotMeasurable as exc:
            return (Figure.missing(str(exc)),)

    return step


def _two(
    call: Callable[[Running], tuple[Figure, Figure]],
) -> Callable[[Running], tuple[Figure, ...]]:
    def step(running: Running) -> tuple[Figure, ...]:
        try:
            return call(running)
        except NotMeasurable as exc:
            return Figure.missing(str(exc)), Figure.missing(str(exc))

    return step


def _ensure_stored(running: Running, data: BenchData) -> tuple[Figure, ...]:
    """The searches need the whole dataset: check it, and fill the store
    directly when the ingest services could not (and something can read)."""
    target = running.target
    try:
        ingest.check_inventory(target, data)
        return (Figure(note=""),)
    except NotMeasurable as exc:
        reason = str(exc)
    if running.direct_fill is None or not ingest.reads_available(target, data):
        return (Figure(note=reason),)

    print(f"[{target.name}] {reason}; filling the store directly", flush=True)
    running.direct_fill([data.path(i) for _, _, i in data.all_instances()])
    note = f"{reason}; the store was then filled directly (not through DICOMweb/DIMSE)"
    try:
        ingest.check_inventory(target, data)
    except NotMeasurable as exc:
        note += f"; after that: {exc}"
    return (Figure(note=note),)
