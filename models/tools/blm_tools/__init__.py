"""Python tools for the BLM model heads: build (PyTorch), train briefly, export (ONNX), write manifests.

ROS-free. The TypeScript runtime in models/runtime/ consumes what these tools write.
"""
