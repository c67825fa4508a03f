import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pacsweb.settings")

app = Celery("pacsweb")
# All Celery configuration lives in Django settings under CELERY_*.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
