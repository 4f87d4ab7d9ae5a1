"""Simulation: density maps, reference projections (RELION conventions), CTF, training pairs.

Modules here may import torch, never Qt. Import the submodules directly
(``from gan_viewer.sim.project import project``); this file imports nothing heavy.
"""
