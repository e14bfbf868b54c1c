"""Qwen2.5-VL backbone export (issue 7): vision tower + merger, token embeddings, and the language
model truncated after block k, as ONNX graphs whose data-dependent inputs (window index,
cu_seqlens, vision position ids, 3-D M-RoPE position ids) are computed by the TypeScript runtime
(models/runtime/qwen/). Pinned: transformers==4.57.6, torch==2.13.0 (CPU)."""
