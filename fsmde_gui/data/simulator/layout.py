"""Procedural street layout: road, kerbs, sidewalks, facades, cars, pedestrians, poles, signs,
trees, sun; an ego trajectory along the street; moving cars and walking pedestrians.

World frame: x along the street, y to the left, z up, road surface at z = 0. The ego drives
in +x in the first lane right of the centre line (y = -lane_width / 2).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .classes import CLASS_IDS
from .materials import MATERIAL_IDS as M
from .mesh import (BOX_FACE_OF_TRIANGLE, Mesh, MeshBuilder, box_geometry, cylinder_geometry,
                   ellipsoid_geometry, rot_z)

C = CLASS_IDS

CAR_COLORS = np.array([
    [0.75, 0.75, 0.78], [0.08, 0.08, 0.09], [0.55, 0.05, 0.05], [0.08, 0.16, 0.45],
    [0.92, 0.92, 0.92], [0.35, 0.36, 0.38], [0.6, 0.55, 0.45], [0.1, 0.3, 0.15],
    [0.85, 0.6, 0.1], [0.3, 0.05, 0.1],
], np.float32)
FACADE_COLORS = np.array([
    [0.55, 0.27, 0.18], [0.62, 0.35, 0.25], [0.78, 0.72, 0.62], [0.85, 0.82, 0.75],
    [0.6, 0.62, 0.65], [0.7, 0.55, 0.4], [0.45, 0.42, 0.4], [0.82, 0.78, 0.6],
], np.float32)
SIGN_COLORS = np.array([[0.8, 0.1, 0.1], [0.1, 0.25, 0.75], [0.9, 0.8, 0.1], [0.92, 0.92, 0.92]],
                       np.float32)


@dataclass
class Sun:
    direction: np.ndarray  # (3,) unit vector towards the sun (world)
    ambient: float  # shading = ambient + (1 - ambient) * max(0, n.l) * visible
    color: np.ndarray  # (3,) specular tint
    sky_zenith: np.ndarray
    sky_horizon: np.ndarray
    cloud_cover: float = 0.0  # 0 = clear sky
    cloud_seed: int = 0


@dataclass
class Actor:
    """A moving (or parked) object: a local mesh moved along a straight line."""

    mesh: Mesh  # in the actor frame (x forward, z up, origin on the ground)
    position: np.ndarray  # (2,) x, y at t = 0
    yaw: float
    velocity: np.ndarray  # (2,) m/s
    instance: int
    category: str  # nuScenes category name
    size: tuple[float, float, float]  # (width, length, height) as nuScenes boxes

    def pose(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        xy = self.position + self.velocity * t
        return rot_z(self.yaw), np.array([xy[0], xy[1], 0.0])

    def mesh_at(self, t: float) -> Mesh:
        R, p = self.pose(t)
        return self.mesh.transformed(R, p)


@dataclass
class Street:
    seed: int
    static: Mesh
    actors: list[Actor]
    sun: Sun
    ego_y: float
    ego_x0: float
    ego_speed: float
    ego_sway: tuple[float, float]  # amplitude (m), period (s)
    texture_seed: int
    info: dict = field(default_factory=dict)

    def mesh_at(self, t: float) -> Mesh:
        return Mesh.concat([self.static] + [a.mesh_at(t) for a in self.actors])

    def ego_to_world(self, t: float) -> np.ndarray:
        amp, period = self.ego_sway
        w = 2 * np.pi / period
        x = self.ego_x0 + self.ego_speed * t
        y = self.ego_y + amp * np.sin(w * t)
        yaw = np.arctan2(amp * w * np.cos(w * t), self.ego_speed)
        T = np.eye(4)
        T[:3, :3] = rot_z(yaw)
        T[:3, 3] = [x, y, 0.0]
        return T


def _box(b: MeshBuilder, center, extent_xyz, semantic, instance, material, color,
         params=(0, 0, 0, 0), yaw=0.0, gloss=1.0):
    v, t = box_geometry(center, extent_xyz, yaw)
    b.add(v, t, semantic, instance, material, color, params, gloss)


def _car_mesh(rng: np.random.Generator, instance: int) -> tuple[Mesh, tuple[float, float, float]]:
    b = MeshBuilder()
    van = rng.random() < 0.15
    L = rng.uniform(4.8, 5.6) if van else rng.uniform(3.8, 4.9)
    W = rng.uniform(1.75, 1.95)
    body_h = rng.uniform(1.1, 1.4) if van else rng.uniform(0.7, 0.85)
    cabin_h = 0.55 if van else rng.uniform(0.5, 0.62)
    color = CAR_COLORS[rng.integers(len(CAR_COLORS))] * rng.uniform(0.9, 1.05)
    z0 = 0.32
    gloss = rng.uniform(0.5, 1.3)  # dull to freshly polished paint and glass
    _box(b, (0, 0, z0 + body_h / 2), (L, W, body_h), C["car"], instance, M["car_paint"], color,
         gloss=gloss)
    cabin_len = L * (0.75 if van else rng.uniform(0.45, 0.55))
    cabin_x = -0.05 * L if van else -0.08 * L
    v, t = box_geometry((cabin_x, 0, z0 + body_h + cabin_h / 2), (cabin_len, W * 0.9, cabin_h))
    mats = np.where(BOX_FACE_OF_TRIANGLE == 5, M["car_paint"], M["car_glass"])
    b.add(v, t, C["car"], instance, mats, color, gloss=gloss)
    for sx in (-1, 1):
        for sy in (-1, 1):
            v, t = cylinder_geometry((sx * (L / 2 - 0.8), sy * (W / 2 - 0.08), 0.32), 0.32, 0.22,
                                     axis="y", resolution=10)
            b.add(v, t, C["car"], instance, M["rubber"], (0.05, 0.05, 0.05))
    height = z0 + body_h + cabin_h
    return b.build(), (float(W), float(L), float(height))


def _pedestrian_mesh(rng: np.random.Generator, instance: int) -> tuple[Mesh, tuple]:
    b = MeshBuilder()
    h = rng.uniform(1.55, 1.9)
    shirt = rng.uniform(0.1, 0.9, 3).astype(np.float32)
    trousers = rng.uniform(0.05, 0.4, 3).astype(np.float32)
    skin = np.array([0.85, 0.65, 0.5], np.float32) * rng.uniform(0.5, 1.05)
    leg_h = 0.47 * h
    for sy in (-0.1, 0.1):
        _box(b, (0, sy, leg_h / 2), (0.16, 0.14, leg_h), C["pedestrian"], instance, M["cloth"],
             trousers)
    torso_h = 0.33 * h
    _box(b, (0, 0, leg_h + torso_h / 2), (0.26, 0.44, torso_h), C["pedestrian"], instance,
         M["cloth"], shirt)
    for sy in (-0.27, 0.27):
        _box(b, (0, sy, leg_h + torso_h * 0.45), (0.1, 0.09, torso_h * 0.95), C["pedestrian"],
             instance, M["cloth"], shirt)
    r = 0.1 * h / 1.75
    v, t = ellipsoid_geometry((0, 0, h - r * 1.1), (r, r * 0.9, r * 1.15), resolution=5)
    b.add(v, t, C["pedestrian"], instance, M["cloth"], skin)
    return b.build(), (0.6, 0.5, float(h))


@dataclass
class _CrossSection:
    """The street's lanes, parking strips, kerbs, sidewalks and extent along x."""

    n_lanes: int
    lane_w: float
    park_w: list  # right (-y), left (+y)
    kerb_w: float
    kerb_h: float
    walk_w: list
    road_half: list
    ego_speed: float
    x_lo: float
    x_hi: float
    wet_fraction: float
    crosswalk_x: float
    variety: float
    ext: float = 30.0  # road extension beyond both ends of the travelled stretch

    @property
    def length(self) -> float:
        return self.x_hi - self.x_lo + 2 * self.ext

    @property
    def xc(self) -> float:
        return (self.x_lo + self.x_hi) / 2


def _draw_cross_section(rng: np.random.Generator, duration_s: float,
                        variety: float) -> _CrossSection:
    n_lanes = int(rng.choice([2, 2, 4] if variety < 0.5 else [2, 4, 4, 6]))
    lane_w = rng.uniform(3.0, 3.7)
    park_w = [rng.choice([0.0, 2.3, 2.3]) for _ in range(2)]  # right (-y), left (+y)
    kerb_w = 0.25
    kerb_h = rng.uniform(0.1, 0.18)
    walk_w = [rng.uniform(2.5, 5.0 + 2 * variety) for _ in range(2)]
    road_half = [n_lanes * lane_w / 2 + p for p in park_w]

    ego_speed = rng.uniform(4.0, 10.0 + 4 * variety)
    travel = ego_speed * duration_s
    x_lo, x_hi = -70.0, travel + 90.0
    wet_fraction = rng.uniform(0.0, 0.35 + 0.25 * variety) if rng.random() < 0.8 else 0.0
    crosswalk_x = rng.uniform(10, x_hi - 40) if rng.random() < 0.6 else -1e4
    return _CrossSection(n_lanes, lane_w, park_w, kerb_w, kerb_h, walk_w, road_half, ego_speed,
                         x_lo, x_hi, wet_fraction, crosswalk_x, variety)


_QUAD = np.array([[0, 1, 2], [0, 2, 3]])


def _add_ground(b: MeshBuilder, rng: np.random.Generator, cs: _CrossSection) -> None:
    """Road, terrain beyond the sidewalks and the cross roads at both ends (all at z = 0)."""
    road_params = (cs.n_lanes, cs.lane_w, cs.wet_fraction, cs.crosswalk_x)
    x_lo, x_hi, ext = cs.x_lo, cs.x_hi, cs.ext
    y_r, y_l = -cs.road_half[0], cs.road_half[1]
    v = np.array([[x_lo - ext, y_r, 0], [x_hi + ext, y_r, 0], [x_hi + ext, y_l, 0],
                  [x_lo - ext, y_l, 0]], np.float64)
    asphalt = np.array([0.3, 0.3, 0.31], np.float32) * rng.uniform(0.8, 1.2)
    road_gloss = rng.uniform(0.6, 1.2)  # how mirror-like the wet patches are
    b.add(v, _QUAD, C["road"], 0, M["asphalt"], asphalt, road_params, road_gloss)
    grass = np.array([0.3, 0.4, 0.18], np.float32) * rng.uniform(0.8, 1.2)
    for side, y0 in ((-1, y_r), (1, y_l)):
        y1 = y0 + side * (cs.kerb_w + cs.walk_w[0 if side < 0 else 1])
        y2 = side * 400.0
        v = np.array([[x_lo - 400, y1, 0], [x_hi + 400, y1, 0], [x_hi + 400, y2, 0],
                      [x_lo - 400, y2, 0]], np.float64)
        b.add(v, _QUAD, C["terrain"], 0, M["grass"], grass)
    for xe, x_far in ((x_lo - ext, x_lo - ext - 14), (x_hi + ext, x_hi + ext + 14)):
        v = np.array([[xe, -400, 0], [x_far, -400, 0], [x_far, 400, 0], [xe, 400, 0]],
                     np.float64)
        b.add(v, _QUAD, C["road"], 0, M["asphalt"], asphalt, (0, cs.lane_w, 0.0, -1e4),
              road_gloss)


def _add_street_side(b: MeshBuilder, rng: np.random.Generator, cs: _CrossSection, inst,
                     si: int, side: int, concrete: np.ndarray) -> None:
    """Kerb, sidewalk, buildings and street furniture of one side (``side`` -1 right, 1 left)."""
    y0 = side * cs.road_half[si]
    _box(b, (cs.xc, y0 + side * cs.kerb_w / 2, cs.kerb_h / 2), (cs.length, cs.kerb_w, cs.kerb_h),
         C["kerb"], 0, M["concrete"], concrete * 1.1, (1.0, 0, 0, 0))
    yw = y0 + side * (cs.kerb_w + cs.walk_w[si] / 2)
    _box(b, (cs.xc, yw, cs.kerb_h / 2), (cs.length, cs.walk_w[si], cs.kerb_h), C["sidewalk"], 0,
         M["concrete"], concrete, (rng.choice([0.4, 0.5, 0.6]), 0, 0, 0))
    front = abs(y0) + cs.kerb_w + cs.walk_w[si]
    _add_facades(b, rng, cs, inst, side, front)
    _add_street_furniture(b, rng, cs, inst, si, side, y0)


def _add_facades(b: MeshBuilder, rng: np.random.Generator, cs: _CrossSection, inst,
                 side: int, front: float) -> None:
    """A row of buildings (with the odd alley) behind the sidewalk at ``|y| = front``."""
    x = cs.x_lo - cs.ext
    while x < cs.x_hi + cs.ext:
        w = rng.uniform(8, 26)
        if rng.random() < 0.12:  # alley
            x += rng.uniform(3, 8)
            continue
        setback = rng.uniform(0, 1.5) if rng.random() < 0.3 else 0.0
        depth = rng.uniform(10, 18)
        h = rng.uniform(6, 28 + 20 * cs.variety)
        style = int(rng.integers(0, 3))
        color = FACADE_COLORS[rng.integers(len(FACADE_COLORS))] * rng.uniform(0.85, 1.1)
        if style == 2:
            color = np.array([0.5, 0.52, 0.55], np.float32) * rng.uniform(0.8, 1.1)
        params = (style, rng.uniform(2.2, 4.0), rng.uniform(2.9, 3.6),
                  float(rng.random() < 0.5))
        yb = side * (front + setback + depth / 2)
        _box(b, (x + w / 2, yb, h / 2), (w - 0.3, depth, h), C["building"], next(inst),
             M["facade"], color, params, gloss=rng.uniform(0.6, 1.1))
        x += w


def _add_street_furniture(b: MeshBuilder, rng: np.random.Generator, cs: _CrossSection, inst,
                          si: int, side: int, y0: float) -> None:
    """Street lights, signs and trees on slots along the kerb at ``y = y0``."""
    x = cs.x_lo + rng.uniform(0, 6)
    since_light = 99
    while x < cs.x_hi:
        r = rng.random()
        yk = y0 + side * (cs.kerb_w + 0.45)
        if since_light >= 4 and r < 0.7:
            since_light = 0
            _add_street_light(b, rng, inst, x, yk, side)
        elif r < 0.2 + 0.15 * cs.variety:
            _add_sign(b, rng, inst, x, yk, side)
        elif r < 0.55:
            yt = y0 + side * (cs.kerb_w + min(1.4, cs.walk_w[si] / 2))
            _add_tree(b, rng, inst, x, yt)
        x += rng.uniform(5.5, 9.0)
        since_light += 1


def _add_street_light(b: MeshBuilder, rng: np.random.Generator, inst, x, yk, side) -> None:
    hgt = rng.uniform(6.5, 9.0)
    pid = next(inst)
    metal = np.array([0.45, 0.46, 0.48], np.float32) * rng.uniform(0.7, 1.2)
    vv, tt = cylinder_geometry((x, yk, hgt / 2), rng.uniform(0.08, 0.13), hgt)
    b.add(vv, tt, C["pole"], pid, M["metal"], metal)
    arm = rng.uniform(1.2, 2.5)
    _box(b, (x, yk - side * arm / 2, hgt - 0.1), (0.08, arm, 0.08), C["pole"], pid,
         M["metal"], metal)
    _box(b, (x, yk - side * (arm - 0.2), hgt - 0.2), (0.3, 0.5, 0.12), C["pole"], pid,
         M["metal"], metal * 1.3)


def _add_sign(b: MeshBuilder, rng: np.random.Generator, inst, x, yk, side) -> None:
    pid = next(inst)
    hgt = rng.uniform(2.4, 3.0)
    vv, tt = cylinder_geometry((x, yk, hgt / 2), 0.04, hgt, resolution=8)
    b.add(vv, tt, C["pole"], pid, M["metal"], (0.5, 0.5, 0.52))
    s = rng.uniform(0.5, 0.8)
    face = -side * 0.0 + (0.06 if rng.random() < 0.5 else -0.06)
    _box(b, (x + face, yk, hgt - s / 2), (0.03, s, s), C["sign"], next(inst),
         M["sign"], SIGN_COLORS[rng.integers(len(SIGN_COLORS))])


def _add_tree(b: MeshBuilder, rng: np.random.Generator, inst, x, yt) -> None:
    tid = next(inst)
    th = rng.uniform(2.0, 3.5)
    vv, tt = cylinder_geometry((x, yt, th / 2), rng.uniform(0.12, 0.2), th)
    b.add(vv, tt, C["vegetation"], tid, M["bark"], (0.3, 0.22, 0.15))
    rx = rng.uniform(1.2, 2.4)
    rz = rng.uniform(1.3, 2.6)
    vv, tt = ellipsoid_geometry((x, yt, th + rz * 0.75), (rx, rx, rz), resolution=6)
    vv += rng.normal(0, 0.12, vv.shape)
    green = np.array([0.2, 0.38, 0.12], np.float32) * rng.uniform(0.7, 1.3)
    b.add(vv, tt, C["vegetation"], tid, M["foliage"], green)


def _add_traffic_lights(b: MeshBuilder, rng: np.random.Generator, cs: _CrossSection,
                        inst) -> None:
    """Traffic lights at the zebra crossing, if any (pole + arm: pole, housing: sign)."""
    if cs.crosswalk_x <= -1e3:
        return
    for si, side in enumerate((-1, 1)):
        yk = side * (cs.road_half[si] + cs.kerb_w + 0.4)
        xl = cs.crosswalk_x - side * 3.0
        pid = next(inst)
        hgt = rng.uniform(4.5, 5.5)
        dark = (0.12, 0.12, 0.13)
        vv, tt = cylinder_geometry((xl, yk, hgt / 2), 0.09, hgt)
        b.add(vv, tt, C["pole"], pid, M["metal"], dark)
        arm = rng.uniform(2.5, 4.0)
        _box(b, (xl, yk - side * arm / 2, hgt - 0.15), (0.1, arm, 0.1), C["pole"], pid,
             M["metal"], dark)
        for yy, zz in ((yk - side * (arm - 0.3), hgt - 0.65), (yk, 2.6)):
            _box(b, (xl, yy, zz), (0.28, 0.32, 0.9), C["sign"], next(inst), M["sign"],
                 (0.1, 0.1, 0.1))


def _add_bollards(b: MeshBuilder, rng: np.random.Generator, cs: _CrossSection, inst) -> None:
    """Sometimes a row of bollards (short thin posts) along a stretch of kerb."""
    if rng.random() < 0.4 + 0.3 * cs.variety:
        si = int(rng.integers(0, 2))
        side = (-1, 1)[si]
        x0 = rng.uniform(cs.x_lo + 10, cs.x_hi - 30)
        for xb in np.arange(x0, x0 + rng.uniform(8, 20), rng.uniform(1.2, 2.0)):
            vv, tt = cylinder_geometry((xb, side * (cs.road_half[si] + cs.kerb_w + 0.25), 0.45),
                                       0.07, 0.9, resolution=8)
            b.add(vv, tt, C["pole"], next(inst), M["metal"], (0.25, 0.25, 0.27))


def _add_end_buildings(b: MeshBuilder, rng: np.random.Generator, cs: _CrossSection,
                       inst) -> None:
    """Buildings closing both ends of the street, beyond the cross roads."""
    for xe, sgn in ((cs.x_lo - cs.ext - 14, -1), (cs.x_hi + cs.ext + 14, 1)):
        for yy in np.arange(-60, 60, 20.0):
            h = rng.uniform(10, 35)
            color = FACADE_COLORS[rng.integers(len(FACADE_COLORS))]
            params = (int(rng.integers(0, 3)), rng.uniform(2.2, 4.0), rng.uniform(2.9, 3.6), 1.0)
            _box(b, (xe + sgn * 8, yy + 10, h / 2), (16, 19.7, h), C["building"], next(inst),
                 M["facade"], color, params)


def _build_static(rng: np.random.Generator, cs: _CrossSection, inst) -> Mesh:
    """Everything that does not move: ground, both street sides, lights, bollards, end blocks."""
    b = MeshBuilder()
    _add_ground(b, rng, cs)
    concrete = np.array([0.62, 0.6, 0.57], np.float32) * rng.uniform(0.85, 1.1)
    for si, side in enumerate((-1, 1)):
        _add_street_side(b, rng, cs, inst, si, side, concrete)
    _add_traffic_lights(b, rng, cs, inst)
    _add_bollards(b, rng, cs, inst)
    _add_end_buildings(b, rng, cs, inst)
    return b.build()


def _car(rng: np.random.Generator, inst, x, y, yaw, speed) -> Actor:
    i = next(inst)
    mesh, size = _car_mesh(rng, i)
    vel = speed * np.array([np.cos(yaw), np.sin(yaw)])
    return Actor(mesh, np.array([x, y]), yaw, vel, i, "vehicle.car", size)


def _add_parked_cars(rng: np.random.Generator, cs: _CrossSection, inst,
                     actors: list[Actor]) -> None:
    for si, side in enumerate((-1, 1)):
        if cs.park_w[si] <= 0:
            continue
        y = side * (cs.n_lanes * cs.lane_w / 2 + cs.park_w[si] / 2)
        x = cs.x_lo + rng.uniform(0, 5)
        while x < cs.x_hi:
            if rng.random() < 0.55 + 0.2 * cs.variety:
                yaw = (0.0 if rng.random() < 0.8 else np.pi) + rng.normal(0, 0.03)
                actors.append(_car(rng, inst, x, y + rng.normal(0, 0.1), yaw, 0.0))
            x += rng.uniform(6.0, 8.0)


def _add_moving_cars(rng: np.random.Generator, cs: _CrossSection, inst,
                     actors: list[Actor]) -> None:
    """Cars in every lane: ahead of / behind the ego in its lane, streams in the others."""
    lane_w, x_lo, x_hi, ego_speed = cs.lane_w, cs.x_lo, cs.x_hi, cs.ego_speed
    density = rng.uniform(0.3, 1.0)
    for k in range(cs.n_lanes // 2):
        y = -(k + 0.5) * lane_w  # same direction (y < 0)
        if k == 0:
            if rng.random() < density:
                actors.append(_car(rng, inst, rng.uniform(12, 35), y, 0.0,
                                   ego_speed + rng.uniform(0.5, 2.5)))
            if rng.random() < density:
                actors.append(_car(rng, inst, rng.uniform(-35, -12), y, 0.0,
                                   max(0.0, ego_speed - rng.uniform(0.5, 2.5))))
        else:
            for x in np.arange(x_lo, x_hi, rng.uniform(15, 40)):
                if rng.random() < density:
                    actors.append(_car(rng, inst, x + rng.uniform(0, 5), y, 0.0,
                                       rng.uniform(3, 12)))
        y = (k + 0.5) * lane_w  # oncoming
        for x in np.arange(x_lo, x_hi + 60, rng.uniform(14, 35)):
            if rng.random() < density:
                actors.append(_car(rng, inst, x + rng.uniform(0, 5), y, np.pi,
                                   rng.uniform(4, 13)))


def _add_pedestrians(rng: np.random.Generator, cs: _CrossSection, inst,
                     actors: list[Actor]) -> None:
    for si, side in enumerate((-1, 1)):
        n_ped = int(rng.integers(2, 8 + int(10 * cs.variety)))
        for _ in range(n_ped):
            i = next(inst)
            mesh, size = _pedestrian_mesh(rng, i)
            y = side * (cs.road_half[si] + cs.kerb_w
                        + rng.uniform(0.9, max(1.0, cs.walk_w[si] - 0.5)))
            walking = rng.random() < 0.7
            yaw = rng.choice([0.0, np.pi]) if walking else rng.uniform(-np.pi, np.pi)
            speed = rng.uniform(0.8, 1.6) if walking else 0.0
            mesh = mesh.transformed(np.eye(3), (0, 0, cs.kerb_h))
            actors.append(Actor(mesh, np.array([rng.uniform(cs.x_lo + 20, cs.x_hi), y]), yaw,
                                speed * np.array([np.cos(yaw), np.sin(yaw)]), i,
                                "human.pedestrian.adult", size))


def _draw_sky(rng: np.random.Generator, variety: float) -> tuple[Sun, float, bool, float]:
    """Sun and sky -> (sun, elevation in radians, overcast, cloud cover as drawn)."""
    az = rng.uniform(0, 2 * np.pi)
    el = np.deg2rad(rng.uniform(20 - 10 * variety, 65 + 10 * variety))
    sun_dir = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    cloud_cover = float(rng.uniform(0.0, 0.55 + 0.2 * variety)) if rng.random() < 0.7 else 0.0
    cloud_seed = int(rng.integers(0, 2 ** 31 - 1))
    warm = rng.uniform(0, 0.25 + 0.2 * variety)
    overcast = bool(rng.random() < 0.15 + 0.2 * variety)
    if overcast:  # soft light, weak shadows, grey sky, weaker highlights
        grey = rng.uniform(0.62, 0.8)
        sun = Sun(sun_dir, float(rng.uniform(0.65, 0.8)), np.full(3, 0.35, np.float32),
                  np.array([grey, grey, grey * 1.04], np.float32),
                  np.array([grey + 0.1, grey + 0.1, grey + 0.12], np.float32))
    else:
        sun = Sun(sun_dir, float(rng.uniform(0.28, 0.45)),
                  np.array([1.0, 1.0 - 0.3 * warm, 1.0 - 0.6 * warm], np.float32),
                  np.array([0.22, 0.42, 0.78], np.float32) * rng.uniform(0.85, 1.1),
                  np.array([0.78, 0.84, 0.92], np.float32) * rng.uniform(0.9, 1.05),
                  cloud_cover, cloud_seed)
    return sun, el, overcast, cloud_cover


def build_street(seed: int, duration_s: float, variety: float = 0.0) -> Street:
    """Lay out one street. ``variety`` in [0, 1] widens every randomised range (teacher data).

    Every part draws from one generator in a fixed order, so a seed always gives the same street.
    """
    rng = np.random.default_rng(seed)
    inst = iter(range(1, 65535))
    cs = _draw_cross_section(rng, duration_s, variety)
    static = _build_static(rng, cs, inst)
    actors: list[Actor] = []
    _add_parked_cars(rng, cs, inst, actors)
    _add_moving_cars(rng, cs, inst, actors)
    _add_pedestrians(rng, cs, inst, actors)
    sun, el, overcast, cloud_cover = _draw_sky(rng, variety)
    info = dict(n_lanes=cs.n_lanes, lane_width=float(cs.lane_w),
                parking=[float(p) for p in cs.park_w],
                kerb_height=float(cs.kerb_h), sidewalk=[float(w) for w in cs.walk_w],
                ego_speed=float(cs.ego_speed), wet_fraction=float(cs.wet_fraction),
                sun_elevation_deg=float(np.rad2deg(el)), overcast=overcast,
                cloud_cover=cloud_cover if not overcast else 1.0,
                num_triangles=static.num_triangles,
                num_actors=len(actors))
    sway = (float(rng.uniform(0.0, 0.3)), float(rng.uniform(6, 14)))
    ego_y = -cs.lane_w / 2
    return Street(seed, static, actors, sun, ego_y, 0.0, float(cs.ego_speed), sway,
                  int(rng.integers(0, 2 ** 31 - 1)), info)
