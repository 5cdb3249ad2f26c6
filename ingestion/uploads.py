"""An upload handler that enforces the per-file size limit while the request streams in."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadhandler import FileUploadHandler, SkipFile

from ingestion.services.jobs import RejectedUpload


class SizeLimitUploadHandler(FileUploadHandler):
    """Runs before Django's own handlers: a file past the limit is skipped, never buffered or stored whole."""

    def __init__(self, request: Any = None, *, max_bytes: int) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self.rejected: list[RejectedUpload] = []
        self._seen = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self._seen = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self._seen += len(raw_data)
        if self._seen > self.max_bytes:
            self.rejected.append(
                RejectedUpload(
                    name=str(self.file_name or "unnamed"),
                    reason=f"file is larger than the {self.max_bytes} byte upload limit",
                    size=self._seen,
                )
            )
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None
