"""Search results as DICOM JSON (PS3.18 F.2), at each level.

A result is assembled from the stored attributes of its level and the
levels above (attributes_json, kept at ingest) and the attributes the
archive computes (counts, ModalitiesInStudy, RetrieveURL,
InstanceAvailability). What is returned: for QIDO-RS the default
attributes of PS3.18 Tables 10.6.3-3/-4/-5 (and of the levels above when
the URL does not fix them), plus every matching key and includefield;
for C-FIND exactly the identifier's keys. A requested attribute the
archive does not hold is returned empty, as C-FIND requires for return keys.
"""

import json
from typing import Any

from apps.archive import levels, querykeys
from apps.archive.models import Instance, Patient, Series, Study
from apps.archive.query import Query
from apps.archive.querykeys import DEFAULT_RETURN, Level

JsonDict = dict[str, Any]

# Instance attributes rendered from columns, so that instance results need
# not load the (large) instance metadata unless other attributes are asked for.
INSTANCE_COLUMN_TAGS = frozenset(
    querykeys.tag_of(k)  # type: ignore[misc]
    for k in (
        "SOPClassUID",
        "SOPInstanceUID",
        "InstanceNumber",
        "Rows",
        "Columns",
        "BitsAllocated",
        "NumberOfFrames",
        "RetrieveURL",
        "InstanceAvailability",
    )
)
_UPPER_TAGS = (
    levels.STUDY_TAGS
    | levels.SERIES_TAGS
    | {
        querykeys.MODALITIES_IN_STUDY,
        querykeys.NUMBER_OF_STUDY_RELATED_SERIES,
        querykeys.NUMBER_OF_STUDY_RELATED_INSTANCES,
        querykeys.NUMBER_OF_SERIES_RELATED_INSTANCES,
    }
)


def needs_instance_metadata(query: Query) -> bool:
    """Whether instance results must read Instance.metadata_json."""
    if query.level != Level.INSTANCE:
        return False
    if query.return_all:
        return True
    return any(
        t not in INSTANCE_COLUMN_TAGS and t not in _UPPER_TAGS
        for t in query.return_tags
    )


def wanted_defaults(query: Query) -> set[str]:
    if not query.defaults:
        return set()
    tags = set(DEFAULT_RETURN[query.level])
    # PS3.18 10.6.3.3: a search not scoped to a study returns the study's
    # attributes with each series or instance, and likewise for series.
    if query.level >= Level.SERIES and query.study_uid is None:
        tags |= set(DEFAULT_RETURN[Level.STUDY])
    if query.level == Level.INSTANCE and query.series_uid is None:
        tags |= set(DEFAULT_RETURN[Level.SERIES])
    return tags


class Renderer:
    """Renders the rows of one search; parsed parent JSON is reused across rows."""

    def __init__(self, query: Query, base_url: str | None = None) -> None:
        self.query = query
        self.base_url = base_url
        self.defaults = wanted_defaults(query)
        self._parsed: dict[tuple[str, int], JsonDict] = {}

    def render(self, row: Any) -> JsonDict:
        own, sources = self._sources(row)
        wanted = self.defaults | set(self.query.return_tags)
        if self.query.return_all:
            wanted |= {t for t in own if t != querykeys.SPECIFIC_CHARACTER_SET}

        out: JsonDict = {}
        for tag in sorted(wanted):
            for source in sources:
                if tag in source:
                    out[tag] = source[tag]
                    break
            else:
                out[tag] = {"vr": querykeys.vr_of(tag)}
        return out

    def _sources(self, row: Any) -> tuple[set[str], list[JsonDict]]:
        """The attributes of the row's own level, and all sources in order."""
        level = self.query.level
        if level == Level.PATIENT:
            own = [
                self._patient(row),
                self._json("patient", row.pk, row.attributes_json),
            ]
            return _keys(own), own
        if level == Level.STUDY:
            own = self._study(row)
            return _keys(own), own
        if level == Level.SERIES:
            own = self._series(row)
            return _keys(own), own + self._study(row.study)
        own = self._instance(row)
        return _keys(own), own + self._series(row.series) + self._study(
            row.series.study
        )

    def _json(self, kind: str, pk: int, text: str) -> JsonDict:
        key = (kind, pk)
        if key not in self._parsed:
            self._parsed[key] = json.loads(text)
        return self._parsed[key]

    def _url(self, *parts: str) -> JsonDict | None:
        if self.base_url is None:
            return None
        path = "/".join(
            f"{name}/{uid}"
            for name, uid in zip(
                ("studies", "series", "instances"), parts, strict=False
            )
        )
        return {"vr": "UR", "Value": [self.base_url + path]}

    def _patient(self, patient: Patient) -> JsonDict:
        # A search restricted to collections annotates the studies it may see.
        visible = getattr(patient, "visible_studies", None)
        count = patient.number_of_studies if visible is None else visible
        return {querykeys.NUMBER_OF_PATIENT_RELATED_STUDIES: _int("IS", count)}

    def _study(self, study: Study) -> list[JsonDict]:
        modalities = [m for m in study.modalities_in_study.split("\\") if m]
        computed: JsonDict = {
            querykeys.INSTANCE_AVAILABILITY: {"vr": "CS", "Value": ["ONLINE"]},
            querykeys.MODALITIES_IN_STUDY: {"vr": "CS", "Value": modalities}
            if modalities
            else {"vr": "CS"},
            querykeys.NUMBER_OF_STUDY_RELATED_SERIES: _int(
                "IS", study.number_of_series
            ),
            querykeys.NUMBER_OF_STUDY_RELATED_INSTANCES: _int(
                "IS", study.number_of_instances
            ),
            "0020000D": {"vr": "UI", "Value": [study.study_instance_uid]},
        }
        url = self._url(study.study_instance_uid)
        if url:
            computed[querykeys.RETRIEVE_URL] = url
        return [computed, self._json("study", study.pk, study.attributes_json)]

    def _series(self, series: Series) -> list[JsonDict]:
        computed: JsonDict = {
            querykeys.NUMBER_OF_SERIES_RELATED_INSTANCES: _int(
                "IS", series.number_of_instances
            ),
            "0020000E": {"vr": "UI", "Value": [series.series_instance_uid]},
        }
        url = self._url(series.study.study_instance_uid, series.series_instance_uid)
        if url:
            computed[querykeys.RETRIEVE_URL] = url
        return [computed, self._json("series", series.pk, series.attributes_json)]

    def _instance(self, instance: Instance) -> list[JsonDict]:
        computed: JsonDict = {
            "00080016": {"vr": "UI", "Value": [instance.sop_class_uid]},
            "00080018": {"vr": "UI", "Value": [instance.sop_instance_uid]},
            "00200013": _int("IS", instance.instance_number),
            "00280010": _int("US", instance.rows),
            "00280011": _int("US", instance.columns),
            "00280100": _int("US", instance.bits_allocated),
            "00280008": _int("IS", instance.number_of_frames or None),
            querykeys.INSTANCE_AVAILABILITY: {"vr": "CS", "Value": ["ONLINE"]},
        }
        series = instance.series
        url = self._url(
            series.study.study_instance_uid,
            series.series_instance_uid,
            instance.sop_instance_uid,
        )
        if url:
            computed[querykeys.RETRIEVE_URL] = url
        sources = [computed]
        if "metadata_json" not in instance.get_deferred_fields():
            sources.append(json.loads(instance.metadata_json))
        return sources


def _int(vr: str, value: int | None) -> JsonDict:
    return {"vr": vr} if value is None else {"vr": vr, "Value": [value]}


def _keys(sources: list[JsonDict]) -> set[str]:
    return {tag for source in sources for tag in source}
