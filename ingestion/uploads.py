"""An upload handler that enforces the per-file size limit while the request streams in."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadhandler import FileUploadHandler, SkipFile

from ingestion.services.jobs import RejectedUpload


class SizeLimitUploadHandler(FileUploadHandler):
    """Runs before Django's own handlers: a file past the per-file limit, or past the total a request may
    carry, is skipped (reported, never buffered or stored whole)."""

    def __init__(
        self,
        request: Any = None,
        *,
        max_bytes: int,
        max_request_bytes: int | None = None,
        max_files: int = 1000,
    ) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self.max_request_bytes = max_request_bytes
        self.max_files = max_files
        self.rejected: list[RejectedUpload] = []
        self._seen = 0
        self._total = 0
        self._files = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self._seen = 0
        self._files += 1
        if self._files > self.max_files:
            self._reject(f"more than {self.max_files} files in one upload request")

    def _reject(self, reason: str) -> None:
        name = str(self.file_name or "unnamed")
        self.rejected.append(RejectedUpload(name=name, reason=reason, size=self._seen))
        raise SkipFile

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self._seen += len(raw_data)
        self._total += len(raw_data)
        if self._seen > self.max_bytes:
            self._reject(f"file is larger than the {self.max_bytes} byte upload limit")
        if self.max_request_bytes is not None and self._total > self.max_request_bytes:
            limit = self.max_request_bytes
            self._reject(f"the upload request is over its {limit} byte limit; upload the rest separately")
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None
