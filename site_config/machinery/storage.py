"""Stored files (post images, exports) handed to a browser, and what the storage is.

`stored_file_response()` is the one way a view gives out a file of the "default" storage, after it
has checked who may have it:

- object storage (django-storages' S3 backend): a redirect to a pre-signed URL, so the web process
  never carries the bytes (opening an S3 file through django-storages reads the whole object into
  memory). A download's URL works for STORAGE_S3_URL_SECONDS. A public file (a rendition of a
  published post) gets a URL that works for STORAGE_S3_PUBLIC_URL_SECONDS, kept in the shared cache
  for half of that, so every web process hands out the same URL and browsers keep the image
  (`Cache-Control: public, immutable` on the object's answer, on the redirect for half the lifetime);
- the local file system: the file streamed in chunks by an async iterator, never read whole (under
  daphne, site_config/machinery/backpressure.py holds each chunk until the client has taken the one
  before).

`storage_is_local()` says whether files land on this host's disk (the deploy check site_config.W030).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import FileSystemStorage, default_storage
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header

#: Bytes read from disk and handed to the server at a time, per streamed download.
CHUNK_BYTES = 128 * 1024
#: A public file's name is unique to its content (a new upload gets new names): cached for a year.
IMMUTABLE = "public, max-age=31536000, immutable"
PRIVATE = "private, no-store"


def storage_is_local(storage=None) -> bool:
    """Whether the storage writes to a folder of this host (the file system backend)."""
    storage = default_storage if storage is None else storage
    return isinstance(storage, FileSystemStorage)


def stored_file_response(name: str, *, content_type: str, public: bool = False, download_as: str = ""):
    """The response that gives the stored file `name` to the browser: inline, or as an attachment
    named `download_as`; `public` only for a file anyone may have whose name never changes content.
    Http404 when the file system has no such file."""
    disposition = content_disposition_header(bool(download_as), download_as) if download_as else "inline"
    if not storage_is_local():
        return _redirect(name, content_type=content_type, public=public, disposition=disposition)
    try:
        size = default_storage.size(name)
        file = default_storage.open(name, "rb")
    except OSError:  # FileNotFoundError, or a folder where a file was expected
        raise Http404("The file is gone.") from None
    response = StreamingHttpResponse(_chunks(file), content_type=content_type)
    response["Content-Length"] = str(size)
    response["Content-Disposition"] = disposition
    response["X-Content-Type-Options"] = "nosniff"
    if public:
        response["Cache-Control"] = IMMUTABLE
    else:
        patch_cache_control(response, private=True, no_store=True)
    return response


async def _chunks(file):
    """The file, CHUNK_BYTES at a time, each read in a worker thread (the event loop never waits
    on the disk). Closed however the response ends (finished, or the client went away)."""
    from asgiref.sync import sync_to_async

    read = sync_to_async(file.read, thread_sensitive=False)
    try:
        while chunk := await read(CHUNK_BYTES):
            yield chunk
    finally:
        file.close()


def _redirect(name: str, *, content_type: str, public: bool, disposition: str) -> HttpResponseRedirect:
    parameters = {
        "ResponseContentType": content_type,
        "ResponseContentDisposition": disposition,
        "ResponseCacheControl": IMMUTABLE if public else PRIVATE,
    }
    if not public:
        url = default_storage.url(name, parameters=parameters, expire=settings.STORAGE_S3_URL_SECONDS)
        response = HttpResponseRedirect(url)
        patch_cache_control(response, private=True, no_store=True)
        return response
    lifetime = settings.STORAGE_S3_PUBLIC_URL_SECONDS
    key = "storage:public-url:" + hashlib.sha256(name.encode()).hexdigest()
    url = cache.get(key)
    if url is None:
        url = default_storage.url(name, parameters=parameters, expire=lifetime)
        cache.set(key, url, timeout=lifetime // 2)
    response = HttpResponseRedirect(url)
    # Any URL handed out still works for at least half its lifetime: the redirect may be kept that long.
    patch_cache_control(response, public=True, max_age=lifetime // 2)
    return response
