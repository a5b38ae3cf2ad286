"""CogVideoX attention in fp32, for GPUs without a fused bf16 attention kernel (the free Colab T4).

On compute capability below 8.0, PyTorch's flash and memory-efficient attention kernels do not
take bf16, so ``F.scaled_dot_product_attention`` on bf16 falls back to its math kernel, which
holds the whole score matrix: one CogVideoX-5b attention call ran out of a T4's 15 GiB even at
9 frames (``media/benchmarks/t4_attention.json``, ``scripts/bench_t4_attention.py``). In fp32
the memory-efficient kernel takes it, with a fraction of a GiB. :class:`FP32Attention` is
diffusers' own CogVideoX attention processor, with only the attention call made in fp32 (the
weights stay bf16: fp16 gives the 5b black frames, fp32 weights need 39 GiB).
:func:`helpers.load_pipeline` sets it by itself where the GPU needs it (:func:`helpers.environment.needs_fp32_attention`).

Example:
    >>> import helpers
    >>> from helpers.attention import FP32Attention
    >>> pipe = helpers.load_pipeline("nano")  # doctest: +ELLIPSIS
    model: ...
    >>> pipe.transformer.set_attn_processor(FP32Attention())  # the call to copy on a T4
"""

import types
from unittest import mock

import diffusers.models.attention_processor as _processors
import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import CogVideoXAttnProcessor2_0

from .environment import needs_fp32_attention


def _sdpa_in_fp32(query, key, value, *args, **kwargs):
    """``F.scaled_dot_product_attention`` computed in fp32 and returned in the inputs' dtype."""
    mask = kwargs.get("attn_mask")
    if mask is not None and mask.is_floating_point():
        kwargs["attn_mask"] = mask.float()
    return F.scaled_dot_product_attention(query.float(), key.float(), value.float(), *args, **kwargs).to(query.dtype)


class KernelAttention(CogVideoXAttnProcessor2_0):
    """diffusers' CogVideoX attention processor with another function in place of ``F.scaled_dot_product_attention``
    (CogVideoX's processor calls it directly, so diffusers' ``set_attention_backend`` does not reach it).

    Example:
        >>> import torch.nn.functional as F
        >>> from helpers.attention import KernelAttention
        >>> KernelAttention(F.scaled_dot_product_attention).kernel is F.scaled_dot_product_attention
        True
    """

    def __init__(self, kernel) -> None:
        super().__init__()
        self.kernel = kernel
        #: ``torch.nn.functional`` with ``kernel`` as its attention, for diffusers' processor to call as its ``F``.
        self.functional = types.SimpleNamespace(**{**vars(F), "scaled_dot_product_attention": kernel})

    # The parent's exact parameters: diffusers' Attention passes a processor only the keyword arguments its
    # signature names, so a bare **kwargs would drop image_rotary_emb (CogVideoX's rotary positions).
    def __call__(self, attn, hidden_states, encoder_hidden_states, attention_mask=None, image_rotary_emb=None):
        with mock.patch.object(_processors, "F", self.functional):  # put back after the call
            return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, image_rotary_emb)


class FP32Attention(KernelAttention):
    """diffusers' CogVideoX attention processor with the attention call in fp32 (for a T4).

    Example:
        >>> import torch
        >>> from helpers.attention import FP32Attention, _sdpa_in_fp32
        >>> q = torch.randn(1, 2, 8, 4, dtype=torch.bfloat16)
        >>> _sdpa_in_fp32(q, q, q).dtype
        torch.bfloat16
    """

    def __init__(self) -> None:
        super().__init__(_sdpa_in_fp32)


def use_fp32_attention_where_needed(transformer) -> bool:
    """Set :class:`FP32Attention` on a bf16 CogVideoX transformer where this GPU needs it; True if set.

    Example:
        >>> import helpers
        >>> from helpers.attention import use_fp32_attention_where_needed
        >>> pipe = helpers.load_pipeline("nano")  # doctest: +ELLIPSIS
        model: ...
        >>> use_fp32_attention_where_needed(pipe.transformer)  # a CPU: nothing to do
        False
    """
    if not needs_fp32_attention() or transformer.dtype != torch.bfloat16:
        return False
    transformer.set_attn_processor(FP32Attention())
    print("attention in fp32 (helpers.attention.FP32Attention): this GPU has no fused bf16 attention kernel")
    return True
