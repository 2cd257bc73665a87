"""Background work on the job queue (alliance/celery.py): the jobs are in tasks.py."""
