"""Demo pictures, drawn with Pillow (nothing is downloaded or shipped): a landscape per post, its
colours chosen by a number, so each demo post has its own and a second run draws the same."""

from __future__ import annotations

import math
from io import BytesIO

from PIL import Image, ImageDraw, ImageOps

#: (sky at the top, sky at the horizon, sun, hills far to near) per picture.
PALETTES = [
    ((38, 84, 160), (250, 190, 120), (255, 236, 170), [(92, 120, 150), (60, 96, 92), (34, 66, 52)]),
    ((20, 30, 70), (232, 120, 90), (255, 210, 140), [(110, 80, 110), (72, 56, 86), (40, 34, 58)]),
    ((120, 180, 230), (226, 240, 250), (255, 255, 235), [(130, 170, 130), (86, 140, 90), (48, 100, 60)]),
]


def demo_picture(number: int, *, width: int = 1800, height: int = 1200) -> bytes:
    """A JPEG landscape: a sky gradient, a sun, three layers of hills."""
    top, horizon, sun, hills = PALETTES[number % len(PALETTES)]
    sky = ImageOps.colorize(Image.linear_gradient("L").resize((width, height)), top, horizon)
    draw = ImageDraw.Draw(sky)
    radius = height // 9
    sun_x, sun_y = width * (0.25 + 0.25 * (number % 3)), height * 0.42
    draw.ellipse((sun_x - radius, sun_y - radius, sun_x + radius, sun_y + radius), fill=sun)
    for layer, colour in enumerate(hills):
        base = height * (0.58 + 0.12 * layer)
        amplitude = height * (0.07 - 0.015 * layer)
        phase = number * 1.7 + layer * 2.3
        points = [(x, base - amplitude * math.sin(x / width * math.pi * (2 + layer) + phase))
                  for x in range(0, width + 1, 20)]
        draw.polygon([(0, height), *points, (width, height)], fill=colour)
    buffer = BytesIO()
    sky.save(buffer, "JPEG", quality=88)
    return buffer.getvalue()
