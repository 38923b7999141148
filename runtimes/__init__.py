"""Backends that run one ONNX graph each: a small common interface, one class per runtime."""
