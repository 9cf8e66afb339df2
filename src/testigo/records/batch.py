"""`import_articles`: many articles, extracted in parallel, stored in order by one writer.

Extraction is pure CPU and a pure function of the bytes, so it runs in worker processes; storing
is one writer (the records and the ledger are written by one transaction at a time anyway), which
takes the extractions in the order the articles were given. Each article is still its own
all-or-nothing transaction: an article that is refused, or fails while it is stored, is reported
and the batch goes on with the next one.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from testigo.db.models import Incident
from testigo.errors import NotFoundError, RefusedInputError, TestigoError, UsageError
from testigo.extract.model import ArticleExtraction
from testigo.records.importer import ImportResult, extract_for_import, store_extracted
from testigo.records.vocab import SourceKind, check
from testigo.vault.blobs import BlobStore, ProgressCallback, StoredBlob, open_vault_store
from testigo.vault.service import Vault

MAX_INPUT = 64 * 1024 * 1024
ARTICLE_SUFFIXES = (".txt", ".html", ".htm")
WINDOW_PER_WORKER = 16  # articles read and handed to each worker ahead of the writer


@dataclass(frozen=True)
class ArticleInput:
    """One article to import: its bytes, or a file to read them from when its turn comes."""

    name: str
    data: bytes | None = None
    path: Path | None = None
    content_type: str | None = None
    url: str | None = None
    fetched_at: str | None = None

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.path is None or not self.path.is_file():
            raise UsageError(f"no such file: {self.name}")
        with self.path.open("rb") as handle:
            data = handle.read(MAX_INPUT + 1)
        if len(data) > MAX_INPUT:
            raise RefusedInputError(f"the input is over {MAX_INPUT:,} bytes; nothing was stored")
        return data

    @property
    def filename(self) -> str | None:
        return self.path.name if self.path is not None else None


@dataclass
class BatchItem:
    """What happened to one article of a batch, in input order."""

    index: int
    name: str
    result: ImportResult | None = None
    error: str | None = None
    extract_seconds: float = 0.0
    extract_cpu_seconds: float = 0.0
    store_seconds: float = 0.0
    extracted_by_writer: bool = False

    @property
    def ok(self) -> bool:
        return self.result is not None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"index": self.index, "name": self.name, "ok": self.ok}
        if self.result is not None:
            data.update(self.result.to_dict())
        else:
            data["error"] = self.error
        return data


@dataclass
class BatchSummary:
    items: list[BatchItem] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process (the writer, and extraction when workers=0)
    waited_seconds: float = 0.0  # the writer waiting for a worker's extraction
    workers: int = 0

    @property
    def failed(self) -> list[BatchItem]:
        return [i for i in self.items if not i.ok]

    def to_dict(self) -> dict[str, Any]:
        results = [i.result for i in self.items if i.result is not None]
        return {
            "articles": len(self.items),
            "imported": sum(1 for r in results if not r.duplicate),
            "duplicates": sum(1 for r in results if r.duplicate),
            "failed": len(self.failed),
            "incidents_created": sum(1 for r in results if r.incident_created),
            "joined": sum(1 for r in results if r.joined),
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "waited_seconds": round(self.waited_seconds, 3),
            "workers": self.workers,
            "items": [i.to_dict() for i in self.items],
        }


def find_articles(paths: Iterable[str | Path]) -> list[ArticleInput]:
    """Files as given, and the .txt/.html/.htm files under folders (recursively, sorted).

    A path that does not exist is kept, so the batch reports it beside the others.
    """
    found: list[ArticleInput] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in ARTICLE_SUFFIXES
            )
            found.extend(ArticleInput(name=str(p), path=p) for p in files)
        else:
            found.append(ArticleInput(name=str(given), path=path))
    return found


@dataclass(frozen=True)
class _Extracted:
    extraction: ArticleExtraction
    seconds: float
    cpu_seconds: float
    stored: tuple[str, ...] = ()


StoreSpec = tuple[str, str | None, bool]
"""The vault's blob store as a worker process opens it: (url, mirror url, mirror required)."""

_WORKER_STORES: dict[StoreSpec, BlobStore] = {}


def _extract(
    raw: bytes,
    content_type: str | None,
    url: str | None,
    filename: str | None,
    store_spec: StoreSpec | None = None,
) -> _Extracted:
    """Extract (and refuse) an article; with ``store_spec``, also store its original and its
    text (in the mirror too, when there is one), so the blob writes and their fsyncs run beside
    the writer instead of inside it."""
    start, cpu = time.perf_counter(), time.process_time()
    extraction = extract_for_import(raw, content_type=content_type, url=url, filename=filename)
    stored: tuple[str, ...] = ()
    if store_spec is not None:
        store = _WORKER_STORES.get(store_spec)
        if store is None:
            url, mirror_url, required = store_spec
            store = _WORKER_STORES[store_spec] = open_vault_store(
                url, mirror_url, required=required
            )
        stored = tuple(
            store.put_stream(io.BytesIO(content)).sha256
            for content in (raw, extraction.text.encode("utf-8"))
        )
    return _Extracted(extraction, time.perf_counter() - start, time.process_time() - cpu, stored)


class _Prestored:
    """The vault's blob store, knowing which blobs a worker has already stored and synced.

    ``put_stream`` still reads and hashes the content (so the receipt records what was read,
    and media type sniffing sees its head); when that digest is one the workers stored and it
    is in the store, the second copy and its fsyncs are skipped.
    """

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.url = inner.url
        self.stored: set[str] = set()

    def put_stream(
        self,
        source: BinaryIO,
        *,
        expected_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> StoredBlob:
        data = source.read()
        digest = hashlib.sha256(data).hexdigest()
        if digest in self.stored and self.inner.exists(digest):
            if progress is not None:
                progress(len(data))
            return StoredBlob(sha256=digest, size=len(data), created=False)
        return self.inner.put_stream(
            io.BytesIO(data), expected_size=expected_size, progress=progress
        )

    def open(self, sha256: str) -> BinaryIO:
        return self.inner.open(sha256)

    def exists(self, sha256: str) -> bool:
        return self.inner.exists(sha256)

    def size(self, sha256: str) -> int:
        return self.inner.size(sha256)

    def iter_digests(self) -> Iterator[str]:
        return self.inner.iter_digests()

    def cleanup_stale(self) -> int:
        return self.inner.cleanup_stale()

    def free_space(self) -> int | None:
        return self.inner.free_space()

    def discard(self, sha256: str) -> None:
        self.inner.discard(sha256)


def _warm_up() -> None:
    """Load the extractor's vocabularies and gazetteer once per worker, not in its first task.

    Workers run ahead of the single writer, which is what limits a batch; a lower priority
    keeps them from taking CPU time the writer could use.
    """
    with contextlib.suppress(OSError):
        os.nice(5)
    with contextlib.suppress(TestigoError):
        extract_for_import(b"Officers arrested a man in Dayton, Ohio.", filename="warm.txt")


class _Inline:
    """Runs extraction in this process (``workers=0``): same interface, no pool."""

    def submit(self, fn: Callable[..., _Extracted], *args: Any) -> Future[_Extracted]:
        future: Future[_Extracted] = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # handed to the writer like a worker's exception
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None


def _pool(workers: int) -> ProcessPoolExecutor | _Inline:
    if workers <= 0:
        return _Inline()
    # A fresh server process forks the workers: nothing of this process (open database
    # connections, a progress bar's thread) is copied into them.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["testigo.extract"])
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_warm_up)


def _message(exc: BaseException) -> str:
    if isinstance(exc, TestigoError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def import_articles(
    vault: Vault,
    sources: Iterable[ArticleInput],
    *,
    workers: int = 2,
    actor: str,
    incident_id: int | None = None,
    kind: str | None = None,
    progress: Callable[[BatchItem], None] | None = None,
) -> BatchSummary:
    """Import many articles: extracted by ``workers`` processes (0: in this one), stored in the
    given order, each in its own transaction. Failures are reported per article."""
    source_kind: SourceKind | None = check(SourceKind, kind, "kind") if kind else None
    if incident_id is not None:
        with vault.reading() as session:
            if session.get(Incident, incident_id) is None:
                raise NotFoundError(f"there is no incident {incident_id}")
    summary = BatchSummary(workers=workers)
    wall, cpu = time.perf_counter(), time.process_time()
    pool = _pool(workers)
    settings = vault.settings
    store_spec: StoreSpec | None = (
        (settings.blobs_url, settings.blobs_mirror_url, settings.blobs_mirror_required)
        if workers > 0
        else None
    )
    prestored = _Prestored(vault.blobs)
    writer = replace(vault, blobs=prestored) if workers > 0 else vault
    window = max(4, WINDOW_PER_WORKER * workers)
    pending: deque[tuple[int, ArticleInput, bytes | None, Future[_Extracted] | BaseException]]
    pending = deque()
    starting = workers > 0  # until a worker's first result is ready
    inputs: Iterator[ArticleInput] = iter(sources)
    index = 0

    def submit_next() -> bool:
        nonlocal index
        article = next(inputs, None)
        if article is None:
            return False
        try:
            raw = article.read()
            job: Future[_Extracted] | BaseException = pool.submit(
                _extract, raw, article.content_type, article.url, article.filename, store_spec
            )
        except TestigoError as exc:
            raw, job = None, exc
        pending.append((index, article, raw, job))
        index += 1
        return True

    try:
        while len(pending) < window and submit_next():
            pass
        while pending:
            number, article, raw, job = pending.popleft()
            submit_next()
            item = BatchItem(index=number, name=article.name)
            try:
                if isinstance(job, BaseException):
                    raise job
                assert raw is not None
                if not job.done() and (starting or job.cancel()):
                    # The workers are still starting, or behind (starved of CPU): rather than
                    # wait, the writer extracts this article itself (a worker's result for it,
                    # if one comes, is dropped).
                    job.cancel()
                    extracted = _extract(raw, article.content_type, article.url, article.filename)
                    item.extracted_by_writer = True
                else:
                    starting = False
                    waited = time.perf_counter()
                    extracted = job.result()
                    summary.waited_seconds += time.perf_counter() - waited
                item.extract_seconds = extracted.seconds
                item.extract_cpu_seconds = extracted.cpu_seconds
                prestored.stored.update(extracted.stored)
                start = time.perf_counter()
                item.result = store_extracted(
                    writer,
                    raw,
                    extracted.extraction,
                    content_type=article.content_type,
                    filename=article.filename,
                    url=article.url,
                    incident_id=incident_id,
                    actor=actor,
                    fetched_at=article.fetched_at,
                    source_kind=source_kind,
                )
                item.store_seconds = time.perf_counter() - start
            except Exception as exc:  # one bad article is reported; the batch goes on
                item.error = _message(exc)
            summary.items.append(item)
            if progress is not None:
                progress(item)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    summary.seconds = time.perf_counter() - wall
    summary.cpu_seconds = time.process_time() - cpu
    return summary
