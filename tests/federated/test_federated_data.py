"""Each client rebuilds its own partition from the seed: sites differ, alpha skews labels,
and the held-out set is data no client trains on."""

from __future__ import annotations

import numpy as np

from sciot.federated import FederatedSettings, client_train_set, held_out_set, pooled_train_set


def _settings(**kwargs: object) -> FederatedSettings:
    base: dict[str, object] = {
        "clients": 6,
        "samples_per_client": 64,
        "test_samples_per_client": 16,
    }
    base.update(kwargs)
    return FederatedSettings(**base)  # type: ignore[arg-type]


def test_a_client_rebuilds_the_same_partition() -> None:
    settings = _settings()
    first, again = client_train_set(settings, 2), client_train_set(settings, 2)
    np.testing.assert_array_equal(first.x, again.x)
    np.testing.assert_array_equal(first.y, again.y)
    assert first.x.shape == (64, 128, 3)
    assert first.x.dtype == np.float32


def test_sites_have_their_own_conditions() -> None:
    settings = _settings()
    parts = [client_train_set(settings, k) for k in range(settings.clients)]
    assert not np.array_equal(parts[0].x, parts[1].x)
    rates = [float(p.y.mean()) for p in parts]
    assert max(rates) - min(rates) > 0.1, rates
    pooled = pooled_train_set(settings)
    assert 0.1 < float(pooled.y.mean()) < 0.9
    assert len(pooled) == settings.clients * 64


def test_small_alpha_gives_clients_that_see_mostly_one_class() -> None:
    natural = _settings()
    skewed = _settings(alpha=0.1)

    def majority_share(settings: FederatedSettings) -> float:
        shares = []
        for k in range(settings.clients):
            y = client_train_set(settings, k).y
            shares.append(max(float(y.mean()), 1.0 - float(y.mean())))
        return float(np.mean(shares))

    assert majority_share(skewed) > 0.9
    assert majority_share(skewed) > majority_share(natural) + 0.1


def test_held_out_set_is_later_unskewed_data_of_every_client() -> None:
    settings = _settings(alpha=0.1)
    test = held_out_set(settings)
    assert len(test) == settings.clients * 16
    train = pooled_train_set(settings)
    seen = {row.tobytes() for row in train.x}
    assert not any(row.tobytes() in seen for row in test.x)
    assert 0.05 < float(test.y.mean()) < 0.95


def test_fomo_partitions_are_scenes_with_centroid_maps() -> None:
    settings = _settings(model="fomo", samples_per_client=12, test_samples_per_client=4, alpha=0.5)
    data = client_train_set(settings, 0)
    assert data.x.shape == (12, 96, 96, 3)
    assert data.y.shape == (12, 12, 12)
    assert set(np.unique(data.partition_labels())) <= {0, 1, 2, 3}
