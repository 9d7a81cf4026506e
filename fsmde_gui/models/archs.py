"""Every architecture a checkpoint can name, registered in one place.

``load_checkpoint`` / ``build_model`` (:mod:`fsmde_gui.models.checkpoint`) build a model from
the ``arch`` name stored in the file. This module imports each architecture's module and
registers its builder; the package ``fsmde_gui.models`` imports it, so any import from the
package makes every shipped architecture loadable. A new architecture is one more
``register_arch`` line here; an architecture module that fails to import fails this import
with its own error.
"""
from __future__ import annotations

from torch import nn

from .briges import build_briges
from .checkpoint import register_arch
from .intrinsic import ARCH as REFLECTION_SSL_ARCH
from .intrinsic import build_reflection_ssl, upgrade_reflection_ssl_config
from .semantic_sim import build_semantic_sim
from .student import StudentConfig, StudentNet, upgrade_student_config
from .teacher_sim import TeacherConfig, TeacherSimNet


def build_student(config: dict) -> nn.Module:
    return StudentNet(StudentConfig.from_dict(config))


def build_teacher_sim(config: dict) -> nn.Module:
    return TeacherSimNet(TeacherConfig.from_dict(config))


register_arch("student", build_student, upgrade=upgrade_student_config)
register_arch("teacher_sim", build_teacher_sim)
register_arch("semantic_sim", build_semantic_sim)
register_arch("briges", build_briges)
register_arch(REFLECTION_SSL_ARCH, build_reflection_ssl, upgrade=upgrade_reflection_ssl_config)
