"""Builds models/qwen-tiny: the tiny random Qwen2.5-VL export, its tokenizer, and the fixtures the
TypeScript tests compare against (all from transformers' reference code):

  fixtures/preprocess.json  smart_resize grids, sha256 of the resized uint8 image and of the
                            processor's pixel_values (float32 LE), for images of several sizes
  fixtures/text.json        tokenizer ids, chat-template text and processor input_ids
  fixtures/indices.json     window_index, cu_seqlens, cu_window_seqlens, vision position ids, and
                            get_rope_index position ids (with padding) for several grids
  fixtures/parity.json      layer-k hidden states of the transformers forward for 1 and 2 images
  fixtures/bridge.json      test-tiny's intent bridge (PyTorch) on those hidden states (bridge.py)
  fp16/                     the same weights exported in fp16 with external data files

  python -m qwen_export.fixtures [--out models/qwen-tiny]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
from pathlib import Path

import numpy as np
import PIL
import torch
from PIL import Image
from transformers.image_transforms import resize
from transformers.image_utils import PILImageResampling
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

from .bridge import write_bridge_fixture
from .export import TINY_PIXELS, build_tiny, export_backbone
from .pipeline import OnnxBackbone, max_rel_error, synthetic_image
from .reference import graph_inputs, make_processor, messages, reference_hidden, reference_position_ids

LAYER_K = 2
PREPROCESS_SIZES = [(128, 128), (96, 160), (480, 640), (30, 50), (42, 70), (70, 42), (200, 13)]
TEXTS = [
    "pick up the red cube",
    "push the blue cube away from you to the goal",
    "Stack the RED cube on top of the green cube!",
    "  two  spaces and\nnewlines\n\n",
    "numbers 12345 and ünïcödé, émoji 🤖",
    "lift the peg<|image_pad|>and stand it upright",
]
PARITY = [
    {"images": [(128, 128)], "instruction": "pick up the red cube"},
    {"images": [(128, 128), (128, 128)], "instruction": "pick up the peg and place it upright on the table"},
    {"images": [(128, 128), (96, 160)], "instruction": "push the blue cube"},
    {"images": [(96, 160), (128, 128)], "instruction": "grasp the red cube and bring it to the green ball, then put it down gently"},
]
GRIDS = [[[1, 10, 10]], [[1, 10, 10], [1, 10, 10]], [[1, 16, 22]], [[1, 34, 46], [1, 8, 4]], [[2, 8, 8]], [[1, 2, 2]]]


def b64(a: np.ndarray, dtype) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=dtype).tobytes()).decode()


def sha(a: np.ndarray, dtype) -> str:
    return hashlib.sha256(np.ascontiguousarray(a, dtype=dtype).tobytes()).hexdigest()


def preprocess_fixture(proc) -> dict:
    ip = proc.image_processor
    cases = []
    for i, (h, w) in enumerate(PREPROCESS_SIZES):
        img = synthetic_image(h, w, i)
        rh, rw = smart_resize(h, w, factor=28, min_pixels=ip.min_pixels, max_pixels=ip.max_pixels)
        resized = resize(img, (rh, rw), resample=PILImageResampling.BICUBIC, input_data_format="channels_last")
        out = ip(images=[img], return_tensors="np")
        pv = out["pixel_values"]
        cases.append(
            {
                "height": h,
                "width": w,
                "seed": i,
                "resized": [rh, rw],
                "grid_thw": out["image_grid_thw"][0].tolist(),
                "resized_sha256": sha(resized, np.uint8),
                "pixel_values_shape": list(pv.shape),
                "pixel_values_sha256": sha(pv, np.float32),
                "pixel_values_head": pv.reshape(-1)[:8].tolist(),
            }
        )
    # smart_resize alone, over edge cases of its rounding and budget branches
    budget = []
    for h, w in [(28, 28), (42, 70), (70, 42), (14, 14), (1000, 1000), (3000, 100), (56, 9000), (1, 150), (777, 333)]:
        try:
            budget.append({"height": h, "width": w, "resized": list(smart_resize(h, w, 28, ip.min_pixels, ip.max_pixels))})
        except ValueError as e:
            budget.append({"height": h, "width": w, "error": str(e)})
    # Pillow's bicubic alone, over random sizes in every up/down combination (Pillow 13 picks the
    # pass order from the sizes, so these cover both orders)
    rng = np.random.default_rng(7)
    resizes = []
    for i in range(80):
        h, w, h2, w2 = (int(v) for v in rng.integers(3, 121, size=4))
        img = synthetic_image(h, w, 200 + i)
        out = np.asarray(Image.fromarray(img).resize((w2, h2), Image.Resampling.BICUBIC))
        resizes.append({"height": h, "width": w, "seed": 200 + i, "to": [h2, w2], "sha256": sha(out, np.uint8)})
    return {
        "pillow": PIL.__version__,
        "min_pixels": ip.min_pixels,
        "max_pixels": ip.max_pixels,
        "cases": cases,
        "smart_resize": budget,
        "resize": resizes,
    }


def text_fixture(proc) -> dict:
    tok = proc.tokenizer
    chats = []
    for n, instr in [(1, "pick up the red cube"), (2, "place the blue ball into the bin"), (0, "hello")]:
        text = proc.apply_chat_template(messages(n, instr), add_generation_prompt=True, tokenize=False)
        grids = [[1, 10, 10], [1, 6, 8]][:n]
        # the processor expands each <|image_pad|> to t*h*w/4 copies; feed it matching images
        sizes = [(140, 140), (84, 112)][:n]
        imgs = [synthetic_image(h, w, 0) for h, w in sizes] or None
        ids = proc(text=[text], images=imgs, return_tensors="np")["input_ids"][0]
        chats.append({"images": n, "instruction": instr, "grids": grids, "text": text, "input_ids": ids.tolist()})
    no_prompt = proc.apply_chat_template(messages(1, "pick up the red cube"), add_generation_prompt=False, tokenize=False)
    return {
        "tokenize": [{"text": t, "ids": tok(t, add_special_tokens=True)["input_ids"]} for t in TEXTS],
        "chat": chats,
        "no_generation_prompt": {"images": 1, "instruction": "pick up the red cube", "text": no_prompt},
    }


def indices_fixture(model) -> dict:
    cases = []
    for grid in GRIDS:
        g = torch.tensor(grid, dtype=torch.int64)
        gi = graph_inputs(model, g)
        cases.append({"grid_thw": grid, **{k: v.reshape(-1).tolist() for k, v in gi.items()}})
    cfg = model.config
    # rope index: text + images, batch of 2 with right and left padding
    img, vs, ve = cfg.image_token_id, cfg.vision_start_token_id, cfg.vision_end_token_id
    a = [101, 105, 106, vs] + [img] * 25 + [ve, vs] + [img] * 12 + [ve, 107, 108, 109]
    b = [101, 105, vs] + [img] * 12 + [ve, 107, 108]
    t = max(len(a), len(b)) + 2
    rows, masks = [], []
    for seq, left in [(a, False), (b, True)]:
        pad = t - len(seq)
        rows.append(([0] * pad + seq) if left else (seq + [0] * pad))
        masks.append(([0] * pad + [1] * len(seq)) if left else ([1] * len(seq) + [0] * pad))
    ids = torch.tensor(rows)
    mask = torch.tensor(masks)
    grid = torch.tensor([[1, 10, 10], [1, 6, 8], [1, 8, 6]])
    pos = reference_position_ids(model, {"input_ids": ids, "image_grid_thw": grid, "attention_mask": mask})
    text_only = reference_position_ids(model, {"input_ids": torch.tensor([[101, 102, 103, 104]]), "attention_mask": torch.ones(1, 4, dtype=torch.int64)})
    return {
        "windows": cases,
        "rope": [
            {"input_ids": rows, "attention_mask": masks, "grid_thw": grid.tolist(), "position_ids": pos.tolist()},
            {"input_ids": [[101, 102, 103, 104]], "attention_mask": [[1, 1, 1, 1]], "grid_thw": [], "position_ids": text_only.tolist()},
        ],
        "tokens": {"image_pad": img, "vision_start": vs, "vision_end": ve},
    }


def parity_fixture(model, proc, folder: Path) -> dict:
    onnx_bb = OnnxBackbone(folder)
    cases = []
    for i, case in enumerate(PARITY):
        imgs = [synthetic_image(h, w, 100 + i * 10 + j) for j, (h, w) in enumerate(case["images"])]
        text = proc.apply_chat_template(messages(len(imgs), case["instruction"]), add_generation_prompt=True, tokenize=False)
        inputs = dict(proc(text=[text], images=imgs, return_tensors="pt"))
        ref = reference_hidden(model, inputs, LAYER_K)[0]
        got = onnx_bb.run(model, inputs)[0]
        abs_err, rel_err = max_rel_error(got, ref)
        cases.append(
            {
                "images": [{"height": h, "width": w, "seed": 100 + i * 10 + j} for j, (h, w) in enumerate(case["images"])],
                "instruction": case["instruction"],
                "input_ids": inputs["input_ids"][0].tolist(),
                "grid_thw": inputs["image_grid_thw"].tolist(),
                "length": int(ref.shape[0]),
                "dim": int(ref.shape[1]),
                "hidden_states_f32_b64": b64(ref, np.float32),
                "python_onnx_max_abs_error": abs_err,
                "python_onnx_max_rel_error": rel_err,
            }
        )
    return {"layer_k": LAYER_K, "reference": "transformers Qwen2_5_VLModel forward, eager attention, fp32, hook on block k-1", "cases": cases}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m qwen_export.fixtures")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "qwen-tiny")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    out: Path = a.out
    model = build_tiny(out, layers=3, seed=0)
    export_backbone(model, out, LAYER_K, "float32", TINY_PIXELS, external="never")
    # the same weights in fp16 with external data (the CUDA path's format), for the runtime's tests
    half = out / "fp16"
    half.mkdir(exist_ok=True)
    export_backbone(build_tiny(half, layers=3, seed=0), half, LAYER_K, "float16", TINY_PIXELS, external="always")
    proc = make_processor(out, **TINY_PIXELS)
    fx = out / "fixtures"
    fx.mkdir(exist_ok=True)
    for name, data in [
        ("preprocess", preprocess_fixture(proc)),
        ("text", text_fixture(proc)),
        ("indices", indices_fixture(model)),
        ("parity", parity_fixture(model, proc, out)),
    ]:
        (fx / f"{name}.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    write_bridge_fixture(out, Path(__file__).resolve().parents[2] / "test-tiny")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
