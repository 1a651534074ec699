"""The one way to pick and load the model: choice (``auto|fetalclip|mobilefetalclip``), weights, config, device.

* :func:`select_model` resolves the choice to one weights file, its family and the config to build it with
  (an explicit config wins, then the config recorded when the file was installed, then the family's bundled
  config); nothing is loaded.
* :meth:`ModelSelection.identity` gives the :class:`~fetalviewer.model.results.ModelInfo` of that choice
  without loading the model (weights sha256 from :mod:`fetalviewer.model.hashing`), for cache look-ups and
  for reports made from cached results.
* :meth:`ModelSelection.load` / :func:`load_model` load it strictly (:func:`fetalviewer.model.loader.load_checkpoint`).

The inference service, the study runner, the report builder, the window's cache look-up and its export all
come through here, so the config override and the model choice mean the same everywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fetalviewer.model.families import ModelFamily, check_choice
from fetalviewer.model.results import ModelInfo

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class ModelSelection:
    """A resolved model choice: which family, which weights file, which config, on which device."""

    family: ModelFamily
    weights_path: Path
    origin: str
    config_path: Path
    device: str = "auto"
    config_overridden: bool = False

    @property
    def config_name(self) -> str:
        return self.config_path.stem

    def identity(self, device_note: str = "not loaded (results from the analysis cache)") -> ModelInfo:
        """ModelInfo of this choice without loading the model (hashes the file once; cached)."""
        from fetalviewer.model.hashing import file_sha256
        from fetalviewer.model.loader import register_config
        from fetalviewer.model.weights import recognise_file

        name, _cfg = register_config(self.config_path)
        _fam, description = recognise_file(self.weights_path)
        return ModelInfo(
            weights_path=str(self.weights_path.resolve()),
            weights_size_bytes=self.weights_path.stat().st_size,
            weights_sha256=file_sha256(self.weights_path),
            config_name=name,
            device=device_note,
            dtype="as analysed",
            config_path=str(self.config_path.resolve()),
            model_name=self.family.name,
            description=description,
        )

    def load(self, progress=None, precision: str = "auto"):
        """The :class:`~fetalviewer.model.loader.LoadedModel` of this choice (strict load)."""
        from fetalviewer.model.loader import load_checkpoint

        return load_checkpoint(
            self.weights_path, self.config_path, device=self.device, progress=progress, precision=precision
        )


def select_model(
    model: str = "auto",
    weights: PathLike | None = None,
    config: PathLike | None = None,
    device: str = "auto",
) -> ModelSelection:
    """Resolve a model choice (see the module docstring). Raises WeightsNotFound / WeightsMismatch naming
    the file, or ValueError for an unknown choice or a device that is not there."""
    from fetalviewer.model.weights import recognise_file, resolve_weights

    check_choice(model)
    location = resolve_weights(weights, model, device)
    fam = location.family or recognise_file(location.path)[0]
    if config is not None:
        config_path, overridden = Path(config), True
    elif location.config_path:
        config_path, overridden = Path(location.config_path), False
    else:
        config_path, overridden = fam.default_config_path, False
    return ModelSelection(fam, location.path, location.origin, config_path, device, overridden)


def load_model(
    model: str = "auto",
    weights: PathLike | None = None,
    config: PathLike | None = None,
    device: str = "auto",
    precision: str = "auto",
    progress=None,
):
    """Select and load in one call: ``load_model("mobilefetalclip", device="cpu") -> LoadedModel``."""
    return select_model(model, weights, config, device).load(progress=progress, precision=precision)


__all__ = ["ModelSelection", "load_model", "select_model"]
