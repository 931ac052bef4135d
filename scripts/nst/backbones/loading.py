"""Loading a state dict into a module with errors that say what is wrong."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn


class WeightsFormatError(ValueError):
    """The weights file is readable but is not the expected network's state dict."""


def load_module_state(
    module: nn.Module, state_dict: Mapping[str, Tensor], prefix: str, what: str
) -> None:
    """Load the entries of `state_dict` under `prefix` into `module`, strictly."""
    subset = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
    expected = module.state_dict()
    missing = [k for k in expected if k not in subset]
    wrong = [
        f"{prefix}{k} {tuple(subset[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in subset and subset[k].shape != v.shape
    ]
    if missing or wrong:
        detail = (
            f"missing {', '.join(prefix + k for k in missing[:5])}"
            if missing
            else f"wrong shapes: {'; '.join(wrong[:5])}"
        )
        raise WeightsFormatError(f"not a {what} state dict ({detail})")
    module.load_state_dict({k: subset[k] for k in expected}, strict=True)
