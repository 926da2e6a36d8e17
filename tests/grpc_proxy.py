"""A TLS-terminating gRPC proxy on loopback, nginx with grpc_pass, in front of a Temporal server.

The Temporal dev server has no TLS, so this is how the tests reach it over TLS, mutual TLS, or
with an API key that the proxy checks.
"""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.certificates import Certificates
from tests.processes import free_port


class GrpcProxy:
    """An nginx process that serves TLS on `address` and forwards gRPC to `upstream`."""

    def __init__(
        self,
        directory: Path,
        upstream: str,
        certificates: Certificates,
        *,
        require_client_cert: bool = False,
        api_key: str | None = None,
    ) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).is_file():
            message = "nginx was not found: install it with apt-get install nginx-light"
            # CI installs nginx, so there a missing nginx is a failure, not a reason to skip.
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        client_checks = (
            f"ssl_client_certificate {certificates.ca};\n        ssl_verify_client on;"
            if require_client_cert
            else ""
        )
        key_check = (
            f'if ($http_authorization != "Bearer {api_key}") {{ return 401; }}' if api_key else ""
        )
        config = directory / "nginx.conf"
        config.write_text(
            f"""
daemon off;
user root;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{}}
http {{
    access_log off;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    server {{
        listen 127.0.0.1:{self.port} ssl http2;
        ssl_certificate {certificates.server_cert};
        ssl_certificate_key {certificates.server_key};
        ssl_protocols TLSv1.2 TLSv1.3;
        {client_checks}
        location / {{
            {key_check}
            grpc_pass grpc://{upstream};
        }}
    }}
}}
"""
        )
        self.error_log = directory / "error.log"
        self.process = subprocess.Popen(
            [nginx, "-p", str(directory), "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.process.stderr.read().decode(errors="replace")
                pytest.fail(f"nginx exited with {self.process.returncode}: {stderr}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"nginx did not listen on {self.address}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
