"""``python -m watchnet`` is the ``watchnet`` command."""

from watchnet.cli import app

app(prog_name="watchnet")
