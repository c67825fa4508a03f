"""Fill a PostgreSQL archive with N synthetic instances in a few seconds.

Rows only, no files: enough to see which plans the matcher's SQL gets at
production sizes. Surnames come from a short list, so a wildcard on a surname selects about
1/len(SURNAMES) of the patients, as a common real surname does; given names
are varied, so a search for one finds a handful.
"""

SURNAMES = (
    "smith",
    "jones",
    "garcia",
    "müller",
    "yamada",
    "kim",
    "nguyen",
    "ivanov",
    "papadopoulos",
    "cohen",
    "haddad",
    "rossi",
    "dubois",
    "nowak",
    "silva",
    "novak",
    "larsen",
    "okafor",
    "singh",
    "wang",
)

# Six letters from a hash of the row number: given names as varied as real
# ones, so trigram statistics look like a real archive's.
GIVEN_SQL = "translate(substr(md5(g::text), 1, 6), '0123456789', 'ghijklmnop')"

# Ratios per instance: 2 instances per series, 2 series per study,
# 1.25 studies per patient, as in a mixed CR/CT/MR archive.
FILL_SQL = """
WITH surnames AS (SELECT array[{surnames}] AS s)
INSERT INTO archive_patient (patient_id, issuer_of_patient_id, patient_name,
    patient_name_norm, patient_birth_date, patient_sex, attributes_json,
    number_of_studies, created_at)
SELECT 'P' || g, '', upper(s[1 + g %% {n_surnames}] || '^' || {given}),
    s[1 + g %% {n_surnames}] || '^' || {given},
    to_char(date '1940-01-01' + (g %% 25000), 'YYYYMMDD'),
    CASE WHEN g %% 2 = 0 THEN 'F' ELSE 'M' END, '{{}}', 1, now()
FROM generate_series(1, %(patients)s) g, surnames;

INSERT INTO archive_study (study_instance_uid, patient_id, study_date, study_time,
    accession_number, study_id, study_description, referring_physician_name,
    referring_physician_name_norm, modalities_in_study, number_of_series,
    number_of_instances, attributes_json, created_at, updated_at)
SELECT '1.2.826.0.1.3680043.9.7.1.' || g, p.id,
    to_char(date '2010-01-01' + (g * 7919 %% 5000), 'YYYYMMDD'),
    lpad((g %% 24)::text, 2, '0') || '0000.000000', 'A' || g, g::text, 'study ' || g,
    'DR^REF' || (g %% 500), 'dr^ref' || (g %% 500), 'CT\\MR', 2, 4, '{{}}', now(), now()
FROM generate_series(1, %(studies)s) g
JOIN archive_patient p ON p.patient_id = 'P' || (1 + (g - 1) %% %(patients)s);

INSERT INTO archive_series (series_instance_uid, study_id, modality, series_number,
    series_description, body_part_examined, performed_procedure_step_start_date,
    performed_procedure_step_start_time, station_name, institution_name,
    source_ae_title, number_of_instances, attributes_json, created_at)
SELECT st.study_instance_uid || '.' || k, st.id, CASE k WHEN 1 THEN 'CT' ELSE 'MR' END,
    k, '', '', '', '', '', '', '', 2, '{{}}', now()
FROM archive_study st, generate_series(1, 2) k;

INSERT INTO archive_studymodality (study_id, modality)
SELECT id, m FROM archive_study, unnest(array['CT', 'MR']) m;

INSERT INTO archive_instance (sop_instance_uid, series_id, sop_class_uid,
    instance_number, transfer_syntax_uid, number_of_frames, photometric_interpretation,
    content_date, content_time, file_size, file_sha256, storage_path, metadata_json,
    source_ae_title, created_at)
SELECT se.series_instance_uid || '.' || k, se.id, '1.2.840.10008.5.1.4.1.1.2', k,
    '1.2.840.10008.1.2.1', 1, 'MONOCHROME2', '', '', 1000, '',
    'vol/' || se.id || '-' || k || '.dcm', '{{}}', '', now()
FROM archive_series se, generate_series(1, 2) k;

ANALYZE;
"""


def fill(cursor, instances: int) -> None:
    studies = instances // 4
    patients = max(1, studies * 4 // 5)
    sql = FILL_SQL.format(
        surnames=", ".join(f"'{s}'" for s in SURNAMES),
        n_surnames=len(SURNAMES),
        given=GIVEN_SQL,
    )
    for statement in sql.split(";\n"):
        if statement.strip():
            cursor.execute(statement, {"patients": patients, "studies": studies})
