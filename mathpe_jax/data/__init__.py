"""Tasks as plug-ins (``tasks/``), tokenizers, prompts (``encode_prompt``), datasets and batching."""
