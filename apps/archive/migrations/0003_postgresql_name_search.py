"""Trigram indexes for person-name matching, on PostgreSQL only.

Name matching (apps/archive/matching.py) compares the folded `*_norm`
columns with LIKE patterns that may start with a wildcard ("*SMITH*",
"=YAMADA" for one component group, a word inside the name for fuzzy
matching). A B-tree serves only prefixes; a pg_trgm GIN index serves any
LIKE pattern with three or more literal characters, and equality too, so
one index per column covers every form the matcher emits. SQLite has no
such index type; its B-trees serve equality and the embedded sizes.

The indexes are built CONCURRENTLY (hence atomic = False) so that adding
them to a running archive with millions of rows does not block ingest.
"""

from django.db import migrations

TRIGRAM_INDEXES = (
    ("archive_patient", "patient_name_norm", "patient_name_trgm_idx"),
    ("archive_study", "referring_physician_name_norm", "study_referring_trgm_idx"),
)


def create_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner
    # may create it without superuser rights.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, column, name in TRIGRAM_INDEXES:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} "
            f"ON {table} USING gin ({column} gin_trgm_ops)"
        )


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for _, _, name in TRIGRAM_INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("archive", "0002_collectionrule")]

    operations = [
        migrations.RunPython(create_trigram_indexes, drop_trigram_indexes),
    ]
