import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from apps.archive.ingest import IngestError, Outcome, ingest_file

# PS3.10 7.1: a 128-byte preamble, then "DICM". A few writers omit the
# preamble and start with the File Meta group (0002,xxxx) instead.
MAGIC_OFFSET = 128
MAGIC = b"DICM"
META_GROUP = b"\x02\x00"


class Command(BaseCommand):
    help = "Store every DICOM file found under the given files and folders."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "paths", nargs="+", type=Path, help="files or folders (walked recursively)"
        )

    def handle(self, *args, paths: list[Path], **options) -> None:
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise CommandError(f"no such file or folder: {', '.join(missing)}")
        files = list(_walk(paths))

        counts: Counter[str] = Counter()
        failures: list[tuple[Path, str]] = []
        for path in tqdm(files, unit="file", disable=None):
            kind, reason = _import_one(path)
            counts[kind] += 1
            if kind == "skipped":
                # Past Django's OutputWrapper, which would end every piece
                # tqdm writes (the text, then its line end) with a newline.
                tqdm.write(f"skipped {path}: {reason}", file=self.stdout._out)
            elif kind == "failed":
                failures.append((path, reason))

        self.stdout.write(
            f"{counts['stored']} stored, {counts['replaced']} replaced, "
            f"{counts['duplicate']} duplicates, {counts['skipped']} skipped, "
            f"{counts['failed']} failed"
        )
        for path, reason in failures:
            self.stdout.write(f"failed {path}: {reason}")
        if failures:
            raise CommandError(f"{len(failures)} file(s) could not be stored")


def _walk(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_file():
            yield path
            continue
        for folder, subfolders, names in os.walk(path):
            subfolders.sort()
            for name in sorted(names):
                yield Path(folder) / name


def _import_one(path: Path) -> tuple[str, str]:
    """("stored" | "replaced" | "duplicate" | "skipped" | "failed", reason)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(MAGIC_OFFSET + len(MAGIC))
    except OSError as exc:
        return "failed", f"cannot read: {exc.strerror}"
    if head[MAGIC_OFFSET:] != MAGIC and not head.startswith(META_GROUP):
        return "skipped", "not a DICOM file"
    if path.name.upper() == "DICOMDIR":
        return "skipped", "a DICOMDIR (media index), not an instance"

    try:
        result = ingest_file(path)
    except IngestError as exc:
        return "failed", exc.reason
    except OSError as exc:
        return "failed", f"cannot read: {exc.strerror}"
    labels = {
        Outcome.STORED: "stored",
        Outcome.REPLACED: "replaced",
        Outcome.DUPLICATE: "duplicate",
    }
    return labels[result.outcome], ""
