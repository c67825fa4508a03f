"""Query/Retrieve C-FIND SCP, Patient Root and Study Root (PS3.4 C.4.1)."""

from collections.abc import Iterator

from pydicom.dataset import Dataset

from apps.archive.status import QueryRetrieveStatus


def handle_find(event) -> Iterator[tuple[int, Dataset | None]]:
    yield QueryRetrieveStatus.UNABLE_TO_PROCESS, None
