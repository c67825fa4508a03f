import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.archive.models import Instance
from tests.conftest import sample

pytestmark = pytest.mark.django_db

CT_SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
MR_SOP = "1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457"


def _folder(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    root = tmp_path / "import"
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            shutil.copyfile(sample(content), target)
    return root


def _run(*args: str) -> str:
    out = StringIO()
    call_command("import_dicom", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_stores_the_dicom_files_of_a_folder_tree_and_skips_the_rest(tmp_path):
    root = _folder(
        tmp_path,
        {
            "a/ct.dcm": "CT_small.dcm",
            "a/b/mr.dcm": "MR_small.dcm",
            "a/b/mr-big-endian.dcm": "MR_small_bigendian.dcm",
            "notes.txt": b"not an image\n",
            "a/empty": b"",
        },
    )

    output = _run(str(root))

    assert "2 stored, 0 replaced, 1 duplicates, 2 skipped, 0 failed" in output
    assert f"skipped {root / 'notes.txt'}: not a DICOM file" in output
    assert f"skipped {root / 'a' / 'empty'}: not a DICOM file" in output
    assert "\n\n" not in output  # one line per note, no blank lines between
    assert sorted(
        Instance.objects.values_list("sop_instance_uid", flat=True)
    ) == sorted([CT_SOP, MR_SOP])


def test_it_names_each_failed_file_with_its_reason_and_exits_non_zero(tmp_path):
    root = _folder(
        tmp_path,
        {
            "ct.dcm": "CT_small.dcm",
            "truncated.dcm": "MR_truncated.dcm",
            "no-study.dcm": "JPEGLSNearLossless_08.dcm",
        },
    )
    out = StringIO()

    with pytest.raises(CommandError, match="2 file"):
        call_command("import_dicom", str(root), stdout=out, stderr=StringIO())

    output = out.getvalue()
    assert "1 stored, 0 replaced, 0 duplicates, 0 skipped, 2 failed" in output
    assert f"failed {root / 'no-study.dcm'}: StudyInstanceUID is missing" in output
    assert (
        f"failed {root / 'truncated.dcm'}: pixel data is truncated: 8192 bytes declared, 8130 present"
        in output
    )
    assert list(Instance.objects.values_list("sop_instance_uid", flat=True)) == [CT_SOP]


def test_it_leaves_the_imported_files_in_place(tmp_path):
    root = _folder(tmp_path, {"ct.dcm": "CT_small.dcm"})

    _run(str(root / "ct.dcm"))

    assert (root / "ct.dcm").read_bytes() == sample("CT_small.dcm").read_bytes()


def test_it_refuses_a_path_that_does_not_exist(tmp_path):
    with pytest.raises(CommandError, match="no such file or folder"):
        _run(str(tmp_path / "nowhere"))
