"""Official SAM 2 / 2.1 checkpoints: where the installed one for a config is, and reading them
safely, with errors that say how to fix them."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from sam2_ros.paths import model_dir

DOWNLOAD_HINT = "download the official weights with model/download_checkpoints.sh"

#: Official checkpoint file name -> the SAM 2 config it was trained with.
CONFIG_FOR_CHECKPOINT: dict[str, str] = {
    "sam2.1_hiera_tiny.pt": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "sam2.1_hiera_small.pt": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "sam2.1_hiera_base_plus.pt": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "sam2.1_hiera_large.pt": "configs/sam2.1/sam2.1_hiera_l.yaml",
    "sam2_hiera_tiny.pt": "configs/sam2/sam2_hiera_t.yaml",
    "sam2_hiera_small.pt": "configs/sam2/sam2_hiera_s.yaml",
    "sam2_hiera_base_plus.pt": "configs/sam2/sam2_hiera_b+.yaml",
    "sam2_hiera_large.pt": "configs/sam2/sam2_hiera_l.yaml",
}
CHECKPOINT_FOR_CONFIG: dict[str, str] = {cfg: name for name, cfg in CONFIG_FOR_CHECKPOINT.items()}

# Hiera trunk (embedding width, number of blocks) -> config size suffix.
_TRUNK_SIZES = {(96, 12): "t", (96, 16): "s", (112, 24): "b+", (144, 48): "l"}


def resolve_checkpoint(checkpoint: str, model_cfg: str) -> Path | None:
    """The given path, or the official file for ``model_cfg`` in the package's model/ folder
    when it exists there; None when there is none."""
    if checkpoint:
        return Path(checkpoint).expanduser()
    folder, name = model_dir(), CHECKPOINT_FOR_CONFIG.get(model_cfg)
    if folder is not None and name is not None and (folder / name).is_file():
        return folder / name
    return None


def expected_checkpoint(model_cfg: str) -> str:
    """Where the node looks for a checkpoint by default (for error messages)."""
    folder, name = model_dir(), CHECKPOINT_FOR_CONFIG.get(model_cfg, "<checkpoint for model_cfg>")
    return str((folder or Path("model")) / name)


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, unsafe, or does not match the model config."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load the ``model`` state dict of an official SAM 2 ``.pt`` file without unpickling code."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} does not exist: {DOWNLOAD_HINT}, or pass the path of a SAM 2 "
            ".pt file"
        )
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = str(err).strip().splitlines()[-1][:200]
        raise CheckpointError(
            f"checkpoint {path} was refused: it is not a tensor-only checkpoint (loading with "
            f"weights_only=True found pickled Python objects: {reason}); use an official SAM 2 "
            f"checkpoint ({DOWNLOAD_HINT})"
        ) from err
    except Exception as err:  # torch raises RuntimeError/KeyError/EOFError/OSError for bad files
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({type(err).__name__}: {reason}); the file is "
            f"corrupt or truncated: delete it and {DOWNLOAD_HINT}"
        ) from err
    state_dict = content.get("model") if isinstance(content, dict) else None
    if not isinstance(state_dict, dict) or not all(
        isinstance(v, torch.Tensor) for v in state_dict.values()
    ):
        found = sorted(content)[:5] if isinstance(content, dict) else type(content).__name__
        raise CheckpointError(
            f"checkpoint {path} is not a SAM 2 checkpoint: expected {{'model': state_dict}}, "
            f"found {found}"
        )
    return state_dict


def guess_config(state_dict: dict[str, torch.Tensor]) -> str | None:
    """Name the official config a state dict was most likely saved from, or None."""
    patch = state_dict.get("image_encoder.trunk.patch_embed.proj.weight")
    if patch is None:
        return None
    blocks = {k.split(".")[3] for k in state_dict if k.startswith("image_encoder.trunk.blocks.")}
    size = _TRUNK_SIZES.get((int(patch.shape[0]), len(blocks)))
    if size is None:
        return None
    if "no_obj_embed_spatial" in state_dict:
        return f"configs/sam2.1/sam2.1_hiera_{size}.yaml"
    return f"configs/sam2/sam2_hiera_{size}.yaml"


def load_state_dict_into(
    model: torch.nn.Module, state_dict: dict[str, torch.Tensor], path: str | Path, model_cfg: str
) -> None:
    """Copy ``state_dict`` into ``model``, or explain precisely why it does not fit."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        (k, tuple(state_dict[k].shape), tuple(v.shape))
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    if missing or unexpected or mismatched:
        details = [f"{len(missing)} missing keys", f"{len(unexpected)} unexpected keys"]
        details.append(f"{len(mismatched)} shape mismatches")
        if mismatched:
            key, got, want = mismatched[0]
            details.append(f"e.g. {key}: checkpoint {list(got)} vs model {list(want)}")
        elif missing or unexpected:
            details.append(f"e.g. {(missing or unexpected)[0]}")
        guess = guess_config(state_dict)
        fix = (
            f"this looks like a {guess} checkpoint: set model_cfg to {guess}"
            if guess and guess != model_cfg
            else "use the config that matches the checkpoint (see model/README.md)"
        )
        raise CheckpointError(
            f"checkpoint {path} does not match config {model_cfg}: {', '.join(details)}; {fix}"
        )
    model.load_state_dict(state_dict, strict=True)
