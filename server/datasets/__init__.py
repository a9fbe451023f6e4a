"""Rating datasets on disk: readers for every supported layout (records only, no database), format
detection, and the synthetic generator; ``importer`` (with ``bulk``) loads a reader's records into
the database. The evaluation engine reads the records directly."""

from server.datasets.detect import FORMATS, open_dataset
from server.datasets.records import (
    DatasetError,
    DatasetReader,
    MovieRecord,
    Problems,
    RatingRecord,
    TagRecord,
)

__all__ = [
    "FORMATS",
    "DatasetError",
    "DatasetReader",
    "MovieRecord",
    "Problems",
    "RatingRecord",
    "TagRecord",
    "open_dataset",
]
