"""Build an open_clip model from a registered config and load a FetalCLIP or MobileFetalCLIP checkpoint strictly.

``load_checkpoint(weights_path, config_path=None)`` registers the config with the public
``open_clip.add_model_config`` (model name = file stem), builds ``open_clip.create_model(name,
pretrained=None)``, reads the checkpoint (:mod:`fetalviewer.model.checkpoint`), maps MobileCLIP-style
image-tower names to timm's (:mod:`fetalviewer.model.mobile`) and loads it strictly. The returned
:class:`LoadedModel` owns the model, the tokenizer and the preprocessing and offers the encoders the
engine, the inference service and the segmentation heads use.

Callers do not use this module directly: :func:`fetalviewer.model.selection.load_model` picks the model
(``auto | fetalclip | mobilefetalclip``), the weights file and the config, and calls it.

A config file may be a plain open_clip model config, optionally with open_clip's ``preprocess_cfg`` block
beside the model keys, or open_clip's ``{"model_cfg": ..., "preprocess_cfg": ...}`` layout. Only the model
part is registered with open_clip (under the file stem); the preprocessing part becomes the loaded model's
:class:`~fetalviewer.model.preprocess.PreprocessSpec`.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fetalviewer.atomic import write_text_atomic
from fetalviewer.errors import WeightsMismatch
from fetalviewer.model.checkpoint import check_state_dict, load_into, read_state_dict
from fetalviewer.model.devices import resolve_device
from fetalviewer.model.families import FETALCLIP, ModelFamily, is_apple_fastvit_naming, recognise
from fetalviewer.model.hashing import file_sha256
from fetalviewer.model.preprocess import FETALCLIP_PREPROCESS, PreprocessSpec, preprocess_batch
from fetalviewer.model.results import ModelInfo
from fetalviewer.paths import user_dirs

Progress = Callable[[str, float], None]
_REGISTER_LOCK = threading.Lock()
_REGISTERED: dict[str, Path] = {}

#: Vision blocks (1-based) whose token maps the segmentation heads use (FetalCLIP paper, UNETR decoder).
SEGMENTATION_BLOCKS: tuple[int, ...] = (6, 8, 12, 24)


def default_config_path() -> Path:
    return FETALCLIP.default_config_path


def read_config(config_path: str | os.PathLike[str] | None = None) -> tuple[dict[str, Any], PreprocessSpec]:
    """(open_clip model config, preprocessing) of a config file (see the module docstring)."""
    path = Path(config_path) if config_path is not None else default_config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WeightsMismatch(f"{path}: model config missing or not JSON ({exc})") from exc
    if isinstance(data, dict) and isinstance(data.get("model_cfg"), dict):
        cfg, pp = dict(data["model_cfg"]), data.get("preprocess_cfg")
    elif isinstance(data, dict):
        cfg = {k: v for k, v in data.items() if k != "preprocess_cfg"}
        pp = data.get("preprocess_cfg")
    else:
        cfg, pp = {}, None
    if not all(k in cfg for k in ("embed_dim", "vision_cfg", "text_cfg")):
        raise WeightsMismatch(
            f"{path}: not an open_clip model config (needs embed_dim, vision_cfg, text_cfg)"
        )
    if pp is not None and not isinstance(pp, dict):
        raise WeightsMismatch(f"{path}: preprocess_cfg must be an object")
    try:
        spec = PreprocessSpec.from_config(cfg, pp, source=str(path))
    except ValueError as exc:
        raise WeightsMismatch(str(exc)) from exc
    return cfg, spec


def _model_part_file(path: Path, cfg: dict[str, Any]) -> Path:
    """The file open_clip registers: ``path`` itself when it is a plain model config, else the model part
    written (atomically) under the user cache with the same stem, so the model name stays the stem."""
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    if on_disk == cfg:
        return path.resolve()
    text = json.dumps(cfg, indent=1, sort_keys=True)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    target = user_dirs().cache_dir / "model_configs" / digest / f"{path.stem}.json"
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        write_text_atomic(target, text)
    return target


def register_config(config_path: str | os.PathLike[str] | None = None) -> tuple[str, dict[str, Any]]:
    """Register an open_clip model config file; returns (model name = file stem, model config dict)."""
    import open_clip

    path = Path(config_path) if config_path is not None else default_config_path()
    cfg, _spec = read_config(path)
    name = path.stem
    with _REGISTER_LOCK:
        resolved = _model_part_file(path, cfg)
        if _REGISTERED.get(name) != resolved:
            open_clip.add_model_config(resolved)
            _REGISTERED[name] = resolved
        if open_clip.get_model_config(name) != cfg:
            # An earlier file with the same stem is still winning: register this one again, last.
            open_clip.add_model_config(resolved)
        if open_clip.get_model_config(name) != cfg:
            raise WeightsMismatch(f"{path}: another model config named {name!r} is already registered")
    return name, cfg


class _RandomInitNoticeFilter(logging.Filter):
    """Drop open_clip's "No pretrained weights loaded ... initialized randomly" notice: the weights are
    loaded right after building, and a user must never read that their model is random."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "No pretrained weights loaded" not in record.getMessage()


_NOTICE_FILTER = _RandomInitNoticeFilter()


def build_model(model_name: str, device: str = "cpu"):
    """``open_clip.create_model(name, pretrained=None)`` in eval mode (random weights)."""
    import open_clip

    root = logging.getLogger()
    if _NOTICE_FILTER not in root.filters:
        root.addFilter(_NOTICE_FILTER)

    kwargs: dict[str, Any] = {"pretrained": None, "device": device}
    if "pretrained_text" in inspect.signature(open_clip.create_model).parameters:
        kwargs["pretrained_text"] = False  # never fetch tower weights from the network
    model = open_clip.create_model(model_name, **kwargs)
    return model.eval()


def _causal_mask_like(buffer):
    import torch

    n = int(buffer.shape[0])
    return torch.full((n, n), float("-inf"), dtype=torch.float32).triu_(1)


#: Non-persistent buffers (not in checkpoints) that :func:`build_and_load` can rebuild itself.
_REBUILDABLE_BUFFERS = {"attn_mask": _causal_mask_like}


def build_and_load(model_name: str, state: dict[str, Any], source: str):
    """Build the model and load ``state`` strictly, on the CPU, in eval mode.

    Fast path: build on the meta device (no random initialisation of 428 M parameters), check keys and
    shapes, then ``load_state_dict(assign=True)`` so the parameters are the checkpoint's tensors
    (memory-mapped, converted to float32 where needed); the only non-persistent buffer of open_clip's
    CLIP, the text tower's causal mask, is rebuilt exactly as open_clip builds it. Any other
    architecture with unknown non-persistent buffers takes the plain path (random build, then copy).
    """
    import torch

    with torch.device("meta"):
        meta = build_model(model_name, device="meta")
    if is_apple_fastvit_naming(state):
        from fetalviewer.model.mobile import to_timm_names

        state = to_timm_names(state, meta, source)
    check_state_dict(meta.state_dict(), state, source)  # fails fast, costs no memory
    persistent = set(meta.state_dict())
    extra = [n for n, _ in meta.named_buffers() if n not in persistent]
    if all(n in _REBUILDABLE_BUFFERS for n in extra):
        fp32 = {
            k: (v.float() if v.is_floating_point() and v.dtype != torch.float32 else v)
            for k, v in state.items()
        }
        meta.load_state_dict(fp32, strict=True, assign=True)
        for n in extra:
            meta.register_buffer(n, _REBUILDABLE_BUFFERS[n](getattr(meta, n)), persistent=False)
        leftovers = [
            n for n, t in itertools.chain(meta.named_parameters(), meta.named_buffers()) if t.is_meta
        ]
        if not leftovers:
            return meta.eval()
    model = build_model(model_name, device="cpu")
    load_into(model, state, source)
    return model.eval()


def fuse_branches(model) -> bool:
    """Fuse the parallel train-time branches of a re-parameterisable timm image tower (FastViT MCi0's MobileOne
    and RepMixer blocks: Vasu et al., arXiv 2303.14189) into single convolutions, in place, for inference.

    Same function, fewer operations: about 1.3-1.4x faster on a CPU, outputs changed by about 1e-8 (float
    summation order; tests hold it within 1e-5 of the unfused tower). Towers without such blocks (ViT) are
    left alone. Returns whether anything was fused. The inference service runs it once the checkpoint is
    loaded strictly (the checkpoint's tensors are the unfused ones, and a loaded model still equals its file).
    """
    trunk = getattr(getattr(model, "visual", None), "trunk", None)
    if trunk is None or not any(hasattr(m, "reparameterize") for m in trunk.modules()):
        return False
    from timm.utils.model import reparameterize_model

    reparameterize_model(trunk, inplace=True)
    return True


def is_vit(model) -> bool:
    """True for open_clip's own ViT image tower (FetalCLIP); False for a timm trunk (MobileFetalCLIP)."""
    return hasattr(model.visual, "transformer") and hasattr(model.visual, "ln_post")


@dataclass
class LoadedModel:
    """A FetalCLIP-style model with its tokenizer, on one device, ready for inference."""

    model: Any
    tokenizer: Any
    model_name: str
    config: dict[str, Any]
    info: ModelInfo
    device: str
    autocast_dtype: Any = None  # torch dtype for CUDA autocast, None = fp32
    text_encode_calls: int = field(default=0)
    family: ModelFamily = FETALCLIP
    preprocess: PreprocessSpec = FETALCLIP_PREPROCESS

    @property
    def input_px(self) -> int:
        """Side of the square model input (224 for FetalCLIP, 256 for MobileFetalCLIP)."""
        return self.preprocess.size

    @property
    def patch_grid(self) -> int:
        """Side of the patch-feature grid of :meth:`encode_image_with_patches` (16 for ViT-L/14 at 224 px,
        8 for FastViT MCi0 at 256 px, whose last feature map has stride 32)."""
        visual = self.model.visual
        if is_vit(self.model):
            return int(visual.grid_size[0])
        return self.input_px // int(visual.trunk.feature_info[-1]["reduction"])

    def preprocess_batch(self, images):
        """uint8 frames / PIL images -> [N, 3, S, S] float32 pixels with this model's preprocessing."""
        return preprocess_batch(list(images), self.preprocess)

    @property
    def context_length(self) -> int:
        return int(self.config["text_cfg"].get("context_length", 77))

    @property
    def embed_dim(self) -> int:
        return int(self.config["embed_dim"])

    def _autocast(self):
        import contextlib

        import torch

        if self.autocast_dtype is None or self.device == "cpu":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.split(":")[0], dtype=self.autocast_dtype)

    def tokenize(self, texts: Sequence[str]):
        return self.tokenizer(list(texts))

    def to(self, device: str) -> LoadedModel:
        """Move the model to ``device`` (used for the CUDA out-of-memory fallback to the CPU)."""
        self.model.to(device)
        self.device = device
        if device == "cpu":
            self.autocast_dtype = None
        self.info = ModelInfo(**{**self.info.to_dict(), "device": device, "dtype": self.dtype_name})
        return self

    @property
    def dtype_name(self) -> str:
        import torch

        names = {None: "float32", torch.float16: "float16 autocast", torch.bfloat16: "bfloat16 autocast"}
        return names.get(self.autocast_dtype, str(self.autocast_dtype))

    def encode_image(self, pixels, normalize: bool = True):
        """[B, 3, H, W] preprocessed pixels -> [B, D] float32 embeddings (L2-normalised by default)."""
        import torch
        import torch.nn.functional as F

        with torch.inference_mode(), self._autocast():
            feats = self.model.encode_image(pixels.to(self.device))
        feats = feats.float()
        return F.normalize(feats, dim=-1) if normalize else feats

    def encode_image_with_patches(self, pixels):
        """(pooled projected image features [B, D], projected patch features [B, S*S, D]), both NOT
        normalised, from one forward pass.

        ViT (FetalCLIP): the patch tokens after ``ln_post`` times the projection (the CLS token is the
        pooled one). FastViT (MobileFetalCLIP): the ``final_conv`` feature map [B, C, S, S] through the
        trunk's linear head at every position; the average of these is the pooled embedding, since
        average pooling and the linear head commute. Used for the heat-map maps.
        """
        import torch

        captured: list = []
        visual = self.model.visual
        vit = is_vit(self.model)
        hooked = visual.ln_post if vit else visual.trunk.final_conv
        handle = hooked.register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            with torch.inference_mode(), self._autocast():
                pooled = self.model.encode_image(pixels.to(self.device)).float()
                feats = captured[-1].float()
                if vit:
                    if feats.ndim != 3:
                        raise RuntimeError("unexpected vision tower: ln_post did not see the token sequence")
                    patches = feats[:, 1:, :] @ visual.proj.float()
                else:
                    fc = visual.trunk.head.fc
                    tokens = feats.flatten(2).transpose(1, 2)
                    patches = tokens @ fc.weight.float().T + (0 if fc.bias is None else fc.bias.float())
        finally:
            handle.remove()
        return pooled, patches

    def encode_image_with_blocks(self, pixels, blocks: Sequence[int] = SEGMENTATION_BLOCKS):
        """Image features (projected, NOT normalised) and token maps of vision ``blocks`` (1-based).

        Returns ``(features [B, D], {block: tensor [B, width, grid, grid]})``; the token maps exclude the
        CLS token and come straight out of the residual stream after the block (no final LayerNorm), as
        the FetalCLIP segmentation recipe uses them. One forward pass gives both.
        """
        import torch

        if not is_vit(self.model):
            raise WeightsMismatch(
                f"{self.info.model_name}: the segmentation heads need FetalCLIP's ViT image tower"
            )
        n_blocks = len(self.model.visual.transformer.resblocks)
        blocks = tuple(int(b) for b in blocks)
        bad = [b for b in blocks if not 1 <= b <= n_blocks]
        if bad:
            raise ValueError(f"blocks must lie in 1..{n_blocks}, got {bad}")
        with torch.inference_mode(), self._autocast():
            out = self.model.visual.forward_intermediates(
                pixels.to(self.device), indices=[b - 1 for b in blocks], output_fmt="NCHW"
            )
        maps = {b: t.float() for b, t in zip(sorted(set(blocks)), out["image_intermediates"], strict=True)}
        return out["image_features"].float(), {b: maps[b] for b in blocks}

    def encode_text(self, texts: Sequence[str], batch_size: int = 256):
        """Prompts -> [N, D] float32 L2-normalised text embeddings, in the order given.

        Prompts are encoded in batches of similar token length (each batch runs only on its used
        context, see :mod:`fetalviewer.model.text_encode`), then put back in order.
        """
        import torch
        import torch.nn.functional as F

        from fetalviewer.model.text_encode import encode_tokens

        if len(texts) == 0:
            raise ValueError("texts: need at least one prompt")
        self.text_encode_calls += 1
        tokens = self.tokenize(list(texts))
        order = torch.argsort(tokens.argmax(dim=-1), stable=True)
        out = None
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            with torch.inference_mode(), self._autocast():
                feats = encode_tokens(self.model, tokens[idx].to(self.device)).float().cpu()
            if out is None:
                out = torch.empty(len(texts), feats.shape[1], dtype=torch.float32)
            out[idx] = feats
        return F.normalize(out, dim=-1)


def load_checkpoint(
    weights_path: str | os.PathLike[str],
    config_path: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    progress: Progress | None = None,
    precision: str = "auto",
) -> LoadedModel:
    """Load a FetalCLIP or MobileFetalCLIP checkpoint (or any open_clip config + checkpoint) strictly.

    Raises WeightsNotFound / WeightsMismatch with a message naming the file and the problem.
    ``device``: "auto" | "cpu" | "cuda" | "cuda:N" | "mps"; ``precision``: "auto" (fp16 autocast on
    CUDA, fp32 elsewhere) | "fp32" | "fp16" | "bf16".
    """
    import open_clip

    def report(stage: str, fraction: float) -> None:
        if progress is not None:
            progress(stage, fraction)

    weights_path = Path(weights_path)
    resolved_device, autocast_dtype = resolve_device(device, precision)  # fail fast on a missing GPU
    report("reading weights", 0.0)
    state = read_state_dict(weights_path)
    report("reading weights", 1.0)
    fam, description = recognise(state, str(weights_path))
    if config_path is None:
        config_path = fam.default_config_path
    name, cfg = register_config(config_path)
    _cfg, spec = read_config(config_path)
    report("building model", 0.0)
    model = build_and_load(name, state, str(weights_path))
    del state
    report("checking sha256", 0.0)
    sha = file_sha256(weights_path, progress)
    model.to(resolved_device)
    tokenizer = open_clip.get_tokenizer(name)
    cfg_path = Path(config_path)
    loaded = LoadedModel(
        model=model,
        tokenizer=tokenizer,
        model_name=name,
        config=cfg,
        info=ModelInfo(
            weights_path=str(weights_path.resolve()),
            weights_size_bytes=weights_path.stat().st_size,
            weights_sha256=sha,
            config_name=name,
            config_path=str(cfg_path.resolve()),
            device=resolved_device,
            dtype="float32",
            model_name=fam.name,
            description=description,
        ),
        device=resolved_device,
        autocast_dtype=autocast_dtype,
        family=fam,
        preprocess=spec,
    )
    loaded.info = ModelInfo(**{**loaded.info.to_dict(), "dtype": loaded.dtype_name})
    report("ready", 1.0)
    return loaded
