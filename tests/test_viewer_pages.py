import re

import pytest
from django.contrib.auth.models import User
from django.test import RequestFactory

from apps.archive.ingest import ingest_file
from apps.archive.models import Collection, Study
from apps.viewer import views
from tests.conftest import sample
from tests.personas import grant_everything
from tests.viewer_fixtures import ingest_as_new_series, ingest_renamed

pytestmark = pytest.mark.django_db

CT_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
PASSWORD = "a-long-passphrase-42"


@pytest.fixture
def user():
    # Past the security guard: every permission and collection.
    return grant_everything(User.objects.create_user("clinician", password=PASSWORD))


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "path",
    ["/", f"/studies/{CT_STUDY}/", "/upload/", f"/viewer/{CT_STUDY}/"],
)
def test_it_requires_sign_in_for_every_page(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_it_signs_in_with_a_csrf_protected_form_and_returns_to_next(user):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    form = browser.get("/accounts/login/?next=/upload/")
    token = re.search(
        r'name="csrfmiddlewaretoken" value="([^"]+)"', form.content.decode()
    )[1]

    without_token = browser.post(
        "/accounts/login/", {"username": "clinician", "password": PASSWORD}
    )
    signed = browser.post(
        "/accounts/login/",
        {
            "username": "clinician",
            "password": PASSWORD,
            "next": "/upload/",
            "csrfmiddlewaretoken": token,
        },
    )

    assert without_token.status_code == 403
    assert signed.status_code == 302
    assert signed["Location"] == "/upload/"
    assert browser.get("/upload/").status_code == 200


def test_it_refuses_a_wrong_password_with_a_message(client, user):
    response = client.post(
        "/accounts/login/", {"username": "clinician", "password": "wrong"}
    )

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_signs_out_by_post(signed_in):
    response = signed_in.post("/accounts/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert signed_in.get("/").status_code == 302


def test_the_study_page_shows_key_attributes_and_series_thumbnails(signed_in, tmp_path):
    ingest_file(sample("CT_small.dcm"))
    second = ingest_as_new_series(tmp_path, "CT_small.dcm", 7)

    html = signed_in.get(f"/studies/{CT_STUDY}/").content.decode()

    assert "<h1>CompressedSamples, CT1</h1>" in html
    assert re.search(r"<dt>Patient ID</dt><dd>1CT1</dd>", html)
    assert re.search(r"<dt>Study date</dt><dd>2004-01-19 07:27:30</dd>", html)
    assert f'src="/dicomweb/studies/{CT_STUDY}/series/{second}/thumbnail"' in html
    assert f'href="/viewer/{CT_STUDY}/?series={second}"' in html
    assert html.count('class="thumb"') == 2
    assert re.findall(r"<span class=\"series-label\">#(\d+) CT", html) == ["1", "7"]
    assert 'href="/"' in html


def test_the_study_page_escapes_patient_data(signed_in, tmp_path):
    ingest_renamed(
        tmp_path, "CT_small.dcm", "<script>x()</script>", StudyDescription="<i>desc</i>"
    )

    html = signed_in.get(f"/studies/{CT_STUDY}/").content.decode()

    assert "<script>x()" not in html and "<i>desc" not in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html
    assert "&lt;i&gt;desc&lt;/i&gt;" in html


def test_the_study_page_answers_404_for_an_unknown_study(signed_in):
    response = signed_in.get("/studies/1.2.3.4/")

    assert response.status_code == 404


def test_a_study_outside_the_callers_collections_is_a_404_everywhere(user):
    ingest_file(sample("CT_small.dcm"))
    Study.objects.get().collections.add(Collection.objects.create(name="oncology"))
    granted = Collection.objects.create(name="cardiology")
    request = RequestFactory().get("/")
    request.user = user
    request.allowed_collections = [granted.pk]

    for view in (views.study_detail, views.viewer):
        with pytest.raises(views.Http404):
            view(request, study_uid=CT_STUDY)


def test_the_viewer_page_loads_the_bundle_with_the_study_for_it(
    signed_in, settings, tmp_path
):
    ingest_file(sample("CT_small.dcm"))
    bundle = tmp_path / "static"
    (bundle / "viewer").mkdir(parents=True)
    (bundle / "viewer" / "viewer.js").write_text("// built")
    settings.STATICFILES_DIRS = [bundle]

    html = signed_in.get(f"/viewer/{CT_STUDY}/?series=1.2.3").content.decode()

    assert f'data-study-uid="{CT_STUDY}"' in html
    assert 'data-series-uid="1.2.3"' in html
    assert 'data-dicomweb="/dicomweb"' in html
    assert '<script type="module" src="/static/viewer/viewer.js"></script>' in html
    assert f'href="/studies/{CT_STUDY}/"' in html and 'href="/"' in html


def test_the_viewer_page_says_how_to_build_a_missing_bundle(
    signed_in, settings, tmp_path
):
    ingest_file(sample("CT_small.dcm"))
    settings.STATICFILES_DIRS = [tmp_path]

    html = signed_in.get(f"/viewer/{CT_STUDY}/").content.decode()

    assert "make frontend" in html
    assert "viewer.js" not in html


def test_the_viewer_page_escapes_a_hostile_series_parameter(signed_in):
    ingest_file(sample("CT_small.dcm"))

    html = signed_in.get(
        f"/viewer/{CT_STUDY}/", {"series": '"><script>x()</script>'}
    ).content.decode()

    assert "<script>x()" not in html


def test_the_upload_page_posts_stow_with_the_csrf_token(signed_in):
    html = signed_in.get("/upload/").content.decode()

    assert 'data-stow-url="/dicomweb/studies"' in html
    token = re.search(r'data-csrf-token="([^"]+)"', html)[1]
    assert len(token) == 64
    assert 'id="pick-folder" type="file" webkitdirectory' in html
    assert '<script src="/static/pacsweb/upload.js" defer></script>' in html
