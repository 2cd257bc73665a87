"""The job queue: Celery, with Redis as the broker in production (the way pretix runs it).

With CELERY_BROKER_URL set, `celery -A alliance worker` runs the jobs and `celery -A alliance
beat` starts the periodic ones (alliance/jobs/tasks.py; `make worker`, `make beat`,
docs/deployment.md). `make run` starts its own worker and beat on a queue kept in files
(filesystem://): a machine with only Python needs nothing more. Without a broker, as in the
tests, a job runs at once in the process that asks for it (task_always_eager) and behaves
the same, only not in the background.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alliance.settings")

app = Celery("alliance")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["alliance.jobs", "alliance.notify"])
