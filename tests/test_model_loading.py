"""Checkpoint formats, strict loading and clear refusals; the full-size FetalCLIP architecture."""

from __future__ import annotations

import pytest

from fetalviewer.errors import WeightsMismatch, WeightsNotFound
from fetalviewer.model.checkpoint import check_state_dict, read_state_dict
from fetalviewer.model.loader import load_checkpoint, register_config

pytest_plugins = ["tests.model_fixtures"]


def _same(a, b):
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _loaded_state(loaded):
    return {k: v.detach() for k, v in loaded.model.state_dict().items()}


def test_official_checkpoint_with_module_prefix_loads_strictly(tiny_weights, tiny_config, tiny_state):
    loaded = load_checkpoint(tiny_weights, tiny_config, device="cpu")
    assert _same(_loaded_state(loaded), tiny_state)
    assert loaded.info.config_name == "FetalCLIP_tiny_test"
    assert loaded.info.weights_size_bytes == tiny_weights.stat().st_size
    assert loaded.info.licence == "CC BY-NC 4.0"
    assert loaded.info.device == "cpu" and loaded.info.dtype == "float32"


@pytest.mark.parametrize("fmt", ["official-no-prefix", "plain", "plain-module", "safetensors", "legacy"])
def test_other_checkpoint_formats_load_the_same_tensors(fmt, tmp_path, tiny_config, tiny_state):
    import torch
    from safetensors.torch import save_file

    path = tmp_path / ("w.safetensors" if fmt == "safetensors" else "w.pt")
    if fmt == "official-no-prefix":
        torch.save({"state_dict": tiny_state, "epoch": 1}, path)
    elif fmt == "plain":
        torch.save(tiny_state, path)
    elif fmt == "plain-module":
        torch.save({"module." + k: v for k, v in tiny_state.items()}, path)
    elif fmt == "safetensors":
        save_file({k: v.contiguous() for k, v in tiny_state.items()}, str(path))
    else:
        torch.save({"state_dict": tiny_state}, path, _use_new_zipfile_serialization=False)
    assert _same(read_state_dict(path), tiny_state)
    assert _same(_loaded_state(load_checkpoint(path, tiny_config)), tiny_state)


def test_wrong_shape_is_refused_naming_the_tensor(tmp_path, tiny_config, tiny_state):
    import torch

    bad = dict(tiny_state)
    bad["visual.conv1.weight"] = torch.zeros(32, 3, 16, 16)
    torch.save({"state_dict": bad, "epoch": 0}, tmp_path / "bad.pt")
    with pytest.raises(
        WeightsMismatch, match=r"visual\.conv1\.weight: expected shape \[32,3,14,14\], found \[32,3,16,16\]"
    ):
        load_checkpoint(tmp_path / "bad.pt", tiny_config)


def test_missing_and_unexpected_keys_are_counted_and_named(tmp_path, tiny_config, tiny_state):
    import torch

    keys = list(tiny_state)
    half = {k: tiny_state[k] for k in keys[: len(keys) // 2]}
    half["extra.weight"] = torch.zeros(1)
    torch.save({"state_dict": half}, tmp_path / "half.pt")
    with pytest.raises(WeightsMismatch) as err:
        load_checkpoint(tmp_path / "half.pt", tiny_config)
    message = str(err.value)
    assert f"expected {len(keys)} tensors, found {len(keys) // 2 + 1}" in message
    assert keys[-1] in message or "missing keys" in message
    assert "unexpected keys: extra.weight" in message
    assert str(tmp_path / "half.pt") in message


def test_truncated_empty_and_foreign_files_are_refused(tmp_path, tiny_weights, tiny_config):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(tiny_weights.read_bytes()[: tiny_weights.stat().st_size // 2])
    with pytest.raises(WeightsMismatch, match="truncated.pt is truncated or not a PyTorch checkpoint"):
        load_checkpoint(truncated, tiny_config)
    text = tmp_path / "notes.pt"
    text.write_text("this is not a checkpoint\n" * 10)
    with pytest.raises(WeightsMismatch, match="notes.pt is truncated or not a PyTorch checkpoint"):
        load_checkpoint(text, tiny_config)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(WeightsMismatch, match="empty"):
        load_checkpoint(empty, tiny_config)
    with pytest.raises(WeightsNotFound, match="nothere.pt"):
        load_checkpoint(tmp_path / "nothere.pt", tiny_config)


def test_config_errors_are_clear(tmp_path, tiny_weights):
    bad = tmp_path / "NotAConfig.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(WeightsMismatch, match="not an open_clip model config"):
        load_checkpoint(tiny_weights, bad)


def test_checkpoint_for_another_config_is_refused(tiny_weights):
    # the tiny checkpoint against the full FetalCLIP config: counts agree (same family), shapes do not
    with pytest.raises(WeightsMismatch) as err:
        load_checkpoint(tiny_weights)
    assert "expected 446 tensors, found 326" in str(err.value)
    assert "positional_embedding: expected shape [117,768], found [117,32]" in str(err.value)


def test_full_size_fetalclip_architecture_has_reference_shapes_and_loads_strictly():
    """Built on the meta device: no memory, no weights file, but the real config and loader checks."""
    import torch

    from fetalviewer.model.loader import build_model

    name, cfg = register_config()
    assert name == "FetalCLIP_config" and cfg["text_cfg"]["context_length"] == 117
    with torch.device("meta"):
        model = build_model(name, device="meta")
    state = model.state_dict()
    assert len(state) == 446
    assert sum(v.numel() for v in state.values()) == 427_647_233
    assert sum(p.numel() for p in model.visual.parameters()) == 303_966_208
    assert isinstance(model.visual.transformer.resblocks[0].mlp.gelu, torch.nn.GELU)
    checkpoint = {"module." + k: torch.empty_like(v) for k, v in state.items()}
    from fetalviewer.model.checkpoint import unwrap_state_dict

    unwrapped = unwrap_state_dict({"state_dict": checkpoint, "epoch": 9})
    check_state_dict(state, unwrapped, "FetalCLIP_weights.pt")
    model.load_state_dict(unwrapped, strict=True, assign=True)
    wrong = dict(unwrapped)
    wrong["visual.conv1.weight"] = torch.empty(1024, 3, 16, 16, device="meta")
    with pytest.raises(
        WeightsMismatch,
        match=r"visual\.conv1\.weight: expected shape \[1024,3,14,14\], found \[1024,3,16,16\]",
    ):
        check_state_dict(state, wrong, "FetalCLIP_weights.pt")
    few = dict(list(unwrapped.items())[:212])
    with pytest.raises(WeightsMismatch, match="expected 446 tensors, found 212"):
        check_state_dict(state, few, "FetalCLIP_weights.pt")


def test_blocks_and_text_trimming(tiny_loaded):
    import torch

    from fetalviewer.model.text_encode import can_trim, encode_tokens

    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    feats, maps = tiny_loaded.encode_image_with_blocks(x)
    assert sorted(maps) == [6, 8, 12, 24]
    assert maps[24].shape == (2, 32, 16, 16)
    with torch.inference_mode():
        plain = tiny_loaded.model.encode_image(x)
    torch.testing.assert_close(feats, plain)
    with pytest.raises(ValueError, match="blocks"):
        tiny_loaded.encode_image_with_blocks(x, blocks=(0, 25))
    tokens = tiny_loaded.tokenize(["short", "a somewhat longer prompt about the fetal brain and thalamus"])
    assert can_trim(tiny_loaded.model)
    with torch.inference_mode():
        full = tiny_loaded.model.encode_text(tokens)
        trimmed = encode_tokens(tiny_loaded.model, tokens)
    torch.testing.assert_close(trimmed, full, atol=1e-5, rtol=1e-5)


def test_fast_meta_load_equals_a_plain_build_and_copy(tiny_state, tiny_config):
    import torch

    from fetalviewer.model.checkpoint import load_into
    from fetalviewer.model.loader import build_and_load, build_model

    name, _ = register_config(tiny_config)
    fast = build_and_load(name, dict(tiny_state), "tiny")
    plain = build_model(name)
    load_into(plain, tiny_state, "tiny")
    assert not any(t.is_meta for t in list(fast.parameters()) + list(fast.buffers()))
    assert torch.equal(fast.attn_mask, plain.attn_mask)
    assert _same({k: v for k, v in fast.state_dict().items()}, tiny_state)
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in tiny_state.items()}
    assert all(p.dtype == torch.float32 for p in build_and_load(name, half, "tiny-fp16").parameters())
    tokens = torch.tensor([[49406, 320, 1125, 49407] + [0] * 113])
    with torch.inference_mode():
        torch.testing.assert_close(fast.encode_text(tokens), plain.encode_text(tokens), rtol=0, atol=0)
        x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
        torch.testing.assert_close(fast.encode_image(x), plain.encode_image(x), rtol=0, atol=0)
