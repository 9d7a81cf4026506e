"""Semantic classes of the simulator (ids stored in ``semantic/CAM_*/NAME.png``).

``THIN_CLASSES`` are the thin structures (poles, signs) that depth models tend to miss;
``REFLECTIVE_CLASSES`` are the only classes on which the reflective-pixel mask can be set
(glass windows, car paint/glass, wet road patches and the paint on them).
"""
from __future__ import annotations

CLASS_NAMES: tuple[str, ...] = (
    "sky",           # 0  no surface: depth 0
    "road",          # 1  asphalt (wet patches are still road)
    "lane_marking",  # 2  paint on the road
    "sidewalk",      # 3
    "kerb",          # 4
    "terrain",       # 5  ground beyond the sidewalks
    "building",      # 6  facades (brick / plaster)
    "window",        # 7  glass in facades
    "car",           # 8  body, glass, wheels
    "pedestrian",    # 9
    "pole",          # 10 street lights, sign and traffic-light posts, bollards
    "sign",          # 11 sign plates, traffic-light housings
    "vegetation",    # 12 tree trunks and crowns
)
CLASS_IDS: dict[str, int] = {name: i for i, name in enumerate(CLASS_NAMES)}
THIN_CLASSES: tuple[str, ...] = ("pole", "sign")
REFLECTIVE_CLASSES: tuple[str, ...] = ("road", "lane_marking", "window", "car")

# display colours (RGB 0..255), Cityscapes-like
CLASS_COLORS: dict[str, tuple[int, int, int]] = {
    "sky": (70, 130, 180),
    "road": (128, 64, 128),
    "lane_marking": (255, 255, 255),
    "sidewalk": (244, 35, 232),
    "kerb": (196, 196, 196),
    "terrain": (152, 251, 152),
    "building": (70, 70, 70),
    "window": (0, 180, 255),
    "car": (0, 0, 142),
    "pedestrian": (220, 20, 60),
    "pole": (153, 153, 153),
    "sign": (220, 220, 0),
    "vegetation": (107, 142, 35),
}

SKY = CLASS_IDS["sky"]


def classes_document() -> dict:
    """The content of ``classes.json`` at the dataset root."""
    return {
        "names": list(CLASS_NAMES),
        "classes": [
            {
                "id": i,
                "name": name,
                "thin": name in THIN_CLASSES,
                "reflective": name in REFLECTIVE_CLASSES,
                "color": list(CLASS_COLORS[name]),
            }
            for i, name in enumerate(CLASS_NAMES)
        ],
        "thin": list(THIN_CLASSES),
        "reflective": list(REFLECTIVE_CLASSES),
        "ignore_id": None,
    }
