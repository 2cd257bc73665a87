# The job queue's app, loaded with Django so that @shared_task binds to it (alliance/celery.py).
from alliance.celery import app as celery_app

__all__ = ("celery_app",)
