"""C-STORE keeps the data set bytes exactly as the peer sent them."""

from collections import defaultdict
from pathlib import Path

import pydicom

from apps.archive import storage
from apps.archive.models import Instance
from apps.archive.status import Status
from tests.conftest import storable_samples
from tests.dimse_support import dataset_bytes, meta_of, send_raw


def _sop_uid(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def _rounds_of_distinct_instances(paths: list[Path]) -> list[list[Path]]:
    # Several samples are one instance in different transfer syntaxes; each
    # round holds one copy of each, so every copy is stored and compared.
    copies: dict[str, list[Path]] = defaultdict(list)
    for path in paths:
        copies[_sop_uid(path)].append(path)
    depth = max(len(group) for group in copies.values())
    return [
        [group[n] for group in copies.values() if len(group) > n] for n in range(depth)
    ]


def test_it_stores_every_valid_sample_with_the_data_set_bytes_sent(
    dicom_listener, settings
):
    settings.PACSWEB_DUPLICATE_POLICY = "overwrite"
    samples = storable_samples()

    for files in _rounds_of_distinct_instances(samples):
        answers = send_raw(dicom_listener, files)

        assert answers == [(Status.SUCCESS, "")] * len(files)
        for path in files:
            instance = Instance.objects.get(sop_instance_uid=_sop_uid(path))
            stored = storage.absolute(instance.storage_path)
            assert dataset_bytes(stored) == dataset_bytes(path), path.name
            assert instance.transfer_syntax_uid == meta_of(path).TransferSyntaxUID
            assert instance.file_size == stored.stat().st_size
            assert instance.file_sha256 == storage.sha256_of(stored)
            assert meta_of(stored).SourceApplicationEntityTitle == "RAWSCU"

    assert Instance.objects.count() == len({_sop_uid(p) for p in samples})
    assert list(storage.tmp_dir().iterdir()) == []
