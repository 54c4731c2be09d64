"""Cameras running: the per-camera runner, worker processes and their supervisor, Ray placement."""
