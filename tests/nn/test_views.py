import pickle

import pytest
import torch

from skdomainclust.nn.views import (
    FeatureView,
    IdentityView,
    ImageView,
    intensity_jitter,
    random_crop_resize,
    random_flip,
    view_pair,
)


def test_feature_view_noise_is_scaled_per_dimension():
    torch.manual_seed(0)
    X = torch.randn(4000, 3) * torch.tensor([1.0, 10.0, 0.1])
    view = FeatureView(noise=0.5).set_scale(X)
    torch.testing.assert_close(view.std, X.std(dim=0))
    delta = view(X) - X
    ratio = delta.std(dim=0) / X.std(dim=0)
    torch.testing.assert_close(ratio, torch.full((3,), 0.5), atol=0.03, rtol=0)


def test_feature_view_masking_and_jitter():
    torch.manual_seed(0)
    X = torch.ones(2000, 50)
    masked = FeatureView(noise=0.0, mask_prob=0.3)(X)
    assert set(masked.unique().tolist()) == {0.0, 1.0}
    assert abs((masked == 0).float().mean().item() - 0.3) < 0.01
    jittered = FeatureView(noise=0.0, jitter=0.1)(X)
    # One factor per row.
    assert torch.allclose(jittered, jittered[:, :1].expand_as(jittered))
    assert abs(jittered[:, 0].std().item() - 0.1) < 0.01


def test_constant_dimensions_get_unit_scale_and_bad_params_are_rejected():
    view = FeatureView(noise=0.1).set_scale(torch.ones(5, 2))
    torch.testing.assert_close(view.std, torch.ones(2))
    with pytest.raises(ValueError, match="mask_prob"):
        FeatureView(mask_prob=1.0)


def test_views_are_identity_in_eval_mode_and_reproducible_under_a_seed():
    X = torch.rand(4, 3, 8, 8)
    for view in (FeatureView(noise=0.3, mask_prob=0.2, jitter=0.1), ImageView(max_rotation=20)):
        data = X.flatten(1) if isinstance(view, FeatureView) else X
        torch.manual_seed(3)
        first = view(data)
        torch.manual_seed(3)
        torch.testing.assert_close(view(data), first)
        assert not torch.equal(first, data)
        view.eval()
        assert view(data) is data
    assert IdentityView()(X) is X


def test_full_crop_without_rotation_is_the_identity():
    X = torch.rand(3, 2, 9, 7)
    out = random_crop_resize(X, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    torch.testing.assert_close(out, X, atol=1e-5, rtol=0)


def test_crop_zooms_in():
    # A centred bright square grows when a crop is resized back to the full image.
    X = torch.zeros(16, 1, 32, 32)
    X[:, :, 12:20, 12:20] = 1.0
    torch.manual_seed(0)
    out = random_crop_resize(X, scale=(0.25, 0.25), ratio=(1.0, 1.0))
    assert out.shape == X.shape
    assert (out.sum(dim=(1, 2, 3)) > X.sum(dim=(1, 2, 3))).float().mean() > 0.5


def test_flip_and_grayscale():
    X = torch.rand(5, 3, 4, 6)
    torch.testing.assert_close(random_flip(X, p=1.0), X.flip(-1))
    torch.testing.assert_close(random_flip(X, p=0.0), X)
    grey = intensity_jitter(X, 0.0, 0.0, 0.0, grayscale_prob=1.0)
    torch.testing.assert_close(grey[:, 0], grey[:, 1])
    torch.testing.assert_close(grey[:, 1], grey[:, 2])
    torch.testing.assert_close(intensity_jitter(X, 0.0, 0.0, 0.0), X)


def test_contrast_keeps_mean_and_brightness_scales():
    torch.manual_seed(0)
    X = torch.rand(6, 1, 8, 8)
    out = intensity_jitter(X, brightness=0.0, contrast=0.5, saturation=0.0)
    torch.testing.assert_close(out.mean(dim=(1, 2, 3)), X.mean(dim=(1, 2, 3)))
    bright = intensity_jitter(X, brightness=0.5, contrast=0.0, saturation=0.0)
    factor = bright / X
    torch.testing.assert_close(factor, factor[:, :1, :1, :1].expand_as(factor))


def test_image_view_rejects_vectors_and_pickles():
    view = ImageView()
    with pytest.raises(ValueError, match="B, C, H, W"):
        view(torch.rand(4, 10))
    restored = pickle.loads(pickle.dumps(view))
    assert repr(restored) == repr(view)


def test_view_pair_copies_the_given_views_and_rejects_anything_else():
    default = (IdentityView(), IdentityView())
    assert view_pair(None, default) is default
    given = (FeatureView(noise=0.3), FeatureView(noise=0.1))
    first, second = view_pair(given, default)
    assert first is not given[0] and first.noise == 0.3 and second.noise == 0.1
    for bad in ("noise", (FeatureView(),), (FeatureView(), "mask")):
        with pytest.raises(TypeError, match="views|torch.nn.Module"):
            view_pair(bad, default, names=("query", "key"))
