class VLLMValidationError(ValueError):
    """vLLM 0.34 raises this for invalid request parameters; 0.11 raised plain ValueErrors."""
