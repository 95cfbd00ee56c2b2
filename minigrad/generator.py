"""`mg.Generator`: torch.Generator's seeding methods on a NumPy random generator.

minigrad's ``generator=`` arguments (`DataLoader`, `random_split`, the samplers,
`checkpoint`'s ``generators``) take a ``numpy.random.Generator``. torch code builds
its generator as ``torch.Generator().manual_seed(42)``; `mg.Generator` is a NumPy
Generator with torch's methods, so that line ports as ``mg.Generator().manual_seed(42)``
and the result goes wherever a NumPy Generator goes.

The numbers are NumPy's (PCG64), not torch's (Mersenne Twister): one seed gives a
reproducible order here, but not the order torch gives for that seed.
"""
from __future__ import annotations

import numbers

from . import backend as _B

np = _B.np  # host-side random draws (samplers and splits draw on the host)

__all__ = ["Generator"]

_DEFAULT_SEED = 67280421310721  # torch's default seed of a new Generator
_SEED_MOD = 2 ** 64  # torch takes seeds in [-2**63, 2**64) and wraps negative ones modulo 2**64


class Generator(np.random.Generator):
    """A seedable random generator with torch.Generator's methods (a ``numpy.random.Generator``).

    Args:
        device: 'cpu' (every minigrad sampler and split draws on the host).

    Example::

        g = mg.Generator().manual_seed(0)
        train, val = mg.utils.data.random_split(ds, [0.8, 0.2], generator=g)
    """

    def __init__(self, device="cpu"):
        dev = _B.parse_device(device)
        if dev != "cpu":
            raise ValueError(f"Generator: device {device!r} is not supported; minigrad's generators draw on the host "
                             "(use device='cpu'; samplers and splits need host indices anyway)")
        super().__init__(np.random.PCG64(_DEFAULT_SEED))
        self.device = dev
        self._initial_seed = _DEFAULT_SEED

    def manual_seed(self, seed) -> "Generator":
        """Restart the stream from `seed` (an int; negative ones wrap modulo 2**64 as in torch); returns self."""
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"Generator.manual_seed: seed must be an int, got {type(seed).__name__}")
        seed = int(seed)
        if not -(2 ** 63) <= seed < _SEED_MOD:
            raise RuntimeError(f"Generator.manual_seed: seed must be in [-2**63, 2**64), got {seed}")
        seed %= _SEED_MOD
        self.bit_generator.state = np.random.PCG64(seed).state
        self._initial_seed = seed
        return self

    def seed(self) -> int:
        """Reseed from fresh OS entropy and return the new seed."""
        new = int(np.random.SeedSequence().entropy) % _SEED_MOD
        self.manual_seed(new)
        return new

    def initial_seed(self) -> int:
        """The seed of the last `manual_seed` / `seed` (torch's default seed for a new Generator)."""
        return self._initial_seed

    def get_state(self) -> dict:
        """The stream position (NumPy's bit-generator state dict; torch returns a ByteTensor)."""
        return self.bit_generator.state

    def set_state(self, state: dict) -> "Generator":
        """Return to a position taken with `get_state`; returns self."""
        self.bit_generator.state = state
        return self
