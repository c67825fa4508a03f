"""Signals the archive sends, for apps that react to stored data.

The archive imports no other app; apps that need to know about new
instances (thumbnails, forwarding) connect here instead.
"""

from django.dispatch import Signal

# Sent once instances' rows are committed (stored or replaced, not a kept
# duplicate), with `series_id`, `instance_ids` (the instances of that series
# committed together: one, or several from ingest_files) and `instance_id`
# (the last of them). Sent from transaction.on_commit, so receivers see the
# committed rows and may enqueue tasks that read them.
instance_stored = Signal()

# Sent once a delete has committed and its files are gone, with
# `series_uids`: the series that lost instances (possibly all of them).
instances_deleted = Signal()

# Sent after retention deleted a study (apps/archive/retention.py), with
# `study_uid`, `patient_id`, `instances` and `retention_days`: the audit
# trail records it.
study_expired = Signal()
