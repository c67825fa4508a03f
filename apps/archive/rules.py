"""Collection assignment at ingest, by the rules in CollectionRule.

Evaluated when a series first arrives (the AE title and institution are
series-level here, the issuer patient-level), inside the ingest
transaction: one SELECT over the rules, which are few.
"""

from apps.archive.models import CollectionRule


def collections_for(
    source_ae_title: str, institution_name: str, issuer_of_patient_id: str
) -> list[int]:
    institution = institution_name.strip().casefold()
    matched = []
    for rule in CollectionRule.objects.all():
        if rule.source_ae_title and rule.source_ae_title != source_ae_title.strip():
            continue
        if (
            rule.institution_name
            and rule.institution_name.strip().casefold() != institution
        ):
            continue
        if (
            rule.issuer_of_patient_id
            and rule.issuer_of_patient_id != issuer_of_patient_id.strip()
        ):
            continue
        matched.append(rule.collection_id)
    return matched
