"""The Llama-style decoder, its attention function and LoRA adapters."""
