"""Shared behaviour of the encoder-decoder configs (StudentConfig, TeacherConfig)."""
from __future__ import annotations

from dataclasses import asdict, fields


class EncoderDecoderConfig:
    """Mixin for dataclass configs with ``widths`` (5), ``depths`` (4), ``decoder_widths``
    (4) and ``input_size`` (W, H): normalises lists to tuples, checks the lengths, and
    round-trips through a plain dict (the form stored in checkpoints)."""

    def __post_init__(self):
        self.widths = tuple(int(w) for w in self.widths)
        self.depths = tuple(int(d) for d in self.depths)
        self.decoder_widths = tuple(int(w) for w in self.decoder_widths)
        self.input_size = (int(self.input_size[0]), int(self.input_size[1]))
        if len(self.widths) != 5 or len(self.depths) != 4 or len(self.decoder_widths) != 4:
            raise ValueError(f"{type(self).__name__} needs 5 widths, 4 depths and "
                             "4 decoder_widths")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict):
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
        return cls(**data)
