"""helpers.attention: CogVideoX attention in fp32 where a GPU has no fused bf16 kernel (a T4), and what the planner counts for it."""

import diffusers.models.attention_processor as processors
import pytest
import torch
import torch.nn.functional as F

import helpers
from helpers.attention import FP32Attention
from helpers.planner import fp32_attention_gib, math_attention_gib, predict


def transformer_output(pipe, seed=0):
    """One transformer call as the pipeline makes it, rotary position embeddings included."""
    t = pipe.transformer
    config = t.config
    g = torch.Generator().manual_seed(seed)
    latents = torch.randn(1, 2, config.in_channels, config.sample_height, config.sample_width, generator=g).to(t.dtype)
    text = torch.randn(1, config.max_text_seq_length, config.text_embed_dim, generator=g).to(t.dtype)
    scale = pipe.vae_scale_factor_spatial
    rotary = pipe._prepare_rotary_positional_embeddings(config.sample_height * scale, config.sample_width * scale, 2,
                                                        torch.device("cpu"))
    with torch.no_grad():
        return t(hidden_states=latents, encoder_hidden_states=text, timestep=torch.tensor([500]),
                 image_rotary_emb=rotary, return_dict=False)[0]


def test_fp32_attention_keeps_every_argument_of_diffusers_processor(caplog):
    """diffusers passes a processor only the arguments its signature names: a T4 run once lost the rotary
    position embeddings this way ("image_rotary_emb are not expected by FP32Attention and will be ignored")."""
    pipe = helpers.load_pipeline("nano")  # fp32 on a CPU: the fp32 attention call changes nothing, exactly
    before = transformer_output(pipe)
    pipe.transformer.set_attn_processor(FP32Attention())
    assert torch.equal(transformer_output(pipe), before)
    assert "not expected" not in caplog.text


def test_fp32_attention_computes_attention_in_fp32_and_gives_the_same_result(monkeypatch):
    pipe = helpers.load_pipeline("nano", torch_dtype=torch.bfloat16)
    before = transformer_output(pipe)
    seen = []
    real = F.scaled_dot_product_attention
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda q, *a, **k: seen.append(q.dtype) or real(q, *a, **k))
    pipe.transformer.set_attn_processor(FP32Attention())
    after = transformer_output(pipe)
    assert seen and set(seen) == {torch.float32}  # every attention call, in fp32
    assert after.dtype == torch.bfloat16 and torch.isfinite(after).all()
    assert torch.allclose(after.float(), before.float(), atol=0.05, rtol=0.05)
    assert processors.F is F  # diffusers' own functional module is back after each call


def test_load_pipeline_sets_it_where_the_gpu_has_no_fused_bf16_attention(monkeypatch, capsys):
    monkeypatch.setattr(helpers.attention, "needs_fp32_attention", lambda report=None: True)  # as on a T4
    pipe = helpers.load_pipeline("nano", torch_dtype=torch.bfloat16)
    assert {type(p) for p in pipe.transformer.attn_processors.values()} == {FP32Attention}
    assert "attention in fp32" in capsys.readouterr().out
    fp32 = helpers.load_pipeline("nano", torch_dtype=torch.float32)  # already fp32: nothing to change
    assert FP32Attention not in {type(p) for p in fp32.transformer.attn_processors.values()}


def test_on_a_cpu_nothing_changes():
    assert not helpers.environment.needs_fp32_attention()
    pipe = helpers.load_pipeline("nano")
    assert FP32Attention not in {type(p) for p in pipe.transformer.attn_processors.values()}


def test_the_planner_counts_fp32_attention_and_refuses_an_unknown_kind():
    from helpers.planner import fp32_attention_share

    # of the fp32 copies (1.63 GiB at 49 frames), the share the T4's emulated run showed above bf16's peak
    assert 0 < fp32_attention_share() < 1 and fp32_attention_gib(49) == pytest.approx(1.63 * fp32_attention_share(), abs=0.01)
    assert fp32_attention_gib(49) < math_attention_gib(9)
    fused, fp32, math = (predict("low_ram_staged", attention=a) for a in ("fused", "fp32", "math"))
    assert fp32.peak_vram_gib == pytest.approx(fused.peak_vram_gib + fp32_attention_gib(49), abs=0.01)
    assert math.peak_vram_gib > 200
    with pytest.raises(ValueError, match="choose one of fused, fp32, math"):
        predict("low_ram_staged", attention="flash")


def test_another_attention_kernel_takes_every_call_and_gives_the_same_transformer_output():
    """KernelAttention (what sage_attention sets on a GPU) calls its kernel for every attention, with the
    processor's arguments; given PyTorch's own kernel, the transformer's output is unchanged."""
    from helpers.attention import KernelAttention

    pipe = helpers.load_pipeline("nano")
    before = transformer_output(pipe)
    calls = []

    def kernel(query, key, value, **kwargs):
        calls.append(kwargs)
        return F.scaled_dot_product_attention(query, key, value, **kwargs)

    pipe.transformer.set_attn_processor(KernelAttention(kernel))
    assert torch.equal(transformer_output(pipe), before)
    assert len(calls) == pipe.transformer.config.num_layers
    assert calls[0] == dict(attn_mask=None, dropout_p=0.0, is_causal=False)


def test_sage_attention_off_a_cuda_gpu_is_refused_with_what_it_needs():
    pipe = helpers.load_pipeline("nano")
    with pytest.raises(ValueError, match=r'runs on a CUDA GPU with the sageattention package .*pip install "sageattention==1.0.6"'):
        helpers.recipes.apply_speed(pipe, "sage_attention")
    assert {type(p).__name__ for p in pipe.transformer.attn_processors.values()} == {"CogVideoXAttnProcessor2_0"}


def test_fused_projections_after_another_attention_kernel_are_refused():
    """fused_qkv and sage_attention both replace the processors: the second would silently undo the first."""
    from helpers.attention import KernelAttention

    pipe = helpers.load_pipeline("nano")
    pipe.transformer.set_attn_processor(KernelAttention(F.scaled_dot_product_attention))
    with pytest.raises(ValueError, match="fused_qkv replaces the attention processors, which sage_attention has"):
        helpers.recipes.apply_speed(pipe, "fused_qkv")
