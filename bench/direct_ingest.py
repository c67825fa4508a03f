"""Store files straight through apps.archive.ingest.ingest_file.

Only a fallback of the benchmark: when pacsweb's STOW-RS and C-STORE are
not there yet, searches and retrieves are still measured on a full store.
Run as `python -m bench.direct_ingest LIST` with the server's environment.
"""

import sys
from pathlib import Path

import django


def main(listing: Path) -> int:
    django.setup()
    from apps.archive.ingest import ingest_file

    for line in listing.read_text().splitlines():
        if line:
            ingest_file(Path(line))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
