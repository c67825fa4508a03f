"""The shipped groups: clinician, technologist, archive-admin.

The permissions are created here rather than waiting for post_migrate,
which runs after every migration, too late for this one.
"""

from django.db import migrations

PERMISSIONS = {
    "read_studies": "Search and retrieve studies (QIDO, WADO, viewer)",
    "store_studies": "Store studies (STOW, upload)",
    "delete_studies": "Delete studies, series and instances",
    "manage_worklist": "Manage the worklist and MPPS",
    "administer_dimse": "Administer DIMSE and remote AEs",
    "share_studies": "Create share links to studies",
}

# Django admin model permissions for archive-admin (staff members of it
# manage collections, grants, rules, share links, lockouts and OAuth
# applications, and read the audit trail).
ADMIN_MODEL_PERMISSIONS = {
    ("archive", "collection"): ("add", "change", "delete", "view"),
    ("archive", "collectionrule"): ("add", "change", "delete", "view"),
    ("archive", "study"): ("change", "view"),
    ("accounts", "collectiongrant"): ("add", "change", "delete", "view"),
    ("accounts", "sharelink"): ("change", "view"),
    ("accounts", "signinthrottle"): ("change", "delete", "view"),
    ("accounts", "auditevent"): ("view",),
    ("oauth2_provider", "application"): ("add", "change", "delete", "view"),
    ("oauth2_provider", "accesstoken"): ("delete", "view"),
}

GROUPS = {
    "clinician": ["read_studies", "share_studies"],
    "technologist": ["read_studies", "store_studies", "manage_worklist"],
    "archive-admin": list(PERMISSIONS),
}


def create_groups(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    CollectionGrant = apps.get_model("accounts", "CollectionGrant")

    content_type, _ = ContentType.objects.get_or_create(
        app_label="accounts", model="capability"
    )
    permissions = {}
    for codename, name in PERMISSIONS.items():
        permissions[codename], _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
    for group_name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*(permissions[c] for c in codenames))
    admins = Group.objects.get(name="archive-admin")
    for (app_label, model), actions in ADMIN_MODEL_PERMISSIONS.items():
        model_type, _ = ContentType.objects.get_or_create(
            app_label=app_label, model=model
        )
        for action in actions:
            permission, _ = Permission.objects.get_or_create(
                content_type=model_type,
                codename=f"{action}_{model}",
                defaults={"name": f"Can {action} {model}"},
            )
            admins.permissions.add(permission)
    CollectionGrant.objects.get_or_create(
        group=admins, all_collections=True, collection=None
    )


def remove_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("archive", "0002_collectionrule"),
        ("oauth2_provider", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
