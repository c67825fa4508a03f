"""WADO-RS frames, rendered and thumbnail resources over HTTP."""

import io
import re

import numpy as np
import pytest
from django.test import RequestFactory
from PIL import Image
from pydicom.encaps import generate_frames
from pydicom.uid import generate_uid

from apps.archive import storage
from apps.archive.ingest import ingest_file
from apps.archive.models import Collection, Instance
from apps.dicomweb import rendered, retrieve_frames, thumbnails
from apps.dicomweb import tasks as dicomweb_tasks
from tests.celery_support import wait_until
from tests.personas import GUARD_QUERIES
from tests.pixel_samples import full_dataset, sample_path

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(archive_client):
    # Past the security guard (tests/test_auth_*.py covers the guard).
    return archive_client


OCTET_ELE = "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
AS_STORED = "multipart/related; type=application/octet-stream; transfer-syntax=*"
ASK_ELE = (
    "multipart/related; type=application/octet-stream; "
    "transfer-syntax=1.2.840.10008.1.2.1"
)


def store(name: str) -> Instance:
    result = ingest_file(sample_path(name))
    return Instance.objects.select_related("series__study").get(pk=result.instance_id)


def url(instance: Instance, suffix: str = "") -> str:
    series = instance.series
    return (
        f"/dicomweb/studies/{series.study.study_instance_uid}"
        f"/series/{series.series_instance_uid}"
        f"/instances/{instance.sop_instance_uid}{suffix}"
    )


def parts(response) -> list[tuple[str, bytes]]:
    """(Content-Type, body) of each part of a multipart/related response."""
    content_type = response["Content-Type"]
    assert content_type.startswith("multipart/related")
    boundary = re.search(r"boundary=([^;\s]+)", content_type).group(1).encode()
    body = b"".join(response.streaming_content)
    pieces = body.split(b"--" + boundary)
    assert pieces[-1] == b"--\r\n"
    found = []
    for piece in pieces[1:-1]:
        head, _, data = piece[2:].partition(b"\r\n\r\n")
        headers = dict(
            line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")
        )
        assert data.endswith(b"\r\n")
        found.append((headers["Content-Type"], data[:-2]))
    return found


def image(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def windowed(values: np.ndarray, center: float, width: float) -> np.ndarray:
    low, high = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
    inside = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255
    return np.where(values <= low, 0.0, np.where(values > high, 255.0, inside))


# --- Frames --------------------------------------------------------------------


def test_it_returns_a_native_frame_as_little_endian_octets(client):
    instance = store("MR_small.dcm")

    response = client.get(url(instance, "/frames/1"))

    assert response.status_code == 200
    assert 'type="application/octet-stream"' in response["Content-Type"]
    assert parts(response) == [(OCTET_ELE, full_dataset("MR_small.dcm").PixelData)]


def test_it_returns_the_frames_asked_in_their_order(client):
    instance = store("rtdose.dcm")
    data = full_dataset("rtdose.dcm").PixelData

    response = client.get(url(instance, "/frames/15,1,8"), HTTP_ACCEPT=AS_STORED)

    assert parts(response) == [
        (OCTET_ELE, data[14 * 400 : 15 * 400]),
        (OCTET_ELE, data[0:400]),
        (OCTET_ELE, data[7 * 400 : 8 * 400]),
    ]


def test_it_swaps_big_endian_frames(client):
    instance = store("MR_small_bigendian.dcm")

    response = client.get(url(instance, "/frames/1"), HTTP_ACCEPT=ASK_ELE)

    assert parts(response) == [(OCTET_ELE, full_dataset("MR_small.dcm").PixelData)]


def test_it_returns_compressed_frames_untouched_for_any_transfer_syntax(client):
    instance = store("examples_ybr_color.dcm")
    stored = list(
        generate_frames(
            full_dataset("examples_ybr_color.dcm").PixelData, number_of_frames=30
        )
    )

    response = client.get(url(instance, "/frames/30,2"), HTTP_ACCEPT=AS_STORED)

    jpeg = "image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50"
    assert parts(response) == [(jpeg, stored[29]), (jpeg, stored[1])]
    assert 'type="image/jpeg"' in response["Content-Type"]


@pytest.mark.parametrize(
    ("name", "accept", "content_type"),
    [
        (
            "examples_ybr_color.dcm",
            'multipart/related; type="image/jpeg"',
            "image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50",
        ),
        (
            "JPEG2000.dcm",
            "multipart/related; type=image/jp2; transfer-syntax=1.2.840.10008.1.2.4.91",
            "image/jp2; transfer-syntax=1.2.840.10008.1.2.4.91",
        ),
        (
            "MR_small_jpeg_ls_lossless.dcm",
            "multipart/related; type=image/jls",
            "image/jls; transfer-syntax=1.2.840.10008.1.2.4.80",
        ),
        (
            "MR_small_RLE.dcm",
            "multipart/related; type=image/dicom-rle",
            "image/dicom-rle; transfer-syntax=1.2.840.10008.1.2.5",
        ),
        (
            "JPEG2000.dcm",
            "multipart/related; type=application/octet-stream; "
            "transfer-syntax=1.2.840.10008.1.2.4.91",
            "image/jp2; transfer-syntax=1.2.840.10008.1.2.4.91",
        ),
    ],
)
def test_it_sends_compressed_frames_in_the_media_type_asked(
    client, name, accept, content_type
):
    instance = store(name)
    first = next(generate_frames(full_dataset(name).PixelData, number_of_frames=1))

    response = client.get(url(instance, "/frames/1"), HTTP_ACCEPT=accept)

    assert parts(response) == [(content_type, first)]


@pytest.mark.parametrize("accept", [ASK_ELE, None, "*/*", "multipart/related"])
def test_it_decodes_compressed_frames_when_explicit_le_is_asked(client, accept):
    instance = store("rtdose_rle.dcm")
    native = full_dataset("rtdose.dcm").PixelData
    headers = {"HTTP_ACCEPT": accept} if accept else {}

    response = client.get(url(instance, "/frames/2,15"), **headers)

    assert parts(response) == [
        (OCTET_ELE, native[400:800]),
        (OCTET_ELE, native[14 * 400 :]),
    ]


def test_it_decodes_jpeg_frames_to_rgb(client):
    instance = store("examples_ybr_color.dcm")
    expected = full_dataset("examples_ybr_color.dcm").pixel_array[4]

    response = client.get(url(instance, "/frames/5"), HTTP_ACCEPT=ASK_ELE)

    assert parts(response) == [(OCTET_ELE, expected.tobytes())]


@pytest.mark.parametrize(
    ("name", "accept"),
    [
        ("JPEG-lossy.dcm", ASK_ELE),  # the decoders refuse this file
        ("examples_ybr_color.dcm", "multipart/related; type=image/jls"),
        ("MR_small.dcm", 'multipart/related; type="image/jpeg"'),
        (
            "MR_small.dcm",
            "multipart/related; type=application/octet-stream; "
            "transfer-syntax=1.2.840.10008.1.2.4.50",
        ),
        ("MR_small.dcm", "application/dicom"),
    ],
)
def test_it_answers_406_when_the_frames_cannot_be_given_as_asked(client, name, accept):
    instance = store(name)

    response = client.get(url(instance, "/frames/1"), HTTP_ACCEPT=accept)

    assert response.status_code == 406
    assert (
        "transfer syntax" in response.json()["reason"]
        or "decod" in response.json()["reason"]
    )


@pytest.mark.parametrize(
    ("name", "frames", "status", "reason"),
    [
        ("SC_rgb_rle_2frame.dcm", "1,3", 404, "frame 3 does not exist"),
        ("rtplan.dcm", "1", 404, "no such instance with pixel data"),
        ("MR_small.dcm", "0", 400, "frame numbers start at 1"),
        ("MR_small.dcm", "1,a", 400, "frame list"),
    ],
)
def test_it_refuses_bad_frame_requests(client, name, frames, status, reason):
    instance = store(name)

    response = client.get(url(instance, f"/frames/{frames}"))

    assert response.status_code == status
    assert reason in response.json()["reason"]


def test_it_answers_404_for_an_unknown_instance_and_400_for_a_bad_uid(client):
    instance = store("MR_small.dcm")
    unknown = url(instance).rsplit("/", 1)[0] + "/1.2.3.4"

    assert client.get(unknown + "/frames/1").status_code == 404
    assert (
        client.get(unknown.replace("1.2.3.4", "1..2") + "/frames/1").status_code == 400
    )


def test_it_answers_400_for_a_malformed_accept_header(client):
    instance = store("MR_small.dcm")

    response = client.get(
        url(instance, "/frames/1"), HTTP_ACCEPT='multipart/related; type="x'
    )

    assert response.status_code == 400
    assert "Accept" in response.json()["reason"]


def test_it_hides_instances_outside_the_callers_collections():
    instance = store("MR_small.dcm")
    granted = Collection.objects.create(name="granted")
    instance.series.study.collections.add(granted)
    other = Collection.objects.create(name="other")
    path = url(instance, "/frames/1")
    keys = {
        "study": instance.series.study.study_instance_uid,
        "series": instance.series.series_instance_uid,
        "instance": instance.sop_instance_uid,
        "frame_list": "1",
    }

    outsider = RequestFactory().get(path)
    outsider.allowed_collections = [other.pk]
    member = RequestFactory().get(path)
    member.allowed_collections = [granted.pk, other.pk]

    assert retrieve_frames.frames_view(outsider, **keys).status_code == 404
    assert rendered.frames_rendered(outsider, **keys).status_code == 404
    assert retrieve_frames.frames_view(member, **keys).status_code == 200


# --- Rendered ------------------------------------------------------------------


def test_it_renders_an_instance_as_jpeg_by_default(client):
    instance = store("MR_small.dcm")
    expected = windowed(
        full_dataset("MR_small.dcm").pixel_array.astype(float), 600, 1600
    )

    response = client.get(url(instance, "/rendered"))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    got = image(response.content)
    assert got.shape == (64, 64)
    assert np.abs(got - expected).mean() < 3


def test_it_renders_png_with_the_window_asked(client):
    instance = store("CT_small.dcm")
    ds = full_dataset("CT_small.dcm")
    hounsfield = ds.pixel_array * 1.0 - 1024

    response = client.get(
        url(instance, "/rendered?window=40,400"), HTTP_ACCEPT="image/png"
    )

    assert response["Content-Type"] == "image/png"
    assert np.abs(image(response.content) - windowed(hounsfield, 40, 400)).max() <= 1


def test_it_renders_gif_when_preferred(client):
    instance = store("CT_small.dcm")

    response = client.get(
        url(instance, "/rendered"), HTTP_ACCEPT="image/jpeg;q=0.5, image/gif"
    )

    assert response["Content-Type"] == "image/gif"
    assert Image.open(io.BytesIO(response.content)).size == (128, 128)


def test_it_renders_one_frame_or_several_as_multipart(client):
    instance = store("rtdose.dcm")
    frames = full_dataset("rtdose.dcm").pixel_array.astype(float)

    single = client.get(url(instance, "/frames/8/rendered"), HTTP_ACCEPT="image/png")
    several = client.get(
        url(instance, "/frames/1,15/rendered"),
        HTTP_ACCEPT='multipart/related; type="image/png"',
    )

    def scaled(frame):
        return (frame - frame.min()) / (frame.max() - frame.min()) * 255

    assert np.abs(image(single.content) - scaled(frames[7])).max() <= 1
    got = parts(several)
    assert [content_type for content_type, _ in got] == ["image/png", "image/png"]
    assert np.abs(image(got[1][1]) - scaled(frames[14])).max() <= 1


def test_it_renders_each_instance_of_a_series(client, tmp_path):
    first = store("CT_small.dcm")
    ds = full_dataset("CT_small.dcm")
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceNumber = 2
    ds.PixelData = (ds.pixel_array[::-1]).tobytes()
    copy = tmp_path / "second.dcm"
    ds.save_as(copy)
    ingest_file(copy)
    series_url = url(first).split("/instances/")[0]

    response = client.get(
        series_url + "/rendered?viewport=64,64", HTTP_ACCEPT="image/png"
    )
    study = client.get(
        series_url.split("/series/")[0] + "/rendered", HTTP_ACCEPT="image/png"
    )

    images = [image(body) for _, body in parts(response)]
    assert [i.shape for i in images] == [(64, 64), (64, 64)]
    assert np.abs(images[0][::-1].astype(int) - images[1]).mean() < 3
    assert len(parts(study)) == 2


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("window=40", "window must be center,width"),
        ("viewport=0,0", "viewport width and height"),
        ("quality=101", "quality must be an integer from 1 to 100"),
    ],
)
def test_it_rejects_bad_rendering_parameters(client, query, reason):
    instance = store("CT_small.dcm")

    response = client.get(url(instance, f"/rendered?{query}"))

    assert response.status_code == 400
    assert reason in response.json()["reason"]


def test_it_answers_406_for_a_media_type_it_does_not_render(client):
    instance = store("CT_small.dcm")

    response = client.get(url(instance, "/rendered"), HTTP_ACCEPT="application/dicom")

    assert response.status_code == 406
    assert "image/jpeg" in response.json()["reason"]


def test_it_answers_404_for_rendering_a_missing_frame(client):
    instance = store("CT_small.dcm")

    response = client.get(url(instance, "/frames/2/rendered"))

    assert response.status_code == 404
    assert "frame 2 does not exist" in response.json()["reason"]


def test_it_refuses_to_render_a_frame_above_the_pixel_limit(client, settings):
    settings.PACSWEB_RENDER_MAX_PIXELS = 128 * 128 - 1
    instance = store("CT_small.dcm")

    response = client.get(url(instance, "/rendered"))
    frames = client.get(url(instance, "/frames/1"), HTTP_ACCEPT=AS_STORED)

    assert response.status_code == 406
    assert (
        "128x128 pixels is larger than PACSWEB_RENDER_MAX_PIXELS"
        in (response.json()["reason"])
    )
    assert frames.status_code == 200


# --- Thumbnails ----------------------------------------------------------------


def test_it_makes_instance_thumbnails_fit_the_default_size(client, settings):
    settings.PACSWEB_THUMBNAIL_SIZE = 128
    instance = store("examples_palette.dcm")

    response = client.get(url(instance, "/thumbnail"))
    sized = client.get(
        url(instance, "/frames/1/thumbnail?viewport=40,40"), HTTP_ACCEPT="image/png"
    )

    assert response["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).size == (128, 56)
    assert Image.open(io.BytesIO(sized.content)).size == (40, 18)


def test_it_caches_the_series_thumbnail_after_ingest(client, task_worker):
    # task_worker: the thumbnail task runs in a real celery worker when a
    # broker is configured, in this process otherwise.
    instance = store("CT_small.dcm")
    wait_until(lambda: any(thumbnails.cache_root().rglob("*.jpg")), timeout=60)
    cached = list(thumbnails.cache_root().rglob("*.jpg"))
    series_url = url(instance).split("/instances/")[0]

    # Replace the cached image: the view must serve the cache, not re-render.
    marker = io.BytesIO()
    Image.new("L", (8, 8), 77).save(marker, "JPEG")
    cached[0].write_bytes(marker.getvalue())
    response = client.get(series_url + "/thumbnail")
    study = client.get(series_url.split("/series/")[0] + "/thumbnail")

    assert len(cached) == 1 and f"-{instance.pk}-128.jpg" in cached[0].name
    # The store holds instance files only; the cache sits beside it.
    assert [p.suffix for p in storage.root().rglob("*") if p.is_file()] == [".dcm"]
    assert response.content == marker.getvalue()
    assert study.content == marker.getvalue()


def test_it_renders_a_missing_series_thumbnail_on_demand_and_keeps_it(client):
    instance = store("MR_small.dcm")
    series_url = url(instance).split("/instances/")[0]
    folder = thumbnails.cache_root()

    response = client.get(series_url + "/thumbnail")

    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.content)).size == (128, 128)
    (path,) = folder.rglob("*.jpg")
    assert path.read_bytes() == response.content


def test_it_renders_a_series_thumbnail_with_parameters_without_the_cache(client):
    instance = store("MR_small.dcm")
    series_url = url(instance).split("/instances/")[0]

    response = client.get(
        series_url + "/thumbnail?viewport=32,32", HTTP_ACCEPT="image/png"
    )

    assert Image.open(io.BytesIO(response.content)).size == (32, 32)
    assert not thumbnails.cache_root().exists()


def test_the_thumbnail_task_skips_a_cached_series_and_a_series_without_pixels():
    instance = store("CT_small.dcm")
    no_pixels = store("rtplan.dcm")

    assert thumbnails.make_series_thumbnail(instance.series_id) is True
    assert thumbnails.make_series_thumbnail(instance.series_id) is False
    assert thumbnails.make_series_thumbnail(no_pixels.series_id) is False


def test_it_answers_404_for_the_thumbnail_of_a_series_without_pixels(client):
    instance = store("rtplan.dcm")

    response = client.get(url(instance).split("/instances/")[0] + "/thumbnail")

    assert response.status_code == 404


def test_frames_and_rendered_cost_one_query_each(client, django_assert_num_queries):
    instance = store("rtdose.dcm")

    # Plus the security guard's constant cost (tests/personas.py).
    with django_assert_num_queries(1 + GUARD_QUERIES):
        frames = client.get(url(instance, "/frames/1,2"))
        assert len(parts(frames)) == 2
    with django_assert_num_queries(1 + GUARD_QUERIES):
        assert client.get(url(instance, "/frames/3/rendered")).status_code == 200


def test_a_failing_thumbnail_never_fails_the_ingest(
    transactional_db, monkeypatch, caplog
):
    def broken(series_id: int) -> bool:
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(thumbnails, "make_series_thumbnail", broken)
    # In this process even when a broker is configured, so that the
    # failure happens where the ingest is.
    task = dicomweb_tasks.make_series_thumbnail
    monkeypatch.setattr(task, "delay", lambda *args: task.apply(args=args))

    result = ingest_file(sample_path("CT_small.dcm"))

    assert result.outcome.value == "stored"
    assert Instance.objects.filter(pk=result.instance_id).exists()
    assert "renderer exploded" in caplog.text


@pytest.mark.parametrize(
    ("accept", "content_type", "pil_format"),
    [
        ("*/*", "image/jpeg", "JPEG"),
        ("image/*", "image/jpeg", "JPEG"),
        ("image/png, image/jpeg;q=0.9", "image/png", "PNG"),
        ('multipart/related; type="image/png"', "image/png", "PNG"),
        ("application/json, image/gif;q=0.1", "image/gif", "GIF"),
    ],
)
def test_it_picks_the_rendered_media_type_from_accept(
    client, accept, content_type, pil_format
):
    instance = store("MR_small.dcm")

    response = client.get(url(instance, "/thumbnail"), HTTP_ACCEPT=accept)

    assert response["Content-Type"] == content_type
    assert Image.open(io.BytesIO(response.content)).format == pil_format


def test_it_falls_back_to_the_next_acceptable_range(client):
    instance = store("SC_rgb_rle_2frame.dcm")
    stored = list(
        generate_frames(
            full_dataset("SC_rgb_rle_2frame.dcm").PixelData, number_of_frames=2
        )
    )
    accept = f"multipart/related; type=image/jls, {AS_STORED};q=0.5"

    response = client.get(url(instance, "/frames/2"), HTTP_ACCEPT=accept)

    assert parts(response) == [
        ("image/dicom-rle; transfer-syntax=1.2.840.10008.1.2.5", stored[1])
    ]
