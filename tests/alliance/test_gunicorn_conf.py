"""gunicorn.conf.py (`make serve`, production): workers from the core count, and client
form-link tokens kept out of gunicorn's access log as they are out of Django's logs."""

import datetime as dt
import gc
import importlib.util
import multiprocessing
import sys
from pathlib import Path

from gunicorn.config import Config

ROOT = Path(__file__).resolve().parents[2]
TOKEN_PATH = "/f/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ/"


def load_conf(monkeypatch, **env):
    for name in ("WEB_CONCURRENCY", "GUNICORN_BIND", "GUNICORN_ACCESSLOG", "GUNICORN_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_workers_from_the_cores_on_loopback_by_default(monkeypatch):
    conf = load_conf(monkeypatch)
    assert conf.workers == 2 * multiprocessing.cpu_count() + 1
    # More than one thread: gunicorn's gthread worker, alive while a long export streams.
    assert conf.threads == 2
    config = Config()
    config.set("threads", conf.threads)
    assert config.worker_class_str == "gthread"
    assert conf.bind == "127.0.0.1:8000"
    assert conf.accesslog is None
    conf = load_conf(monkeypatch, WEB_CONCURRENCY="3", GUNICORN_BIND="0.0.0.0:9000")
    assert (conf.workers, conf.bind) == (3, "0.0.0.0:9000")


class _Response:
    status = "302 Found"
    sent = 0
    headers = ()
    response_length = 0


class _Request:
    headers = ()
    method = "POST"
    uri = path = TOKEN_PATH
    query = ""
    version = (1, 1)


def test_the_access_log_never_holds_a_form_token(monkeypatch):
    conf = load_conf(monkeypatch, GUNICORN_ACCESSLOG="-")
    logger = conf.RedactingLogger(Config())
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": TOKEN_PATH,
        "PATH_INFO": TOKEN_PATH,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": f"https://clinic.example{TOKEN_PATH}",
    }
    atoms = logger.atoms(_Response(), _Request(), environ, dt.timedelta(milliseconds=12))
    line = conf.access_log_format % logger.atoms_wrapper_class(atoms)
    assert "abcdefghij" not in line
    assert "/f/[redacted]/" in atoms["r"] and "/f/[redacted]/" in atoms["f"]


def test_the_master_hides_the_loaded_app_from_the_garbage_collector(monkeypatch):
    """Workers fork from the master after when_ready: what the app loaded (views included)
    is frozen, so a worker's full collections walk only what its requests made."""
    conf = load_conf(monkeypatch)
    assert conf.preload_app
    gc.unfreeze()
    try:
        conf.when_ready(None)
        assert gc.get_freeze_count() > 10_000
        assert "alliance.views" in sys.modules
    finally:
        gc.unfreeze()
