"""slm-engine: an OpenAI-compatible server on onnxruntime-genai and the model builder feeding it."""

__version__ = "0.1.0"
