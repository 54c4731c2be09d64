"""Camera sources: video files, folders of images, network streams and webcams as ``Frame`` iterators.

Use ``open_source(camera, settings.stream)``; it raises ``SourceError`` only for inputs that can never
work (missing file, not a video, empty folder). Everything after that (damaged packets, dropped
connections, reconnects) is reported through ``Source.status`` and the ``watchnet.vision.sources`` logger.
"""

from watchnet.vision.sources.base import Source, SourceState, SourceStatus
from watchnet.vision.sources.factory import open_source, probe, source_kind
from watchnet.vision.sources.file import FileSource
from watchnet.vision.sources.folder import FolderSource
from watchnet.vision.sources.stream import StreamSource

__all__ = [
    "FileSource",
    "FolderSource",
    "Source",
    "SourceState",
    "SourceStatus",
    "StreamSource",
    "open_source",
    "probe",
    "source_kind",
]
