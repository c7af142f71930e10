"""Tests of WindowOrder, the seeded per-epoch permutation of window ranks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsfeed.shuffle import WindowOrder


def full_order(size: int, seed: int | None, epoch: int = 0) -> list[int]:
    return WindowOrder(size, seed=seed, epoch=epoch).ranks(np.arange(size)).tolist()


@pytest.mark.parametrize("size", [0, 1, 2, 3, 7, 8, 1000])
@pytest.mark.parametrize("seed", [0, 7, 2**40 + 3])
def test_window_order_is_bijection(size, seed):
    order = full_order(size, seed)

    assert sorted(order) == list(range(size))


@given(size=st.integers(0, 5000), seed=st.integers(0, 2**63 - 1), epoch=st.integers(0, 1000))
def test_window_order_is_bijection_random(size, seed, epoch):
    order = full_order(size, seed, epoch)

    assert sorted(order) == list(range(size))


@pytest.mark.parametrize("size", [0, 1, 5, 1000])
def test_window_order_seed_none_is_identity(size):
    assert full_order(size, seed=None) == list(range(size))
    assert full_order(size, seed=None, epoch=3) == list(range(size))


def test_window_order_same_seed_and_epoch_repeat():
    first = full_order(500, seed=11, epoch=4)
    second = full_order(500, seed=11, epoch=4)

    assert first == second


def test_window_order_epochs_differ():
    orders = [tuple(full_order(100, seed=11, epoch=epoch)) for epoch in range(5)]

    assert len(set(orders)) == 5


def test_window_order_seeds_differ():
    assert full_order(100, seed=1) != full_order(100, seed=2)


def test_window_order_batches_agree_with_full_order():
    # A batch of positions maps to the same ranks as those positions in the full order, which
    # is what lets an epoch resume from any position.
    order = WindowOrder(1000, seed=3, epoch=2)
    full = order.ranks(np.arange(1000))

    assert order.ranks(np.arange(250, 260)).tolist() == full[250:260].tolist()
    assert order.ranks([999, 0, 500]).tolist() == [full[999], full[0], full[500]]


def test_window_order_large_size_stays_in_range():
    size = 3 * 10**10 + 7
    order = WindowOrder(size, seed=5)

    ranks = order.ranks(np.arange(size - 1000, size))

    assert ranks.min() >= 0
    assert ranks.max() < size
    assert len(np.unique(ranks)) == 1000


def test_window_order_pinned_seed_7():
    # These values fix the order of every seeded run, so change them only together with a
    # deliberate change to the shuffle.
    order = WindowOrder(100, seed=7, epoch=0)

    assert order.ranks(np.arange(10)).tolist() == [51, 22, 89, 29, 38, 92, 19, 44, 54, 48]


@pytest.mark.parametrize("position", [-1, 10, 11], ids=["negative", "size", "past-size"])
def test_window_order_position_out_of_range(position):
    order = WindowOrder(10, seed=7)

    with pytest.raises(IndexError, match=r"\[0, 10\)"):
        order.ranks([position])


def test_window_order_negative_size_raises():
    with pytest.raises(ValueError, match="size must be non-negative"):
        WindowOrder(-1, seed=7)
