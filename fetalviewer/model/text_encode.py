"""Text-tower forward on the used part of the context only (same result, a fraction of the cost).

open_clip's text transformer uses a causal attention mask and pools at the EOT token (the largest id).
Outputs at positions up to the last EOT never see later positions, so running only the first
L = (last EOT position + 1) positions, with the first L positional embeddings and the L x L block of
the mask, gives the same embedding as the full 117-token forward (up to float rounding). FetalCLIP's
prompts use about 20-45 of 117 positions, so this saves roughly two thirds of the text cost.
Models where this does not hold (no causal mask, other pooling, HF text towers) use ``encode_text``.
"""

from __future__ import annotations


def can_trim(model) -> bool:
    from open_clip.model import CLIP

    return (
        type(model) is CLIP
        and getattr(model, "attn_mask", None) is not None
        and getattr(model, "text_pool_type", "argmax") == "argmax"
        and getattr(model.transformer, "batch_first", True)
    )


def encode_tokens(model, tokens, trim: bool = True):
    """Un-normalised text features of a token batch [B, context]."""
    if not (trim and can_trim(model)):
        return model.encode_text(tokens)
    length = int(tokens.argmax(dim=-1).max().item()) + 1
    tokens = tokens[:, :length]
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast_dtype)
    x = x + model.positional_embedding[:length].to(cast_dtype)
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = model.ln_final(x)
    import torch

    x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
    if model.text_projection is not None:
        x = (
            model.text_projection(x)
            if isinstance(model.text_projection, torch.nn.Linear)
            else x @ model.text_projection
        )
    return x
