"""Records, configuration, errors and pure policy: imports nothing else of watchnet."""
