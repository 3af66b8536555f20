"""Identities every f-divergence of Nowozin et al. (Tables 1-2) must satisfy."""

import math

import pytest
import torch

from ganlab.objectives.divergences import NAMES, get_divergence

U = torch.cat(
    [torch.logspace(-3, 3, 400, dtype=torch.float64), torch.tensor([0.5, 2.0], dtype=torch.float64)]
)
U = U[(U - 1.0).abs() > 1e-9]  # tv's f' jumps at u = 1
V = torch.linspace(-20, 20, 801, dtype=torch.float64)


def test_registry_lists_every_divergence_and_rejects_unknown_names():
    assert set(NAMES) == {"kl", "reverse_kl", "pearson", "neyman", "hellinger", "js", "gan", "tv"}
    with pytest.raises(ValueError, match="valid names: kl, reverse_kl, pearson"):
        get_divergence("chi")


@pytest.mark.parametrize("name", NAMES)
def test_f_vanishes_at_one(name):
    one = torch.ones(1, dtype=torch.float64)
    expected = -math.log(4.0) if name == "gan" else 0.0
    assert get_divergence(name).f(one).item() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_conjugate_at_derivative_is_legendre_transform(name):
    d = get_divergence(name)
    slope = d.f_prime(U)
    torch.testing.assert_close(d.conjugate(slope), U * slope - d.f(U), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_fenchel_young_inequality_on_a_grid(name):
    d = get_divergence(name)
    u = U[:, None]
    t = torch.linspace(-5, 5, 301, dtype=torch.float64)[None, :]
    gap = d.f(u) + d.conjugate(t) - u * t
    assert (gap >= -1e-9).all()
    assert torch.isinf(d.conjugate(t)).any() == (d.domain_low > -5 or d.domain_high < 5)


@pytest.mark.parametrize("name", NAMES)
def test_activation_maps_the_real_line_into_the_conjugate_domain(name):
    d = get_divergence(name)
    assert d.in_domain(d.activation(V)).all()
    assert torch.isfinite(d.conjugate_of_activation(V)).all()


@pytest.mark.parametrize("name", NAMES)
def test_stable_form_equals_the_composition(name):
    d = get_divergence(name)
    v = torch.linspace(-8, 8, 321, dtype=torch.float64)
    composed = d.conjugate(d.activation(v))
    finite = torch.isfinite(composed)
    assert finite.float().mean() > 0.95
    torch.testing.assert_close(
        d.conjugate_of_activation(v)[finite], composed[finite], rtol=1e-7, atol=1e-9
    )


@pytest.mark.parametrize("name", NAMES)
def test_stable_form_has_finite_gradients_for_large_critic_outputs(name):
    d = get_divergence(name)
    v = torch.tensor([-60.0, -30.0, 0.0, 30.0], requires_grad=True)
    (d.activation(v).sum() - d.conjugate_of_activation(v[:2]).sum()).backward()
    assert torch.isfinite(v.grad).all()


def test_variational_bound_is_zero_for_equal_samples_at_the_optimal_constant_critic():
    # P = Q: the optimal T is f'(1); for pearson g_f = id and f'(1) = 0 -> bound 0
    d = get_divergence("pearson")
    x = torch.randn(100)
    assert d.variational_bound(torch.zeros_like(x), torch.zeros_like(x)).item() == 0.0
