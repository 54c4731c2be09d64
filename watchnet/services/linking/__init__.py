"""Journeys across cameras: topology, link evidence, the online linker, follow mode and exports."""
