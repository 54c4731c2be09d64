"""Camera sources: video files, folders of images, network streams and webcams as ``Frame`` iterators.

Use ``open_source(camera, settings.stream)``; it raises ``SourceError`` only for inputs that can never
work (missing file, not a video, empty folder). Everything after that (damaged packets, dropped
connections, reconnects) is reported through ``Source.status`` and the ``watchnet.sources`` logger.
"""

from watchnet.sources.base import Source, SourceState, SourceStatus
from watchnet.sources.factory import open_source, probe, source_kind
from watchnet.sources.file import FileSource
from watchnet.sources.folder import FolderSource
from watchnet.sources.stream import StreamSource

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
