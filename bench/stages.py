"""The stages of the production-like run: the dataset's shape for a number
of instances, the checkpoints, and which studies each stage bulk-loads and
which it stores through the timed ingest rows."""

import argparse
import math
from dataclasses import dataclass

from bench import ingest
from bench.dataset import BenchData, InstanceEntry, Shape, StudyEntry

# The embedded benchmark's proportions (2 studies of 4 series of 5
# instances per patient), scaled by the number of patients.
STUDIES_PER_PATIENT = 2
SERIES_PER_STUDY = 4
INSTANCES_PER_SERIES = 5
INSTANCES_PER_PATIENT = STUDIES_PER_PATIENT * SERIES_PER_STUDY * INSTANCES_PER_SERIES
CHECKPOINT_SHARES = (0.1, 0.5, 1.0)


def production_shape(args: argparse.Namespace) -> Shape:
    patients = args.patients or math.ceil(args.instances / INSTANCES_PER_PATIENT)
    return Shape(
        patients=patients,
        studies_per_patient=args.studies_per_patient or STUDIES_PER_PATIENT,
        series_per_study=args.series_per_study or SERIES_PER_STUDY,
        instances_per_series=args.instances_per_series or INSTANCES_PER_SERIES,
        seed=args.seed,
    )


def checkpoints(total: int, spec: str = "") -> list[int]:
    if spec:
        sizes = sorted({int(v) for v in spec.split(",") if v.strip()})
        if not sizes or sizes[0] <= 0 or sizes[-1] > total:
            raise SystemExit(
                f"--checkpoints must be instance counts between 1 and {total}"
            )
        return sizes
    return sorted({max(1, round(total * share)) for share in CHECKPOINT_SHARES})


@dataclass(frozen=True)
class Stage:
    size: int  # instances stored once the stage is done
    loaded: list[StudyEntry]  # every study stored by then
    bulk: list[InstanceEntry]
    rates: list[tuple[ingest.IngestRun, list[InstanceEntry]]]


def stages(data: BenchData, sizes: list[int], rate_sample: int) -> list[Stage]:
    """Whole studies per stage, cut at the first study boundary at or past
    each checkpoint. The timed ingest rows take the stage's last studies."""
    plan = []
    start = 0
    for size in sizes:
        end, count = start, sum(s.instance_count for s in data.studies[:start])
        while end < len(data.studies) and count < size:
            count += data.studies[end].instance_count
            end += 1
        if end == start:
            continue
        studies = data.studies[start:end]
        stage_instances = sum(s.instance_count for s in studies)
        per_row = min(rate_sample, stage_instances // (2 * len(ingest.RUNS)))

        # At least one study stays for the bulk load; a stage too small
        # for every row measures the first rows only.
        rates: list[tuple[ingest.IngestRun, list[InstanceEntry]]] = []
        tail = len(studies)
        for run in ingest.RUNS:
            part: list[InstanceEntry] = []
            while tail > 1 and (not part or len(part) < per_row):
                tail -= 1
                part = _instances(studies[tail]) + part
            if part:
                rates.append((run, part))
        bulk = [i for s in studies[:tail] for i in _instances(s)]
        plan.append(Stage(count, data.studies[:end], bulk, rates))
        start = end
    return plan


def _instances(study: StudyEntry) -> list[InstanceEntry]:
    return [i for se in study.series for i in se.instances]
