"""The OmegaConf resolvers configs use: `${srlm_root:}` and `${when:COND,A,B}`."""

from __future__ import annotations

from omegaconf import OmegaConf

from srlm.core.resources import root


def register_resolvers() -> None:
    """`${srlm_root:}`: the checkout's root, or an installed copy's `srlm/_root`: configs name shipped files by it.
    `${when:COND,A,B}`: A if COND is true else B (a recipe's value that depends on another key)."""
    if not OmegaConf.has_resolver("srlm_root"):
        OmegaConf.register_new_resolver("srlm_root", lambda: str(root()))
    if not OmegaConf.has_resolver("when"):
        OmegaConf.register_new_resolver("when", lambda cond, a, b: a if cond else b)
