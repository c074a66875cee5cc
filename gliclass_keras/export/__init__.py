"""Deployment outside Keras: ONNX export (`onnx_export`) and a framework-free classifier."""
