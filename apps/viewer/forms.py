"""The study list's search form: validates the query string at the edge."""

import re
from typing import Any

from django import forms

from apps.viewer.search import DEFAULT_SORT, SORTS, StudyFilter

# Modality (0008,0060) is a CS value: upper case letters, digits, _ and space.
_MODALITY_RE = re.compile(r"^[A-Z0-9_ ]{1,16}$")


class StudySearchForm(forms.Form):
    patient = forms.CharField(
        required=False, max_length=64, strip=True, label="Patient name or ID"
    )
    accession = forms.CharField(
        required=False, max_length=64, strip=True, label="Accession number"
    )
    date_from = forms.DateField(required=False, label="From")
    date_to = forms.DateField(required=False, label="To")
    modality = forms.CharField(required=False, max_length=16, strip=True)
    sort = forms.ChoiceField(
        required=False, choices=[(k, s.label) for k, s in SORTS.items()]
    )
    dir = forms.ChoiceField(
        required=False, choices=[("desc", "descending"), ("asc", "ascending")]
    )
    after = forms.CharField(required=False, max_length=1024)
    before = forms.CharField(required=False, max_length=1024)

    def clean_modality(self) -> str:
        value = self.cleaned_data["modality"].upper()
        if value and not _MODALITY_RE.fullmatch(value):
            raise forms.ValidationError(
                "modality must be a DICOM modality code such as CT or MR"
            )
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "the end date must not be before the start date")
        return data

    def to_filter(self, collections: list[int] | None) -> StudyFilter:
        data = self.cleaned_data
        return StudyFilter(
            patient=data["patient"],
            accession=data["accession"],
            date_from=data["date_from"].strftime("%Y%m%d") if data["date_from"] else "",
            date_to=data["date_to"].strftime("%Y%m%d") if data["date_to"] else "",
            modality=data["modality"],
            sort=data["sort"] or DEFAULT_SORT,
            descending=(data["dir"] or "desc") == "desc",
            collections=collections,
        )
