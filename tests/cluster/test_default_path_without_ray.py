"""The default path never imports Ray: a plain install without the ``cluster`` extra works."""

from __future__ import annotations

import subprocess
import sys

DEFAULT_PATH = ("watchnet.cli", "watchnet.api.server", "watchnet.runtime.runner", "watchnet.api.app",
                "watchnet.runtime.camera.supervisor", "watchnet.runtime.camera.worker", "watchnet.services.dispatch",
                "watchnet.store.outbox", "watchnet.cli.cluster")


def test_default_modules_do_not_import_ray() -> None:
    code = f"import sys, importlib; [importlib.import_module(m) for m in {DEFAULT_PATH!r}]; " \
           "print('ray' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"


def test_the_cluster_package_does_import_ray() -> None:  # the check above can fail: Ray is installed here
    code = "import sys, watchnet.runtime.cluster.actors; print('ray' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "True"
