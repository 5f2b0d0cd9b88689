#!/usr/bin/env python3
"""Prints the reference values of crates/core/src/geo.rs's tests: WGS-84 points in China
and their GCJ-02 and BD-09 coordinates as computed by the `prcoords` package (PyPI), an
independent implementation of the same published transforms.

    python3 -m venv /tmp/geo && /tmp/geo/bin/pip install prcoords==1.0.2
    /tmp/geo/bin/python scripts/geo_reference.py
"""
import prcoords

POINTS = {
    "beijing_tiananmen": (39.9087, 116.3975),
    "shanghai_peoples_square": (31.2304, 121.4737),
    "urumqi": (43.8256, 87.6168),
    "shenzhen": (22.5431, 114.0579),
    "chengdu": (30.5728, 104.0668),
}

for name, (lat, lon) in POINTS.items():
    w = prcoords.Coords(lat, lon)
    g = prcoords.wgs_gcj(w)
    b = prcoords.wgs_bd(w)
    print(f"// {name}")
    print(f"(({lat:.4f}, {lon:.4f}), ({g.lat:.12f}, {g.lon:.12f}), ({b.lat:.12f}, {b.lon:.12f})),")
