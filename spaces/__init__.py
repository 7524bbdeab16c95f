"""Build each application (or the whole gallery) into a self-contained Hugging Face Space folder."""
