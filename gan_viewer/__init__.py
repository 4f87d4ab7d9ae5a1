"""gan-viewer: inspect cryo-EM particles raw, GAN-recovered and against a reference projection.

From Python: ``from gan_viewer import api`` (open particles, project, denoise, simulate, train,
evaluate, export; see :mod:`gan_viewer.api`).
"""

__version__ = "0.1.0"
__all__ = ["__version__", "api"]
