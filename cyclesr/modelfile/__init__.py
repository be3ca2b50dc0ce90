"""Model files: the published model (safetensors + description) and exports to other formats."""
