"""gan-viewer: inspect cryo-EM particles raw, GAN-recovered and against a reference projection."""

__version__ = "0.1.0"
