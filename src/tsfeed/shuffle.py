"""Seeded permutations of window ranks that need no memory per window.

A training epoch visits every window once in an order that is a pure function of
``(seed, epoch)``. Holding a shuffled array of all ranks would cost 8 bytes per window (about
300 MB for 20,000 series of 2,000 steps), so the order comes from a keyed bijection on
``[0, size)`` instead: an unbalanced Feistel network on the smallest number of bits that covers
``size``, with cycle walking to stay inside the range (fewer than 2 rounds of walking on
average, because that domain is less than twice ``size``). Any batch of positions maps to ranks
in O(batch) time, which also makes an epoch resumable from any position.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["WindowOrder", "draw_seed"]

_NUM_ROUNDS = 6
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def draw_seed() -> int:
    """Draw a fresh 32-bit seed from the operating system's entropy."""
    return int(np.random.SeedSequence().generate_state(1, dtype=np.uint32)[0])


def _mix(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    # splitmix64 finalizer: a fast, well-tested 64-bit avalanche function.
    values = (values ^ (values >> np.uint64(30))) * _MIX_1
    values = (values ^ (values >> np.uint64(27))) * _MIX_2
    result: npt.NDArray[np.uint64] = values ^ (values >> np.uint64(31))
    return result


class WindowOrder:
    """The order in which one epoch visits the ranks ``0 .. size - 1``.

    Args:
        size: Number of ranks to permute.
        seed: Seed of the run, or None for the identity order (no shuffling).
        epoch: Epoch number. Each epoch of one seed has its own order.

    Example:
        >>> order = WindowOrder(10, seed=7, epoch=0)
        >>> sorted(order.ranks(np.arange(10)).tolist()) == list(range(10))
        True
    """

    def __init__(self, size: int, seed: int | None, epoch: int = 0) -> None:
        if size < 0:
            raise ValueError(f"size must be non-negative, got {size}.")
        self.size = int(size)
        self.seed = seed
        self.epoch = int(epoch)
        bits = max(2, int(self.size - 1).bit_length())
        self._left_bits = bits // 2
        self._right_bits = bits - self._left_bits
        if seed is None:
            self._round_keys: npt.NDArray[np.uint64] = np.zeros(0, dtype=np.uint64)
        else:
            sequence = np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, self.epoch])
            self._round_keys = sequence.generate_state(_NUM_ROUNDS, dtype=np.uint64).astype(
                np.uint64
            )

    def ranks(self, positions: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Map positions in this epoch's order to window ranks.

        Raises:
            IndexError: If a position is outside ``[0, size)``.
        """
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size and (positions.min() < 0 or positions.max() >= self.size):
            raise IndexError(
                f"positions must lie in [0, {self.size}), got {positions.min()}..{positions.max()}."
            )
        if self.seed is None:
            identity: npt.NDArray[np.int64] = positions.copy()
            return identity
        values = positions.astype(np.uint64)
        outside = np.ones(values.shape, dtype=bool)
        # Cycle walking: re-encrypt values that land outside the range until they come back in.
        # Because the network permutes the whole power-of-two domain, every cycle returns.
        while outside.any():
            values[outside] = self._encrypt(values[outside])
            outside = values >= np.uint64(self.size)
        ranks: npt.NDArray[np.int64] = values.astype(np.int64)
        return ranks

    def _encrypt(self, values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
        left_bits, right_bits = self._left_bits, self._right_bits
        left = values >> np.uint64(right_bits)
        right = values & np.uint64((1 << right_bits) - 1)
        masks = (np.uint64((1 << left_bits) - 1), np.uint64((1 << right_bits) - 1))
        for round_number, key in enumerate(self._round_keys):
            # The halves may differ by one bit, so they swap widths every round.
            mixed = _mix(right ^ key) & masks[round_number % 2]
            left, right = right, left ^ mixed
        if len(self._round_keys) % 2:
            left_bits, right_bits = right_bits, left_bits
        encrypted: npt.NDArray[np.uint64] = (left << np.uint64(right_bits)) | right
        return encrypted
