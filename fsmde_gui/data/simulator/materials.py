"""Surface materials: how a triangle is textured and how it reflects light.

Each material has a diffuse texture kind (see ``textures.py``), a Blinn-Phong specular lobe
(``ks``, ``shininess``) and a mirror term with Schlick's Fresnel factor
``kr = kr0 + (1 - kr0) * (1 - cos)^5`` scaled by ``kr_max`` (0 = no mirror reflection).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Material:
    name: str
    ks: float = 0.0  # Blinn-Phong strength
    shininess: float = 16.0
    kr0: float = 0.0  # mirror reflectance at normal incidence
    kr_max: float = 0.0  # mirror reflectance at grazing incidence (0 = not a mirror)


MATERIALS: tuple[Material, ...] = (
    Material("asphalt", ks=0.04, shininess=12.0),            # 0 (wet patches: see WET)
    Material("concrete", ks=0.02, shininess=8.0),            # 1 sidewalk, kerb
    Material("facade", ks=0.02, shininess=8.0),              # 2 brick/plaster + windows
    Material("car_paint", ks=0.6, shininess=90.0, kr0=0.06, kr_max=0.6),  # 3
    Material("car_glass", ks=0.9, shininess=200.0, kr0=0.25, kr_max=0.9),  # 4
    Material("rubber", ks=0.02, shininess=4.0),              # 5 tyres
    Material("metal", ks=0.35, shininess=40.0),              # 6 poles
    Material("sign", ks=0.1, shininess=20.0),                # 7
    Material("bark", ks=0.0),                                # 8
    Material("foliage", ks=0.03, shininess=6.0),             # 9
    Material("cloth", ks=0.01, shininess=4.0),               # 10
    Material("grass", ks=0.0),                               # 11
)
MATERIAL_IDS: dict[str, int] = {m.name: i for i, m in enumerate(MATERIALS)}

# Texture-driven sub-materials (decided per pixel from the hit's world coordinates).
WINDOW_GLASS = Material("window_glass", ks=0.9, shininess=250.0, kr0=0.3, kr_max=0.95)
WET_ASPHALT = Material("wet_asphalt", ks=0.7, shininess=150.0, kr0=0.2, kr_max=0.8)


def material_arrays() -> dict[str, np.ndarray]:
    """Per-material parameter vectors indexed by material id (for vectorised shading)."""
    return {
        "ks": np.array([m.ks for m in MATERIALS], np.float32),
        "shininess": np.array([m.shininess for m in MATERIALS], np.float32),
        "kr0": np.array([m.kr0 for m in MATERIALS], np.float32),
        "kr_max": np.array([m.kr_max for m in MATERIALS], np.float32),
    }
