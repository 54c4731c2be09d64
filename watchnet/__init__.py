"""watchnet: multi-camera video analytics for security operators.

Layers, upstream first (nothing imports from a layer below it in this list):
``records``/``config`` -> ``sources`` -> ``models`` -> ``analysis`` -> ``events`` -> ``store`` -> ``api``/``web``;
``cli`` sits on top and only wires them together.
"""

__version__ = "0.1.0"
