"""IGSO(3): the angle density (normalised, its limits, the two conventions) and the sampler against it."""

import math

import numpy as np
import pytest
import torch

from equiformers.errors import ConfigError
from equiformers.so3 import matrix_to_axis_angle
from equiformers.so3.igso3 import IGSO3, igso3_angle_density

F64 = torch.float64
GRID = torch.linspace(0, math.pi, 20001, dtype=F64)


def moment(density, power):
    return float(torch.trapezoid(density * GRID ** power, GRID))


@pytest.mark.parametrize("eps", [0.02, 0.1, 0.5, 2.0])
def test_density_is_normalised_and_non_negative(eps):
    p = igso3_angle_density(GRID, eps)
    assert abs(moment(p, 0) - 1) < 1e-9 and bool((p >= 0).all())


def test_small_scale_limit_is_an_isotropic_gaussian_rotation_vector():
    # Leach convention: w ~ N(0, eps^2 I3) for small eps, so |w| is Maxwell with E[w^2] = 3 eps^2
    eps = 0.05
    p = igso3_angle_density(GRID, eps)
    maxwell = math.sqrt(2 / math.pi) * GRID ** 2 / eps ** 3 * torch.exp(-GRID ** 2 / (2 * eps ** 2))
    assert float(torch.trapezoid((p - maxwell).abs(), GRID)) < 0.01
    assert moment(p, 2) == pytest.approx(3 * eps ** 2, rel=2e-3)


def test_diffab_convention_is_leach_with_a_sqrt2_larger_scale():
    assert torch.allclose(igso3_angle_density(GRID, 0.1, "diffab"), igso3_angle_density(GRID, 0.1 * math.sqrt(2)),
                          atol=1e-9)


def test_large_scale_is_the_uniform_haar_angle():
    assert torch.allclose(igso3_angle_density(GRID, 5.0), (1 - torch.cos(GRID)) / math.pi, atol=1e-9)


@pytest.mark.parametrize("eps, convention", [(0.1, "leach"), (0.1, "diffab"), (0.7, "leach")])
def test_sampled_angles_follow_the_density(eps, convention):
    n, bins = 200_000, 40
    angles = IGSO3(eps, convention).sample_angles(n, torch.Generator().manual_seed(0))
    p = igso3_angle_density(GRID, eps, convention)
    top = float(angles.max()) * 1.001
    edges = torch.linspace(0, top, bins + 1, dtype=F64)
    counts = torch.histc(angles, bins, 0, top)
    cdf = torch.cat([torch.zeros(1, dtype=F64), torch.cumulative_trapezoid(p, GRID)])
    expected = n * torch.diff(torch.from_numpy(np.interp(edges.numpy(), GRID.numpy(), cdf.numpy())))
    sigma = expected.clamp(min=1).sqrt()
    assert float(((counts - expected).abs() / sigma).max()) < 5  # every bin within 5 standard deviations
    for power in (1, 2):  # moments within 5 standard errors
        sample_mean = float(angles.pow(power).mean())
        error = float(angles.pow(power).std()) / math.sqrt(n)
        assert abs(sample_mean - moment(p, power)) < 5 * error


def test_rotation_vectors_are_isotropic_and_matrices_have_the_sampled_angles():
    sampler = IGSO3(0.3)
    w = sampler.sample(50_000, torch.Generator().manual_seed(1))
    axis = w / w.norm(dim=1, keepdim=True)
    assert float(axis.mean(0).abs().max()) < 0.02  # uniform axes have zero mean
    assert torch.allclose(axis.T @ axis / len(axis), torch.eye(3, dtype=F64) / 3, atol=0.01)
    R = sampler.sample_matrices(100, torch.Generator().manual_seed(2))
    angles = sampler.sample_angles(100, torch.Generator().manual_seed(2))
    assert torch.allclose(matrix_to_axis_angle(R).norm(dim=1), angles, atol=1e-9)


def test_draws_are_reproducible_and_scales_are_checked():
    a = IGSO3(0.1).sample(10, torch.Generator().manual_seed(5))
    b = IGSO3(0.1).sample(10, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="too small"):
        IGSO3(1e-3)
    with pytest.raises(ConfigError, match="convention"):
        IGSO3(0.1, "dffab")
    with pytest.raises(ConfigError, match="positive"):
        igso3_angle_density(GRID, 0.0)
