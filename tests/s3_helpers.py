"""A real S3-speaking server for the tests: moto's standalone server (`moto_server`, a pinned test
dependency) on a free port, started like the private Redis, and a fresh bucket per test.

The site reaches it exactly as it would reach AWS or MinIO: through django-storages' S3 backend,
configured by the STORAGE_S3_* variables (`S3Bucket.env` for child processes, `S3Bucket.storages`
for this process's settings). Nothing of ours is patched.
"""

from __future__ import annotations

import secrets
import time
import urllib.request

from site_config.devtools.local_redis import free_port

REGION = "us-east-1"
KEY_ID, SECRET = "test-key", "test-secret"


class S3Server:
    def __init__(self) -> None:
        from tests.conftest import BIN, Process, child_env

        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process = Process(f"moto-s3-{self.port}", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p",
                                                        str(self.port)], child_env(), live=False)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2).close()
                return
            except OSError:
                if self.process.popen.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start:\n{self.process.log()[-3000:]}") from None
                time.sleep(0.1)

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=KEY_ID,
                            aws_secret_access_key=SECRET)

    def bucket(self) -> "S3Bucket":
        name = f"site-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return S3Bucket(self, name)

    def stop(self) -> None:
        self.process.stop()


class S3Bucket:
    def __init__(self, server: S3Server, name: str) -> None:
        self.server = server
        self.name = name

    @property
    def env(self) -> dict[str, str]:
        """The variables that point a child process (web, worker) at this bucket."""
        return {
            "STORAGE_S3_BUCKET": self.name, "STORAGE_S3_ENDPOINT_URL": self.server.endpoint,
            "STORAGE_S3_REGION": REGION, "STORAGE_S3_ADDRESSING_STYLE": "path",
            "STORAGE_S3_ACCESS_KEY_ID": KEY_ID, "STORAGE_S3_SECRET_ACCESS_KEY": SECRET,
        }

    def storages(self, settings_storages: dict) -> dict:
        """settings.STORAGES with "default" on this bucket, as the settings build it from `env`."""
        return {**settings_storages, "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
            "bucket_name": self.name, "endpoint_url": self.server.endpoint, "region_name": REGION,
            "addressing_style": "path", "access_key": KEY_ID, "secret_key": SECRET, "querystring_auth": True,
            "file_overwrite": True, "signature_version": "s3v4", "location": "",
        }}}

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.server.client().get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.server.client().get_object(Bucket=self.name, Key=key)["Body"].read()
