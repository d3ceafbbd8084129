"""The koala colorization network: shapes of both heads, a frozen embedder in every mode, a pluggable
embedding network, a*b* decoding, and clear errors for what it cannot take."""
from __future__ import annotations

import pytest
import torch

from trivision.config import Phase
from trivision.engine.report import param_counts
from trivision.errors import TrivisionError
from trivision.models import create_model, model_info
from trivision.models.backbones import cached_weights_file, imagenet_weights
from trivision.tasks.colorize import ColorizeTask


@pytest.fixture(scope="module")
def mse_model():
    torch.manual_seed(0)
    return create_model("koala", image_size=64, pretrained=False, loss="mse")


@pytest.fixture(scope="module")
def classify_model():
    torch.manual_seed(0)
    return create_model("koala", image_size=64, pretrained=False, loss="classify")


def test_registered_for_colorize_at_256():
    info = model_info("koala")
    assert (info.task, info.input_size) == ("colorize", 256)


@pytest.mark.parametrize("size", [(64, 64), (32, 48)])
def test_mse_head_gives_ab_over_128_at_full_size(mse_model, size):
    out = mse_model.eval()(torch.rand(2, 1, *size))
    assert out.shape == (2, 2, *size)
    assert out.abs().max() <= 1.0  # tanh
    assert torch.allclose(mse_model.to_ab(out), out * 128)


@pytest.mark.parametrize("size", [(64, 64), (32, 48)])
def test_classify_head_gives_bin_logits_at_half_size(classify_model, size):
    out = classify_model.eval()(torch.rand(2, 1, *size))
    assert out.shape == (2, 261, size[0] // 2, size[1] // 2)
    ab = classify_model.to_ab(out)
    assert ab.shape == (2, 2, size[0] // 2, size[1] // 2)
    bins = classify_model.ab_bins
    assert (ab >= bins.min(0).values[None, :, None, None] - 1e-4).all()
    assert (ab <= bins.max(0).values[None, :, None, None] + 1e-4).all()


def test_annealed_mean_of_a_sure_bin_is_its_centre(classify_model):
    logits = torch.full((1, 261, 1, 1), -20.0)
    logits[0, 100] = 20.0
    assert torch.allclose(classify_model.to_ab(logits)[0, :, 0, 0], classify_model.ab_bins[100], atol=1e-3)


def test_the_labs_parameter_count(mse_model):
    counts = param_counts(mse_model)
    assert counts["trainable"] == 6_541_202  # encoder, fusion (256 + 1000 -> 256) and decoder
    assert counts["non_trainable"] > 3_000_000  # the frozen MobileNetV2 (3.5M weights) and its BatchNorm statistics


def test_the_embedder_stays_frozen_and_in_eval_mode(classify_model):
    task = ColorizeTask()
    task.set_phase(classify_model, Phase("train"))
    classify_model.train()
    assert classify_model.encoder.training and not classify_model.embedder.training
    assert not any(m.training for m in classify_model.embedder.modules())
    assert not any(p.requires_grad for p in classify_model.embedder.parameters())
    assert all(p.requires_grad for p in classify_model.encoder.parameters())
    classify_model(torch.rand(2, 1, 32, 32)).sum().backward()
    assert classify_model.encoder[0][0].weight.grad is not None
    assert all(p.grad is None for p in classify_model.embedder.parameters())
    classify_model.zero_grad(set_to_none=True)
    with pytest.raises(TrivisionError, match="koala has none to freeze"):
        task.set_phase(classify_model, Phase("frozen", freeze_backbone=True))


def test_the_embedding_is_a_probability_per_image(mse_model):
    probs = mse_model.embed(torch.rand(3, 1, 40, 24))
    assert probs.shape == (3, 1000)
    assert torch.allclose(probs.sum(1), torch.ones(3), atol=1e-5)


def test_the_embedding_network_is_pluggable():
    model = create_model("koala", image_size=32, pretrained=False, backbone="mobilenet_v3_small")
    assert type(model.embedder).__name__ == "MobileNetV3"
    assert model.eval()(torch.rand(1, 1, 32, 32)).shape == (1, 2, 32, 32)


def test_pretrained_imagenet_weights_load_offline():
    if not cached_weights_file(imagenet_weights("mobilenet_v2")).exists():
        pytest.skip("MobileNetV2's ImageNet weights are not in torch's hub cache (make install puts them there)")
    model = create_model("koala", image_size=32, pretrained=True)
    reference = torch.load(cached_weights_file(imagenet_weights("mobilenet_v2")), map_location="cpu")
    assert torch.equal(model.embedder.classifier[1].weight, reference["classifier.1.weight"])


@pytest.mark.parametrize("kwargs, message", [
    ({"image_size": 100}, "image size 100 is not a multiple of 8"),
    ({"loss": "l1"}, "unknown colorize loss 'l1' (use mse or classify)"),
    ({"backbone": "nonet"}, "unknown embedding network 'nonet'"),
])
def test_what_koala_refuses(kwargs, message):
    with pytest.raises(TrivisionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        create_model("koala", pretrained=False, **kwargs)


def test_prior_correction_undoes_the_rebalancing_weights():
    """A network trained with weighted cross-entropy predicts p(bin) x weight(bin); a prior correction of 1
    decodes the calibrated p, 0 the rebalanced one."""
    model = create_model("koala", loss="classify", pretrained=False)
    bins = len(model.ab_bins)
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(bins, generator=g), 0)
    model.bin_weights.copy_(torch.rand(bins, generator=g) * 10 + 0.1)
    rebalanced = (p * model.bin_weights).log()[None, :, None, None]
    model.temperature.fill_(1.0)
    model.prior_correction.fill_(1.0)
    assert torch.allclose(model.to_ab(rebalanced)[0, :, 0, 0], p @ model.ab_bins, atol=1e-4)
    model.prior_correction.fill_(0.0)
    rb = p * model.bin_weights
    assert torch.allclose(model.to_ab(rebalanced)[0, :, 0, 0], (rb / rb.sum()) @ model.ab_bins, atol=1e-4)


def test_koala_spatial_adds_the_embedders_feature_map_to_the_fusion():
    torch.manual_seed(0)
    plain = create_model("koala", image_size=64, pretrained=False, loss="classify")
    spatial = create_model("koala-spatial", image_size=64, pretrained=False, loss="classify")
    assert model_info("koala-spatial").task == "colorize"
    # the fusion's 1x1 convolution takes MobileNetV2's 1280 feature channels besides the encoder and the classes
    extra = param_counts(spatial)["trainable"] - param_counts(plain)["trainable"]
    assert extra == 1280 * 256
    # the embedder's weights are saved once: its feature part is looked up, not a second registered module
    assert set(spatial.state_dict()) == set(plain.state_dict())
    for size in [(64, 64), (32, 48), (40, 24)]:  # any grid, whatever the feature map's rounding
        assert spatial.eval()(torch.rand(1, 1, *size)).shape == (1, 261, size[0] // 2, size[1] // 2)


def test_koala_spatial_features_vary_over_the_grid_where_the_classes_do_not():
    torch.manual_seed(0)
    model = create_model("koala-spatial", image_size=64, pretrained=False, loss="classify").eval()
    light = torch.zeros(1, 1, 128, 128)
    light[..., :, 64:] = 1.0  # dark left half, bright right half
    features = model.embed_spatial(light, (16, 16))
    assert features.shape == (1, 1280, 16, 16)
    left, right = features[..., :, :4], features[..., :, -4:]
    # relative: an untrained MobileNetV2 in eval mode gives tiny activations
    assert (left.mean((-1, -2)) - right.mean((-1, -2))).abs().max() > 0.1 * features.abs().max()


def test_koala_pyramid_fuses_the_embedders_maps_from_an_eighth_of_the_photo_down():
    torch.manual_seed(0)
    plain = create_model("koala", image_size=64, pretrained=False, loss="classify")
    pyramid = create_model("koala-pyramid", image_size=64, pretrained=False, loss="classify").eval()
    # MobileNetV2's last layers at 1/8, 1/16 and 1/32: 32, 96 and 1280 channels
    assert pyramid.map_ends == [6, 13, 18]
    assert param_counts(pyramid)["trainable"] - param_counts(plain)["trainable"] == (32 + 96 + 1280) * 256
    assert set(pyramid.state_dict()) == set(plain.state_dict())
    light = torch.rand(1, 1, 64, 64)
    maps = pyramid.embed_spatial(light, (8, 8))
    assert maps.shape == (1, 32 + 96 + 1280, 8, 8)
    # its last 1280 channels are koala-spatial's map: the same embedder, the same layers
    spatial = create_model("koala-spatial", image_size=64, pretrained=False, loss="classify").eval()
    spatial.embedder.load_state_dict(pyramid.embedder.state_dict())
    assert torch.allclose(maps[:, -1280:], spatial.embed_spatial(light, (8, 8)), atol=1e-6)
    for size in [(64, 64), (32, 48), (40, 24)]:
        assert pyramid(torch.rand(1, 1, *size)).shape == (1, 261, size[0] // 2, size[1] // 2)
