"""Deploying GLiClass models outside Keras.

`gliclass_keras.export.onnx_classifier.OnnxClassifier` (also
`gliclass_keras.OnnxClassifier`) classifies with an exported directory and
onnxruntime alone. This package imports no deep-learning framework.
"""
