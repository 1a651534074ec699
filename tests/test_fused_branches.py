"""The inference service runs MobileFetalCLIP's image tower with its parallel train-time branches fused (same
function, faster on a CPU): its embeddings stay within 1e-5 of the unfused tower loaded from the same
checkpoint, and the FetalCLIP ViT is left as it is."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.model_fixtures", "tests.mobile_fixtures"]


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


def _branchy(model) -> int:
    """Modules of the image tower that still run parallel branches (timm keeps ``reparam_conv`` None then)."""
    return sum(
        1
        for m in model.visual.modules()
        if hasattr(m, "reparameterize") and getattr(m, "reparam_conv", 1) is None
    )


def test_mobile_tower_is_fused_and_equal_within_1e_5(tiny_mobile_weights):
    import torch
    from mobile_fixtures import tiny_mobile_config_path

    from fetalviewer.model.loader import load_checkpoint
    from fetalviewer.model.service import InferenceService

    config = tiny_mobile_config_path()
    service = InferenceService(tiny_mobile_weights, str(config), device="cpu", model="mobilefetalclip")
    try:
        service.load().result()
        fused = service.engine.loaded.model
    finally:
        service.shutdown()
    plain = load_checkpoint(tiny_mobile_weights, config, device="cpu").model
    assert _branchy(plain) > 0 and _branchy(fused) == 0
    pixels = torch.randn(3, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        a = fused.encode_image(pixels)
        b = plain.encode_image(pixels)
    assert torch.allclose(a, b, atol=1e-5, rtol=0), float((a - b).abs().max())


def test_vit_is_not_touched(tiny_weights):
    from model_fixtures import TINY_CONFIG

    from fetalviewer.model.loader import fuse_branches, load_checkpoint

    loaded = load_checkpoint(tiny_weights, TINY_CONFIG, device="cpu")
    assert fuse_branches(loaded.model) is False
