"""Benchmark: a 24-megapixel photo through the post-image renditions (blog/services/images.py).

Makes a 6000x4000 JPEG (a gradient with camera-like noise, EXIF orientation 6, so it is turned
upright on the way) and runs, each in a fresh interpreter so its peak memory is its own:

- `service`: what the renditions task runs: `image_decode` (JPEG decoded reduced by libjpeg to what
  the largest width needs, EXIF orientation applied) and `renditions_encode` (480, 960, 1600 px,
  WebP and JPEG each, every width resized from the one before);
- `naive`, for comparison: the full-size decode, orientation applied, each width resized from the
  full image (what the service would cost without the draft decode and the cascade).

Prints, per variant, the median wall time of RUNS runs and the child process's peak resident memory
(VmHWM, reset after imports, so the figure above the baseline is the work's alone); tracemalloc's
peak is printed too, but it sees Python's allocations only, not Pillow's pixel buffers. Targets: a
24 MP photo in under 5 s on a busy 2-core machine, under 100 MB of memory for the work (Linux only:
it reads /proc/self).

    .venv/bin/python bench/post_images.py              # 3 runs per variant
    RUNS=1 .venv/bin/python bench/post_images.py
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

RUNS = int(os.environ.get("RUNS", "3"))
WIDTH, HEIGHT = 6000, 4000
WIDTHS = [480, 960, 1600]

CHILD = r"""
import json, sys, time, tracemalloc
import django
django.setup()
from PIL import Image, ImageOps
from blog.services import images

variant, path, widths = sys.argv[1], sys.argv[2], [int(w) for w in sys.argv[3].split(",")]


def status_kb(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


# Imports (Django, Celery, Channels) peak above what the work needs: start the peak afresh here
# (Linux: writing 5 to clear_refs resets the high-water mark to the current resident size).
with open("/proc/self/clear_refs", "w") as clear_refs:
    clear_refs.write("5")
baseline = status_kb("VmRSS")
tracemalloc.start()
started = time.perf_counter()
outputs = []
with open(path, "rb") as source:
    if variant == "service":
        image, sizes = images.image_decode(source=source, widths=widths, max_pixels=40_000_000)
        for rendition in images.renditions_encode(image=image, sizes=sizes, jpeg_quality=82, webp_quality=80):
            outputs.append((rendition.label, len(rendition.data)))
    else:
        image = ImageOps.exif_transpose(Image.open(source))
        image = image.convert("RGB")
        for width in sorted(widths, reverse=True):
            height = round(image.height * width / image.width)
            resized = image.resize((width, height), Image.Resampling.LANCZOS)
            outputs.append((f"{width}w webp", len(images._encode(resized, "WEBP", quality=80))))
            outputs.append((f"{width}w jpeg", len(images._encode(resized, "JPEG", quality=82, optimize=True, progressive=True))))
elapsed = time.perf_counter() - started
_, traced_peak = tracemalloc.get_traced_memory()
peak = status_kb("VmHWM")
print(json.dumps({"seconds": elapsed, "baseline_kb": baseline, "peak_kb": peak, "traced_peak": traced_peak,
                  "outputs": outputs}))
"""


def make_photo(path: Path) -> int:
    """A 24 MP JPEG with EXIF orientation 6 (shown turned a quarter clockwise), as a camera writes."""
    from PIL import ExifTags, Image

    noise = Image.effect_noise((WIDTH, HEIGHT), 24)
    gradient = Image.linear_gradient("L").resize((WIDTH, HEIGHT))
    radial = Image.radial_gradient("L").resize((WIDTH, HEIGHT))
    photo = Image.merge("RGB", (gradient, radial, noise))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "BenchCam"
    photo.save(path, "JPEG", quality=90, exif=exif.tobytes())
    return path.stat().st_size


def run(variant: str, path: Path, workdir: Path) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "site_config.settings", "DJANGO_DEBUG": "1",
           "DJANGO_VAR_DIR": str(workdir / "var"), "DJANGO_LOG_LEVEL": "WARNING"}
    result = subprocess.run([sys.executable, "-c", CHILD, variant, str(path), ",".join(map(str, WIDTHS))],
                            cwd=BASE_DIR, env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="images-bench-"))
    try:
        photo = workdir / "photo.jpg"
        size = make_photo(photo)
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"photo: {WIDTH}x{HEIGHT} JPEG ({WIDTH * HEIGHT / 1e6:.0f} MP), {size / 1e6:.1f} MB, EXIF orientation 6; "
              f"widths {WIDTHS}, WebP and JPEG each; {RUNS} run(s) per variant, each in a fresh process")
        for variant in ("service", "naive"):
            results = [run(variant, photo, workdir) for _ in range(RUNS)]
            seconds = statistics.median(r["seconds"] for r in results)
            above = max(r["peak_kb"] - r["baseline_kb"] for r in results) / 1024
            peak = max(r["peak_kb"] for r in results) / 1024
            traced = max(r["traced_peak"] for r in results) / 1e6
            outputs = ", ".join(f"{label} {bytes_ // 1000} kB" for label, bytes_ in results[0]["outputs"])
            print(f"{variant:8} median {seconds:.2f} s (runs: {', '.join(f'{r["seconds"]:.2f}' for r in results)}); "
                  f"peak RSS {peak:.0f} MB, {above:.0f} MB above the baseline after imports; "
                  f"tracemalloc peak {traced:.1f} MB")
            print(f"         outputs: {outputs}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
