"""Train the kit's CogVideoX-nano LoRAs on the CPU and measure what they learned (and what the nano forgot).

    python scripts/train_nano_lora.py            # -> helpers/models/cogvideox-nano-lora/{orange,purple}/, media/nano_lora_eval.json

Each LoRA teaches one colour the nano never saw (helpers.nano.NEW_COLOURS) with peft's LoraConfig on the
transformer's attention (helpers.lora.TARGET_MODULES), trained by helpers.lora.train_lora on clips of every
shape and motion in that colour, plus a few of the nano's own scenes so it keeps them. It is saved with
CogVideoXPipeline.save_lora_weights, diffusers' LoRA format. The evaluation generates captions with the new
colours and the nano's 54 held-out scenes, with no LoRA, each LoRA, and both together, and judges the pixels
(helpers.nano.judge, with the new colours in its palette).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch

from helpers import load_pipeline, nano
from helpers.lora import TARGET_MODULES, new_colour_scenes, nano_lora_path, train_lora, training_data

RESULTS = Path(__file__).resolve().parents[1] / "media" / "nano_lora_eval.json"
#: The shipped LoRAs' training settings (and the notebook's, which trains fewer steps).
SETTINGS = {"rank": 16, "lr": 2e-3, "batch": 8, "steps": 1000, "own_scenes": 32, "seed": 0}


def train(colour: str, steps: int) -> list[float]:
    from diffusers import CogVideoXPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe = load_pipeline("nano")
    own = random.Random(SETTINGS["seed"]).sample([s for s in nano.all_scenes() if not s.held_out], SETTINGS["own_scenes"])
    data = training_data(pipe, new_colour_scenes(colour) + own, seed=SETTINGS["seed"])
    rank = SETTINGS["rank"]
    pipe.transformer.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=TARGET_MODULES))
    losses = train_lora(pipe, data, steps, lr=SETTINGS["lr"], batch=SETTINGS["batch"], seed=SETTINGS["seed"])
    folder = nano_lora_path(colour).parent
    CogVideoXPipeline.save_lora_weights(folder, transformer_lora_layers=get_peft_model_state_dict(pipe.transformer))
    return losses


def accuracy(pipe, scenes: list[nano.Scene]) -> dict:
    palette = {**nano.COLOURS, **nano.NEW_COLOURS}
    start, clips = time.time(), []
    for i in range(0, len(scenes), 16):
        clips += list(pipe([s.caption for s in scenes[i : i + 16]], num_frames=nano.FRAMES, height=nano.HEIGHT,
                           width=nano.WIDTH, num_inference_steps=nano.DEFAULT_STEPS, guidance_scale=nano.DEFAULT_GUIDANCE,
                           generator=torch.Generator().manual_seed(0), output_type="np").frames)
    verdicts = [nano.judge(clip, palette) for clip in clips]
    return {"captions": len(scenes),
            "colour": round(sum(v.colour == s.colour for s, v in zip(scenes, verdicts)) / len(scenes), 3),
            "motion": round(sum(v.motion == s.motion for s, v in zip(scenes, verdicts)) / len(scenes), 3),
            "seconds_per_clip": round((time.time() - start) / len(scenes), 2)}


def evaluate() -> list[dict]:
    pipe = load_pipeline("nano")
    pipe.set_progress_bar_config(disable=True)
    for colour in nano.NEW_COLOURS:
        pipe.load_lora_weights(nano_lora_path(colour).parent, adapter_name=colour)
    tests = {f"{c} captions": new_colour_scenes(c, ["grey"]) for c in nano.NEW_COLOURS}
    tests["the nano's held-out captions"] = [s for s in nano.all_scenes() if s.held_out]
    rows = []
    for adapters in ([], *[[c] for c in nano.NEW_COLOURS], list(nano.NEW_COLOURS)):
        if adapters:
            pipe.set_adapters(adapters, [1.0] * len(adapters))
        else:
            pipe.disable_lora()
        for test, scenes in tests.items():
            rows.append({"lora": " + ".join(adapters) or "none", "test": test, **accuracy(pipe, scenes)})
            print(rows[-1], flush=True)
        pipe.enable_lora()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=SETTINGS["steps"])
    parser.add_argument("--skip-training", action="store_true", help="evaluate the shipped LoRAs only")
    args = parser.parse_args()
    torch.set_num_threads(2)
    result = json.loads(RESULTS.read_text()) if args.skip_training else {}
    if not args.skip_training:
        result = {"settings": {**SETTINGS, "steps": args.steps, "target_modules": TARGET_MODULES}, "training": {}}
        for colour in nano.NEW_COLOURS:
            start = time.time()
            losses = train(colour, args.steps)
            result["training"][colour] = {"seconds": round(time.time() - start, 1), "losses": [round(x, 5) for x in losses]}
            print(colour, result["training"][colour]["seconds"], "s", flush=True)
    result["evaluation"] = evaluate()
    result["machine"] = "CPU, 2 threads, 2 cores"
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
