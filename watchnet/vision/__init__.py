"""Frames in, detections, tracks and descriptions out: models, analysis, sources, the pipeline."""
