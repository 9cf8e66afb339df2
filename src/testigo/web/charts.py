"""Map and bar charts computed on the server and drawn as SVG: no tile server, no CDN, no script.

The map is an equirectangular projection fitted to the incidents shown, over the shorelines,
lakes, country and state borders of :mod:`testigo.web.outlines` (offline data), with a graticule
for orientation; each place is a circle whose area grows with its number of incidents.
"""

from __future__ import annotations

import math
from typing import Any

from testigo.web import outlines

WIDTH = 900
HEIGHT = 480
PAD = 40


def _step(span: float) -> float:
    for step in (1.0, 2.0, 5.0, 10.0, 20.0, 30.0):
        if span / step <= 8:
            return step
    return 45.0


def map_layout(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Screen positions for the points, and graticule lines with their labels."""
    if points:
        lats = [float(p["latitude"]) for p in points]
        lons = [float(p["longitude"]) for p in points]
        south, north = min(lats) - 2, max(lats) + 2
        west, east = min(lons) - 3, max(lons) + 3
    else:
        south, north, west, east = 15.0, 55.0, -130.0, -60.0
    # Keep the aspect ratio of the projection (degrees of longitude shrink with latitude).
    mid = math.radians((south + north) / 2)
    x_scale = math.cos(mid)
    span_x = (east - west) * x_scale
    span_y = north - south
    scale = min((WIDTH - 2 * PAD) / max(span_x, 1e-6), (HEIGHT - 2 * PAD) / max(span_y, 1e-6))
    cx, cy = (west + east) / 2, (south + north) / 2

    def project(lat: float, lon: float) -> tuple[float, float]:
        x = WIDTH / 2 + (lon - cx) * x_scale * scale
        y = HEIGHT / 2 - (lat - cy) * scale
        return round(x, 1), round(y, 1)

    # What the frame shows (wider than the incidents in one direction), a little more so that
    # clipped land does not draw its edge inside the frame.
    half_w = WIDTH / 2 / (x_scale * scale) * 1.02
    half_h = HEIGHT / 2 / scale * 1.02
    view = (cx - half_w, max(cy - half_h, -90.0), cx + half_w, min(cy + half_h, 90.0))
    shapes = outlines.outline_paths(view, project)
    biggest = max((int(p["count"]) for p in points), default=1)
    placed = []
    for p in points:
        x, y = project(float(p["latitude"]), float(p["longitude"]))
        radius = 5 + 20 * math.sqrt(int(p["count"]) / biggest)
        placed.append({**p, "x": x, "y": y, "r": round(radius, 1)})
    lines = []
    lat_step = _step(span_y)
    lat = math.ceil(south / lat_step) * lat_step
    while lat <= north:
        _, y = project(lat, cx)
        lines.append(
            {"x1": 0, "y1": y, "x2": WIDTH, "y2": y, "label": f"{lat:g}°", "lx": 4, "ly": y - 3}
        )
        lat += lat_step
    lon_step = _step(east - west)
    lon = math.ceil(west / lon_step) * lon_step
    while lon <= east:
        x, _ = project(cy, lon)
        lines.append(
            {
                "x1": x,
                "y1": 0,
                "x2": x,
                "y2": HEIGHT,
                "label": f"{lon:g}°",
                "lx": x + 3,
                "ly": HEIGHT - 4,
            }
        )
        lon += lon_step
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "points": placed,
        "lines": lines,
        "shapes": shapes,
        "outlines": outlines.available(),
        "view": [round(v, 3) for v in view],
    }


def bars(rows: list[dict[str, Any]], width: int = 360) -> list[dict[str, Any]]:
    biggest = max((int(r["count"]) for r in rows), default=1) or 1
    return [
        {**r, "w": max(2, round(width * int(r["count"]) / biggest)), "y": i * 26}
        for i, r in enumerate(rows)
    ]
