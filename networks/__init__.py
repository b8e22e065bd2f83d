"""StyleGAN2 / StyleGAN3 networks and safe pickle I/O.

``networks.stylegan3.Generator``, ``networks.stylegan2.Generator`` and ``networks.stylegan2.Discriminator`` take
NVlabs' constructor keywords; ``save_network_pkl`` / ``load_network_pkl`` write ours and read ours or NVlabs',
``load_generator`` returns the generator of either.
"""

from .atomic_io import atomic_write
from .errors import PickleError, UserError
from .loading import load_generator
from .persistence import persistent_class, rebuild
from .pickle_io import ModuleRecord, load_network_pkl, save_network_pkl

__all__ = [
    "ModuleRecord",
    "PickleError",
    "atomic_write",
    "load_generator",
    "load_network_pkl",
    "persistent_class",
    "rebuild",
    "save_network_pkl",
    "UserError",
]
