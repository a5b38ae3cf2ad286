"""Train CogVideoX-nano on synthetic clips (needs a CUDA GPU). One command reproduces the weights:

    python scripts/train_nano.py --out outputs/nano-train

Stage 1 trains the VAE on rendered clips; stage 2 encodes a fixed set of training clips once
and trains the transformer (v-prediction on the scheduler's zero-SNR schedule, 10% empty
captions for classifier-free guidance, an EMA of the weights). The T5 text encoder stays as
initialised (random, frozen). Held-out colour/shape/motion combinations (helpers.nano.HELD_OUT)
never appear in training; every few minutes the EMA model generates them and the pixels are
judged (helpers.nano.judge), so the log shows caption-following as it is learned.

Writes under --out: log.jsonl, vae/ (stage 1), ckpt/ (transformer + EMA, resumable),
cogvideox-nano/ (the pipeline in fp16 safetensors, hub layout) and loss.png.

The image-to-video variant goes on from the trained nano, the way CogVideoX-5b-I2V was made from
CogVideoX-5b: the transformer's patch embedding takes twice the latent channels (the noisy
latents, then the picture's latents: the VAE-encoded first frame followed by zeros, exactly as
CogVideoXImageToVideoPipeline.prepare_latents builds them); the new half starts at zero, so
training starts from the text-to-video model. Checks judge the held-out scenes started from
their first frame (scripts/eval_nano.py's evaluate_image: colour, motion, and the object where the
picture has it).

    python scripts/train_nano.py --task image --init helpers/models/cogvideox-nano --minutes 5 --eval-every 100 \
        --out outputs/nano-i2v-train                     # -> outputs/nano-i2v-train/cogvideox-nano-i2v
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from eval_nano import evaluate_image
from helpers import nano


def bf16_autocast(device: str) -> torch.autocast:
    """bf16 autocast on a GPU; off on a CPU, where bf16 is emulated without AVX-512 BF16 (on an AVX2-only CPU the
    nano VAE's encode ran many times slower in bf16 than in fp32, and the image stage's CPU test timed out).

    Example:
        >>> with bf16_autocast("cpu"):  # off: a matmul on the CPU stays in fp32
        ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
        torch.float32
    """
    return torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=device.startswith("cuda"))


def tokenizer():
    """A T5 tokenizer (Unigram) whose vocabulary is the captions' words, built locally."""
    from helpers.small_model import _tokenizer

    return _tokenizer(nano.vocabulary())


def untrained_components(seed: int = 0) -> dict:
    """The nano pipeline's components before training: same classes as CogVideoX-5b.

    Example:
        >>> from train_nano import untrained_components
        >>> sorted(untrained_components())
        ['scheduler', 'text_encoder', 'tokenizer', 'transformer', 'vae']
    """
    import torch

    from helpers.small_model import scaled_down_components

    tok = tokenizer()
    torch.manual_seed(seed)
    return scaled_down_components(
        tok,
        text=dict(d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4),
        vae=dict(block_out_channels=(32, 64, 64), latent_channels=16, norm_num_groups=16, sample_height=nano.HEIGHT,
                 scaling_factor=1.0),  # scaling_factor: set from the trained encoder's latent spread
        transformer=dict(num_attention_heads=8, attention_head_dim=32, time_embed_dim=128, text_embed_dim=64,
                         num_layers=6, sample_width=nano.WIDTH // 4, sample_height=nano.HEIGHT // 4,
                         sample_frames=nano.FRAMES),
    )


def log(out: Path, **record) -> None:
    line = json.dumps(record)
    print(line, flush=True)
    with open(out / "log.jsonl", "a") as f:
        f.write(line + "\n")


def training_scenes() -> list[nano.Scene]:
    return [s for s in nano.all_scenes() if not s.held_out]


def to_vae_input(clips: torch.Tensor) -> torch.Tensor:
    """(N, F, H, W, 3) in [0, 1] -> (N, 3, F, H, W) in [-1, 1]."""
    return clips.permute(0, 4, 1, 2, 3) * 2 - 1


def train_vae(vae, out: Path, steps: int, batch: int, device: str, seed: int) -> None:
    scenes = training_scenes()
    rng = random.Random(seed)
    vae.train().to(device)
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    start = time.time()
    for step in range(1, steps + 1):
        lr = 1e-3 * min(1.0, step / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for group in opt.param_groups:
            group["lr"] = lr
        x = to_vae_input(nano.render(rng.choices(scenes, k=batch), seed=seed * 100003 + step, device=device))
        with bf16_autocast(device):
            posterior = vae.encode(x).latent_dist
            recon = vae.decode(posterior.sample()).sample
        mse = F.mse_loss(recon.float(), x)
        kl = posterior.kl().mean()
        loss = mse + 1e-6 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == steps:
            log(out, stage="vae", step=step, mse=round(mse.item(), 5), kl=round(kl.item(), 1), seconds=round(time.time() - start, 1))
    vae.eval()


@torch.no_grad()
def encode_clips(vae, count: int, device: str, seed: int, first_frames: bool = False):
    """Render ``count`` training clips, encode them once; return latents (N, F, C, h, w), caption ids,
    the scenes, and (``first_frames``) each clip's first frame encoded alone (N, C, h, w), else None."""
    scenes = training_scenes()
    rng = random.Random(seed + 1)
    picks = [rng.randrange(len(scenes)) for _ in range(count)]
    latents, firsts = [], []
    for i in range(0, count, 500):
        chunk = [scenes[k] for k in picks[i : i + 500]]
        x = to_vae_input(nano.render(chunk, seed=seed * 7919 + i, device=device))
        with bf16_autocast(device):
            z = vae.encode(x).latent_dist.sample()
            if first_frames:  # the picture as the image-to-video pipeline encodes it: one frame on its own
                firsts.append(vae.encode(x[:, :, :1]).latent_dist.sample().float()[:, :, 0].contiguous())
        latents.append(z.float().permute(0, 2, 1, 3, 4).contiguous())  # (N, F, C, h, w) as the pipeline uses
    return torch.cat(latents), torch.tensor(picks, device=device), scenes, torch.cat(firsts) if first_frames else None


def image_to_video_transformer(transformer):
    """``transformer`` with its patch embedding widened to take the picture's latents too (zeros at first)."""
    wide = type(transformer).from_config({**transformer.config, "in_channels": 2 * transformer.config.in_channels})
    state = transformer.state_dict()
    weight = state["patch_embed.proj.weight"]  # (inner, C, p, p): the new C input channels start at zero
    state["patch_embed.proj.weight"] = torch.cat([weight, torch.zeros_like(weight)], dim=1)
    wide.load_state_dict(state)
    return wide


@torch.no_grad()
def judge_held_out(pipe, device: str, limit: int | None = None) -> dict:
    scenes = [s for s in nano.all_scenes() if s.held_out][:limit]
    with bf16_autocast(device):
        frames = pipe(
            [s.caption for s in scenes], num_frames=nano.FRAMES, height=nano.HEIGHT, width=nano.WIDTH,
            num_inference_steps=nano.DEFAULT_STEPS, guidance_scale=nano.DEFAULT_GUIDANCE,
            generator=torch.Generator(device=device).manual_seed(0), output_type="np",
        ).frames
    verdicts = [nano.judge(clip) for clip in frames]
    return dict(
        colour=round(sum(v.colour == s.colour for s, v in zip(scenes, verdicts)) / len(scenes), 3),
        motion=round(sum(v.motion == s.motion for s, v in zip(scenes, verdicts)) / len(scenes), 3),
    )


def save_pipeline(pipe, ema_state, folder: Path, kind: str = "nano") -> None:
    transformer = type(pipe.transformer).from_config(pipe.transformer.config)
    transformer.load_state_dict({k: v.float().cpu() for k, v in ema_state.items()})
    for module in (pipe.text_encoder, pipe.vae, transformer):
        module.to("cpu", torch.float16)  # stored in fp16: 2 bytes a weight; loads in any dtype
    shipped = type(pipe)(tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, vae=pipe.vae,
                                transformer=transformer, scheduler=pipe.scheduler)
    if folder.exists():
        shutil.rmtree(folder)
    shipped.save_pretrained(folder, safe_serialization=True)
    # transformers loads a text encoder in the dtype its config names ("auto") and diffusers the others in
    # fp32: name fp32, so that a plain CogVideoXPipeline.from_pretrained(folder) has one dtype throughout
    config = folder / "text_encoder" / "config.json"
    config.write_text(config.read_text().replace('"dtype": "float16"', '"dtype": "float32"'))
    (folder / "kit_model.json").write_text(json.dumps({
        "kind": kind,
        "defaults": {"num_inference_steps": nano.DEFAULT_STEPS, "guidance_scale": nano.DEFAULT_GUIDANCE,
                     # the image-to-video twin's prompt describes the kit's example picture (helpers.image_video)
                     "prompt": nano.Scene("red", "circle", "right", "dark").caption if kind == "nano-i2v" else nano.DEFAULT_PROMPT},
        "trained_by": "scripts/train_nano.py",
    }, indent=2) + "\n")


def plot_losses(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    vae = [r for r in records if r["stage"] == "vae"]
    tr = [r for r in records if r["stage"] == "transformer" and "loss" in r]
    ev = [r for r in records if r["stage"] == "transformer" and "motion" in r]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    axes[0].plot([r["step"] for r in vae], [r["mse"] for r in vae])
    axes[0].set(title="VAE reconstruction MSE", xlabel="step", yscale="log")
    axes[1].plot([r["step"] for r in tr], [r["loss"] for r in tr])
    axes[1].set(title="transformer v-prediction loss", xlabel="step", yscale="log")
    axes[2].plot([r["step"] for r in ev], [r["colour"] for r in ev], label="colour")
    axes[2].plot([r["step"] for r in ev], [r["motion"] for r in ev], label="motion")
    if any("start" in r for r in ev):
        axes[2].plot([r["step"] for r in ev], [r.get("start") for r in ev], label="starts from the picture")
    axes[2].set(title="held-out captions followed (GPU, bf16)", xlabel="step", ylim=(0, 1.02))
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/nano-train"))
    parser.add_argument("--seed", type=int, default=0)
    # The defaults are the shipped run's (media/nano-training/config.json).
    parser.add_argument("--vae-steps", type=int, default=1200)
    parser.add_argument("--vae-batch", type=int, default=32)
    parser.add_argument("--clips", type=int, default=60000, help="training clips encoded once")
    parser.add_argument("--minutes", type=float, default=16.0, help="transformer training time")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--eval-every", type=float, default=150.0, help="seconds between held-out checks")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True,
                        help="torch.compile the transformer: faster steps after a one-off compile")
    parser.add_argument("--init", type=Path, help="a trained cogvideox-nano folder to go on from")
    parser.add_argument("--task", choices=["text", "image"], default="text",
                        help="image: the image-to-video variant (needs --init, the trained text-to-video nano)")
    parser.add_argument("--device", default="cuda", help="cpu only for a smoke test of this script")
    parser.add_argument("--eval-clips", type=int, default=None, help="held-out captions per check (default: all)")
    args = parser.parse_args()

    device = args.device
    from diffusers import CogVideoXImageToVideoPipeline, CogVideoXPipeline

    image = args.task == "image"
    if image and not args.init:
        parser.error("--task image goes on from the trained text-to-video nano: pass --init helpers/models/cogvideox-nano")

    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "config.json").write_text(json.dumps({k: str(v) for k, v in vars(args).items()}, indent=2))

    parts = untrained_components(seed=args.seed)
    if args.init:  # go on from a trained nano model: its VAE (and latent scale) and its transformer
        trained = CogVideoXPipeline.from_pretrained(args.init, dtype=torch.float32)
        parts["vae"], parts["transformer"] = trained.vae, trained.transformer
        parts["vae"].save_pretrained(args.out / "vae")
        if image:
            parts["transformer"] = image_to_video_transformer(trained.transformer)
    if (args.out / "vae" / "config.json").exists():
        parts["vae"] = type(parts["vae"]).from_pretrained(args.out / "vae")
    else:
        train_vae(parts["vae"], args.out, args.vae_steps, args.vae_batch, device, args.seed)
    vae = parts["vae"].to(device).eval()
    latents, picks, scenes, firsts = encode_clips(vae, args.clips, device, args.seed, first_frames=image)
    scale = vae.config.scaling_factor if args.init else 1.0 / latents.std().item()
    vae.register_to_config(scaling_factor=scale)
    vae.save_pretrained(args.out / "vae")
    latents *= scale
    if image:
        firsts *= scale  # the pipeline multiplies the picture's latents by the same scaling factor
    log(args.out, stage="cache", clips=len(latents), scaling_factor=round(scale, 4), shape=list(latents.shape[1:]))

    pipe = (CogVideoXImageToVideoPipeline if image else CogVideoXPipeline)(**parts).to(device)
    pipe.set_progress_bar_config(disable=True)
    with torch.no_grad():
        text = torch.cat([pipe.encode_prompt(s.caption, do_classifier_free_guidance=False, device=device)[0] for s in scenes])
        empty = pipe.encode_prompt("", do_classifier_free_guidance=False, device=device)[0]
    text = torch.cat([text, empty]).float()
    empty_id = len(scenes)
    rope = pipe._prepare_rotary_positional_embeddings(nano.HEIGHT, nano.WIDTH, latents.shape[1], device)
    sched = pipe.scheduler
    sched.alphas_cumprod = sched.alphas_cumprod.to(device)

    transformer = pipe.transformer.train()
    ema = {k: v.detach().clone() for k, v in transformer.state_dict().items()}
    step = 0
    ckpt = args.out / "ckpt"
    if (ckpt / "state.json").exists():
        from safetensors.torch import load_file

        transformer.load_state_dict(load_file(ckpt / "transformer.safetensors", device=device))
        ema = load_file(ckpt / "ema.safetensors", device=device)
        step = json.loads((ckpt / "state.json").read_text())["step"]
        log(args.out, stage="transformer", resumed_at=step)
    model = torch.compile(transformer) if args.compile else transformer
    opt = torch.optim.AdamW(transformer.parameters(), lr=args.lr, weight_decay=0.01, fused=device.startswith("cuda"))
    params = [p for p in transformer.parameters()]
    ema_params = [ema[k] for k, _ in transformer.named_parameters()]

    def save_ckpt() -> None:
        from safetensors.torch import save_file

        ckpt.mkdir(exist_ok=True)
        save_file({k: v.contiguous() for k, v in transformer.state_dict().items()}, ckpt / "transformer.safetensors")
        save_file({k: v.contiguous() for k, v in ema.items()}, ckpt / "ema.safetensors")
        (ckpt / "state.json").write_text(json.dumps({"step": step}))

    def check() -> dict:
        live = {k: v.detach().clone() for k, v in transformer.state_dict().items()}
        transformer.load_state_dict(ema)
        transformer.eval()
        if image:
            with bf16_autocast(device):
                found = evaluate_image(pipe, [s for s in nano.all_scenes() if s.held_out][: args.eval_clips])
            result = dict(colour=found["colour_accuracy"], motion=found["motion_accuracy"],
                          start=found["start_accuracy"], start_offset_px=found["start_offset_px"])
        else:
            result = judge_held_out(pipe, device, args.eval_clips)
        transformer.load_state_dict(live)
        transformer.train()
        return result

    budget = args.minutes * 60
    start = last_eval = last_ckpt = time.time()
    first_step, running = step, []
    while time.time() - start < budget:
        step += 1
        progress = (time.time() - start) / budget
        lr = args.lr * min(1.0, (step - first_step) / 300) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.randint(len(latents), (args.batch,), device=device)
        x0 = latents[idx]
        caption = torch.where(torch.rand(args.batch, device=device) < 0.1, empty_id, picks[idx])
        t = torch.randint(0, sched.config.num_train_timesteps, (args.batch,), device=device)
        noise = torch.randn_like(x0)
        xt = sched.add_noise(x0, noise, t)
        target = sched.get_velocity(x0, noise, t)
        if image:  # the picture's latents after the noisy ones, zeros for the frames after the first
            picture = torch.cat([firsts[idx].unsqueeze(1), torch.zeros_like(x0[:, 1:])], dim=1)
            xt = torch.cat([xt, picture], dim=2)
        with bf16_autocast(device):
            pred = model(hidden_states=xt, encoder_hidden_states=text[caption], timestep=t,
                         image_rotary_emb=rope, return_dict=False)[0]
        loss = F.mse_loss(pred.float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, params, 1 - min(0.999, (1 + step - first_step) / (10 + step - first_step)))
        running.append(loss.detach())
        if step % 200 == 0:
            log(args.out, stage="transformer", step=step, loss=round(torch.stack(running).mean().item(), 5),
                lr=round(lr, 7), seconds=round(time.time() - start, 1))
            running = []
        if time.time() - last_eval > args.eval_every:
            log(args.out, stage="transformer", step=step, seconds=round(time.time() - start, 1), **check())
            last_eval = time.time()
        if time.time() - last_ckpt > 120:
            save_ckpt()
            last_ckpt = time.time()
    save_ckpt()
    log(args.out, stage="transformer", step=step, seconds=round(time.time() - start, 1), final=True, **check())
    name = "nano-i2v" if image else "nano"
    save_pipeline(pipe, ema, args.out / f"cogvideox-{name}", kind=name)
    plot_losses(args.out)
    log(args.out, stage="done", folder=str(args.out / f"cogvideox-{name}"))


if __name__ == "__main__":
    main()
