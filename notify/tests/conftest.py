"""A local HTTP server that plays the customer's callback receiver, and Celery run in-process."""

from __future__ import annotations

import http.server
import threading

import pytest

from sesconsole.celery import app as celery_app


@pytest.fixture(autouse=True)
def _receivers_on_this_machine(settings):
    # The test receiver listens on 127.0.0.1, which production refuses by default.
    settings.SES_CALLBACK_ALLOW_PRIVATE_NETWORKS = True


class Receiver:
    def __init__(self, status: int, host: str = "127.0.0.1", port: int = 0):
        self.status = status
        self.requests: list[dict] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": self.headers, "body": body})
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_port
        self.url = f"http://{host}:{self.port}/hooks/ses"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver(200)
    yield server
    server.close()


@pytest.fixture
def failing_receiver():
    server = Receiver(500)
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _celery_in_process():
    # Tasks run where they are sent (after commit), as a worker would run them, without a broker.
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous
