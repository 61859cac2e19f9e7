"""Training data throughput: augmented CropDataset samples/s through a DataLoader with 2 workers.

    pytest tests/benchmarks/test_bench_data.py --benchmark-enable

Each round iterates N_SAMPLES ytf68/train faces (JPEG decode, one affine crop through the C++
kernel, photometric augmentation, heatmap targets) and collates them into batches of 32.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
N_SAMPLES = 512


@pytest.fixture(scope="module")
def train():
    if not SHARED.is_dir():
        pytest.skip("../shared not found")
    from facekd.data import load_dataset

    return load_dataset(SHARED / "data" / "ytf68" / "train")


@pytest.mark.parametrize("input_size", [128, 256])
def test_bench_crop_dataset_2_workers(benchmark, train, input_size):
    from torch.utils.data import DataLoader, Subset

    from facekd.codecs import HeatmapCodec
    from facekd.data import AugmentConfig, CropDataset

    codec = HeatmapCodec(input_size, input_size // 4, 1.5)
    ds = CropDataset(train, codec, train.scheme, augment=AugmentConfig(), seed=0)
    n_samples = N_SAMPLES if benchmark.enabled else 64  # a quick smoke run in the normal suite
    loader = DataLoader(Subset(ds, range(n_samples)), batch_size=32, num_workers=2,
                        persistent_workers=True, prefetch_factor=4)
    next(iter(loader))  # start the workers outside the timing

    def epoch():
        n = 0
        for batch in loader:
            n += batch["image"].shape[0]
        return n

    n = benchmark.pedantic(epoch, rounds=3, iterations=1)
    assert n == n_samples
    if benchmark.enabled:  # with --benchmark-disable the round runs once, untimed
        benchmark.extra_info["samples_per_s"] = round(n_samples / benchmark.stats.stats.mean, 1)
